# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The kubectl binary, unmodified: get (server-side tables), create, patch (strategic, merge,
json), exec (WebSocket, stdin, exit codes), wait (watch), typed creates (protobuf bodies)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import shutil
import uuid

import pytest

from harness.testing import KUBECTL, WEBSOCKET_KUBECTL_MINOR, kubectl_minor

pytestmark = pytest.mark.skipif(shutil.which(KUBECTL) is None, reason="kubectl not installed")
MINOR = kubectl_minor() if shutil.which(KUBECTL) else 0
websocket_kubectl = pytest.mark.skipif(
    MINOR < WEBSOCKET_KUBECTL_MINOR,
    reason="kubectl older than 1.%d execs over SPDY, which simcluster does not speak"
    % WEBSOCKET_KUBECTL_MINOR)


@pytest.fixture(scope="module")
def ns(cluster):
    name = "kubectl-" + uuid.uuid4().hex[:6]
    cluster.kubectl("create", "namespace", name, check=True)
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false")


def _ok(proc):
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_get_prints_server_side_tables(cluster):
    nodes = _ok(cluster.kubectl("get", "nodes"))
    assert nodes.splitlines()[0].split()[:5] == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    assert len(nodes.splitlines()) >= 2
    pools = _ok(cluster.kubectl("get", "machineconfigpools", "worker"))
    header = pools.splitlines()[0].split()
    assert header[:5] == ["NAME", "CONFIG", "UPDATED", "UPDATING", "DEGRADED"]
    assert "MACHINECOUNT" in header


def test_get_json_and_selectors(cluster):
    pods = json.loads(_ok(cluster.kubectl("get", "pods", "-A", "-o", "json")))
    assert pods["kind"] == "List" and pods["items"]
    pod = pods["items"][0]
    assert pod["kind"] == "Pod"
    node = pod["spec"]["nodeName"]
    names = _ok(cluster.kubectl("get", "pods", "-A", "-o", "name",
                                "--field-selector", "spec.nodeName=" + node)).split()
    assert "pod/" + pod["metadata"]["name"] in names
    bad = cluster.kubectl("get", "pods", "-A", "--field-selector", "spec.image=x")
    assert bad.returncode != 0 and "field label not supported" in bad.stderr


def test_create_and_patch_every_way(cluster, ns):
    manifest = {"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "patched", "namespace": ns}, "data": {"a": "1"}}
    _ok(cluster.kubectl("create", "-f", "-", input=json.dumps(manifest)))
    _ok(cluster.kubectl("-n", ns, "patch", "configmap", "patched", "--type", "merge",
                        "-p", '{"data":{"b":"2"}}'))
    _ok(cluster.kubectl("-n", ns, "patch", "configmap", "patched", "--type", "json",
                        "-p", '[{"op":"remove","path":"/data/a"}]'))
    _ok(cluster.kubectl("-n", ns, "patch", "configmap", "patched",
                        "-p", '{"metadata":{"labels":{"via":"strategic"}}}'))
    got = json.loads(_ok(cluster.kubectl("-n", ns, "get", "configmap", "patched", "-o",
                                         "json")))
    assert got["data"] == {"b": "2"}
    assert got["metadata"]["labels"] == {"via": "strategic"}
    if MINOR < WEBSOCKET_KUBECTL_MINOR:
        return  # older kubectl looks for dryRun in OpenAPI v2 paths, which are not served
    dry = _ok(cluster.kubectl("-n", ns, "patch", "configmap", "patched", "--type", "merge",
                              "-p", '{"data":{"c":"3"}}', "--dry-run=server", "-o", "json"))
    assert json.loads(dry)["data"] == {"b": "2", "c": "3"}
    assert "c" not in json.loads(_ok(cluster.kubectl("-n", ns, "get", "cm", "patched",
                                                     "-o", "json")))["data"]


@pytest.mark.simulated_only
def test_strategic_patch_on_a_custom_resource_is_refused(cluster):
    proc = cluster.kubectl("patch", "featuregate", "cluster", "-p", '{"metadata":{}}')
    assert proc.returncode != 0
    assert "accepted media types include: application/json-patch+json, " \
           "application/merge-patch+json" in proc.stderr


def test_typed_creates_and_auth_can_i(cluster, ns):
    _ok(cluster.kubectl("-n", ns, "create", "serviceaccount", "robot"))
    if MINOR >= 24:  # `kubectl create token` arrived in 1.24
        token = _ok(cluster.kubectl("-n", ns, "create", "token", "robot")).strip()
        assert token.count(".") == 2
    _ok(cluster.kubectl("-n", ns, "create", "secret", "generic", "s", "--from-literal=k=v"))
    _ok(cluster.kubectl("-n", ns, "create", "configmap", "c", "--from-literal=k=v"))
    can = cluster.kubectl("auth", "can-i", "get", "pods", "-n", ns, identity="nobody")
    assert (can.stdout.strip(), can.returncode) == ("no", 1)


@pytest.mark.simulated_only
@websocket_kubectl
def test_exec_streams_and_exit_codes(cluster):
    pod = json.loads(_ok(cluster.kubectl("-n", "demo", "get", "pods", "-l", "app=counters",
                                         "-o", "json")))["items"][0]["metadata"]["name"]
    proc = cluster.kubectl("-n", "demo", "exec", pod, "-c", "counter", "--", "sh", "-c",
                           "echo out; echo err >&2; hostname; exit 7")
    assert proc.returncode == 7
    assert proc.stdout.splitlines() == ["out", pod]
    assert "err" in proc.stderr
    piped = cluster.kubectl("-n", "demo", "exec", "-i", pod, "--", "wc", "-c",
                            input="twelve bytes")
    assert _ok(piped).strip() == "12"
    missing = cluster.kubectl("-n", "demo", "exec", pod, "--", "no-such-program")
    assert missing.returncode == 127
    assert "executable file not found" in missing.stderr


@pytest.mark.simulated_only
def test_wait_uses_watch(cluster):
    proc = cluster.kubectl("wait", "--for=condition=Updated", "machineconfigpool/worker",
                           "--timeout=20s")
    assert _ok(proc).strip() == "machineconfigpool.machineconfiguration.openshift.io/worker " \
                                "condition met"
