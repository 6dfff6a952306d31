# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Cluster credentials as kubernetes.core takes them (the ``k8s_auth`` dict, else the K8S_AUTH_*
variables), turned into what the kubernetes.core.kubectl connection takes, and the API server's
URL for the chain-of-custody record."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

# k8s_auth option -> environment variable, as kubernetes.core's k8s_auth_options document them
ENV = {"kubeconfig": "K8S_AUTH_KUBECONFIG", "context": "K8S_AUTH_CONTEXT", "host": "K8S_AUTH_HOST",
       "api_key": "K8S_AUTH_API_KEY", "ca_cert": "K8S_AUTH_SSL_CA_CERT", "client_cert": "K8S_AUTH_CERT_FILE",
       "client_key": "K8S_AUTH_KEY_FILE", "validate_certs": "K8S_AUTH_VERIFY_SSL"}
FALSE = ("0", "false", "no", "off", "n", "f")


def settle(auth, environ):
    """Each credential from ``auth``, else from its K8S_AUTH_* variable; ``None`` when neither."""
    auth = auth or {}
    return dict((key, auth.get(key) if auth.get(key) not in (None, "") else environ.get(var) or None)
                for key, var in ENV.items())


def _verify(value):
    if value is None:
        return True
    return str(value).strip().lower() not in FALSE if not isinstance(value, bool) else value


def kubectl(auth, environ=None, load=None):
    """``kubeconfig`` for the connection (a dict made from host and token or client certificate,
    which the connection writes to a private temporary file, keeping the token off kubectl's
    command line; or the kubeconfig path or dict; or ``""``: kubectl's own KUBECONFIG), its
    ``context``, and the ``api_server`` URL. ``load`` reads a kubeconfig file into a dict ({} when
    it cannot; the caller brings the YAML parser: module_utils may not assume one)."""
    environ = os.environ if environ is None else environ
    c = settle(auth, environ)
    if c["host"] and (c["api_key"] or (c["client_cert"] and c["client_key"])):
        cluster = {"server": c["host"]}
        if not _verify(c["validate_certs"]):
            cluster["insecure-skip-tls-verify"] = True
        elif c["ca_cert"]:
            cluster["certificate-authority"] = os.path.realpath(c["ca_cert"])
        user = {"token": c["api_key"]} if c["api_key"] else {
            "client-certificate": os.path.realpath(c["client_cert"]), "client-key": os.path.realpath(c["client_key"])}
        config = {"apiVersion": "v1", "kind": "Config", "current-context": "forensic",
                  "clusters": [{"name": "forensic", "cluster": cluster}],
                  "users": [{"name": "forensic", "user": user}],
                  "contexts": [{"name": "forensic", "context": {"cluster": "forensic", "user": "forensic"}}]}
        return {"kubeconfig": config, "context": "", "api_server": c["host"]}
    kubeconfig = c["kubeconfig"]
    if isinstance(kubeconfig, str):
        kubeconfig = os.path.realpath(kubeconfig)
    return {"kubeconfig": kubeconfig or "", "context": (c["context"] or "") if isinstance(kubeconfig, str) else "",
            "api_server": c["host"] or server(kubeconfig, c["context"], environ, load)}


def server(kubeconfig, context, environ, load=None):
    """The server of ``context`` (else the current context) in the kubeconfig kubectl would use;
    ``unknown`` when it cannot be read."""
    if not isinstance(kubeconfig, dict):
        path = kubeconfig or (environ.get("KUBECONFIG") or "").split(os.pathsep)[0] or \
            os.path.join(environ.get("HOME") or "~", ".kube", "config")
        kubeconfig = load(os.path.expanduser(path)) if load else {}
    contexts, clusters = _named(kubeconfig.get("contexts"), "context"), _named(kubeconfig.get("clusters"), "cluster")
    cluster = contexts.get(context or kubeconfig.get("current-context"), {}).get("cluster")
    return clusters.get(cluster, {}).get("server") or "unknown"


def _named(entries, field):
    """A kubeconfig's named list as a dict, ignoring malformed entries (the file is user input)."""
    entries = entries if isinstance(entries, list) else []
    return dict((e.get("name"), e[field]) for e in entries if isinstance(e, dict) and isinstance(e.get(field), dict))
