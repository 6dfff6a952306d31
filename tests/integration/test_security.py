# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Credentials and transport (issue 10): tokens and kubeconfig contents never reach Ansible's
output, even at -vvvv, and certificates are verified by default."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import json

import pytest

PLAY = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: List what would be checkpointed (check mode), with credentials given inline
      forensic.checkpoint.container_checkpoint:
        namespace: demo
        label_selectors: [app=counters]
{auth}
      check_mode: true
      register: planned
    - name: Show the result, as a careless playbook would
      ansible.builtin.debug:
        var: planned
"""


def _indent(mapping):
    return "\n".join("        %s: %s" % (key, json.dumps(value)) for key, value in mapping.items())


def _run(ansible, auth, env=None):
    return ansible.playbook(PLAY.format(auth=_indent(auth)), args=("-vvvv",),
                            env=dict({"ANSIBLE_STDOUT_CALLBACK": "default"}, **(env or {})))


def test_api_key_is_never_logged(cluster, ansible):
    token = cluster.token("checkpointer")
    auth = {"host": cluster.host, "api_key": token}
    auth.update({"ca_cert": cluster.ca_cert} if cluster.ca_cert else {"validate_certs": False})
    result = _run(ansible, auth)
    output = result.stdout + result.stderr
    assert result.rc == 0, output[-3000:]
    assert "counters" in output  # the task really ran and printed its result
    assert token not in output


def test_inline_kubeconfig_contents_are_never_logged(cluster, ansible):
    token = cluster.token("checkpointer")
    with open(cluster.ca_cert or "/dev/null", "rb") as handle:
        ca_data = base64.b64encode(handle.read()).decode() if cluster.ca_cert else None
    kubeconfig = {
        "apiVersion": "v1", "kind": "Config", "current-context": "forensic",
        "clusters": [{"name": "forensic-cluster", "cluster": dict({"server": cluster.host}, **(
            {"certificate-authority-data": ca_data} if ca_data else {"insecure-skip-tls-verify": True}))}],
        "users": [{"name": "forensic-user", "user": {"token": token}}],
        "contexts": [{"name": "forensic", "context": {"cluster": "forensic-cluster", "user": "forensic-user"}}],
    }
    # No K8S_AUTH_* from the environment: the inline kubeconfig is the only credential.
    result = _run(ansible, {"kubeconfig": kubeconfig, "context": "forensic"},
                  env={"K8S_AUTH_KUBECONFIG": "", "K8S_AUTH_API_KEY": "", "K8S_AUTH_CONTEXT": ""})
    output = result.stdout + result.stderr
    assert result.rc == 0, output[-3000:]
    assert token not in output
    if ca_data:
        assert ca_data[:64] not in output


@pytest.mark.simulated_only
def test_certificates_are_verified_by_default(cluster, ansible):
    """The simulated cluster's CA is private: without ca_cert the call must fail, with it pass."""
    token = cluster.token("checkpointer")
    base = {"host": cluster.host, "api_key": token}
    env = {"K8S_AUTH_SSL_CA_CERT": "", "K8S_AUTH_VERIFY_SSL": "", "K8S_AUTH_KUBECONFIG": ""}
    refused = _run(ansible, base, env=env)
    assert refused.rc != 0
    assert "CERTIFICATE_VERIFY_FAILED" in refused.stdout + refused.stderr
    assert token not in refused.stdout + refused.stderr
    accepted = _run(ansible, dict(base, ca_cert=cluster.ca_cert), env=env)
    assert accepted.rc == 0, (accepted.stdout + accepted.stderr)[-3000:]
