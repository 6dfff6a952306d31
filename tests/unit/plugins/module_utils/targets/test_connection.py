# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the kubectl connection gets from kubernetes.core-style credentials (targets/connection.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

from ansible_collections.forensic.checkpoint.plugins.filter.targets import load_kubeconfig
from ansible_collections.forensic.checkpoint.plugins.module_utils.targets import connection


def kubectl(auth, environ):
    return connection.kubectl(auth, environ, load_kubeconfig)


def test_host_and_token_become_a_kubeconfig_dict_never_a_command_line():
    got = kubectl({"host": "https://api.example:6443", "api_key": "sha256~secret", "validate_certs": False}, {})
    cfg = got["kubeconfig"]
    assert cfg["users"][0]["user"] == {"token": "sha256~secret"}
    assert cfg["clusters"][0]["cluster"] == {"server": "https://api.example:6443", "insecure-skip-tls-verify": True}
    assert got["context"] == "" and got["api_server"] == "https://api.example:6443"


def test_environment_fills_what_the_dict_lacks(tmp_path):
    ca = tmp_path / "ca.crt"
    ca.write_text("x")
    env = {"K8S_AUTH_HOST": "https://h:6443", "K8S_AUTH_API_KEY": "t", "K8S_AUTH_SSL_CA_CERT": str(ca),
           "K8S_AUTH_VERIFY_SSL": "yes"}
    got = kubectl({}, env)
    assert got["kubeconfig"]["clusters"][0]["cluster"]["certificate-authority"] == os.path.realpath(str(ca))


def test_client_certificates(tmp_path):
    got = kubectl({"host": "https://h", "client_cert": "c.crt", "client_key": "c.key"}, {})
    assert set(got["kubeconfig"]["users"][0]["user"]) == {"client-certificate", "client-key"}


def test_kubeconfig_path_and_context_and_its_server(tmp_path):
    path = tmp_path / "kc"
    path.write_text(json.dumps({"current-context": "a", "contexts": [
        {"name": "a", "context": {"cluster": "ca"}}, {"name": "b", "context": {"cluster": "cb"}}],
        "clusters": [{"name": "ca", "cluster": {"server": "https://a"}}, {"name": "cb", "cluster": {"server": "https://b"}}]}))
    assert kubectl({"kubeconfig": str(path)}, {})["api_server"] == "https://a"
    got = kubectl({"kubeconfig": str(path), "context": "b"}, {})
    assert got == {"kubeconfig": str(path), "context": "b", "api_server": "https://b"}


def test_nothing_given_uses_kubectls_own_kubeconfig(tmp_path):
    path = tmp_path / "config"
    path.write_text("current-context: x\ncontexts: [{name: x, context: {cluster: c}}]\nclusters: [{name: c, cluster: {server: 'https://k'}}]\n")
    got = kubectl({}, {"KUBECONFIG": "%s%s/nonexistent" % (path, os.pathsep)})
    assert got == {"kubeconfig": "", "context": "", "api_server": "https://k"}


def test_unreadable_kubeconfig_gives_unknown_not_a_traceback(tmp_path):
    bad = tmp_path / "bad"
    bad.write_text(": : [")
    assert kubectl({"kubeconfig": str(bad)}, {})["api_server"] == "unknown"
    assert kubectl({}, {"KUBECONFIG": str(tmp_path / "absent")})["api_server"] == "unknown"
    assert kubectl({"kubeconfig": {"contexts": "junk"}}, {})["api_server"] == "unknown"


def test_without_a_loader_a_kubeconfig_file_is_not_read(tmp_path):
    path = tmp_path / "kc"
    path.write_text("current-context: x\ncontexts: [{name: x, context: {cluster: c}}]\nclusters: [{name: c, cluster: {server: 'https://k'}}]\n")
    assert connection.kubectl({"kubeconfig": str(path)}, {})["api_server"] == "unknown"
