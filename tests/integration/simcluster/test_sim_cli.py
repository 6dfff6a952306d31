# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""``python -m simcluster start/stop/status``: the files it writes, its start time, and a
clean stop. Each test runs its own simulator in a temporary state directory."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import signal
import socket
import ssl
import stat
import subprocess
import sys
import urllib.request

import pytest
import yaml

from harness.testing import SimulatedCluster, wait_for

pytestmark = pytest.mark.simulated_only
START_BUDGET = 5.0


def _cli(*args, timeout=60):
    # no PYTHONPATH: the simulator is an installed package
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run([sys.executable, "-m", "simcluster"] + list(args),
                          capture_output=True, text=True, env=env, timeout=timeout, check=False)


def _get(url, ca, token=None):
    request = urllib.request.Request(url, headers={"Authorization": "Bearer " + token}
                                     if token else {})
    with urllib.request.urlopen(request, context=ssl.create_default_context(cafile=ca),
                                timeout=10) as answer:
        return answer.status, answer.read()


def test_daemon_starts_fast_writes_its_files_and_stops_cleanly(tmp_path):
    state = str(tmp_path / "state")
    cluster = SimulatedCluster.start(state)
    try:
        reported = float(cluster.start_output.split("ready in ")[1].split("s")[0])
        print("simcluster start: %.2fs measured around the CLI (--daemon, until serving), "
              "%.2fs reported by it" % (cluster.start_seconds, reported))
        assert reported <= cluster.start_seconds < START_BUDGET
        ready = cluster.ready
        assert ready["started_in_seconds"] <= reported
        assert ready["url"].startswith("https://127.0.0.1:")

        with open(ready["kubeconfig"]) as handle:
            kubeconfig = yaml.safe_load(handle)
        assert kubeconfig["current-context"] == "admin"
        assert kubeconfig["clusters"][0]["cluster"] == {
            "server": ready["url"], "certificate-authority": os.path.join(state, "ca.pem")}
        with open(ready["tokens"]) as handle:
            tokens = json.load(handle)
        assert {"admin", "viewer", "enabler", "checkpointer", "analyst", "nobody"} <= set(tokens)
        assert {c["name"] for c in kubeconfig["contexts"]} == set(tokens)
        assert stat.S_IMODE(os.stat(ready["tokens"]).st_mode) == 0o600
        assert stat.S_IMODE(os.stat(ready["kubeconfig"]).st_mode) == 0o600

        # TLS verified against the written CA; the CA is not trusted by default
        status, body = _get(ready["url"] + "/readyz", ready["ca_cert"])
        assert (status, body) == (200, b"ok")
        with pytest.raises(urllib.error.URLError):
            urllib.request.urlopen(ready["url"] + "/readyz", timeout=5)

        with open(os.path.join(state, "simcluster.pid")) as handle:
            pid = int(handle.read())
        assert pid == ready["pid"]
        status = _cli("status", "--state-dir", state)
        assert status.returncode == 0 and json.loads(status.stdout)["pid"] == pid

        again = _cli("start", "--state-dir", state, "--daemon")
        assert again.returncode == 1 and "already running" in again.stderr
    finally:
        stop = _cli("stop", "--state-dir", state)
    assert stop.returncode == 0, stop.stderr
    assert "stopped" in stop.stdout
    wait_for(lambda: not os.path.exists("/proc/%d" % pid), 5, what="the server to exit")
    for name in ("simcluster.pid", "ready.json"):
        assert not os.path.exists(os.path.join(state, name))
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", ready["port"]), timeout=2)
    assert _cli("status", "--state-dir", state).returncode == 3
    assert _cli("stop", "--state-dir", state).returncode == 0  # idempotent


def test_foreground_serves_until_sigterm(tmp_path):
    state = str(tmp_path / "fg")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.Popen([sys.executable, "-m", "simcluster", "start", "--state-dir", state,
                             "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    try:
        line = proc.stdout.readline()
        assert line.startswith("simcluster ready in "), line
        with open(os.path.join(state, "ready.json")) as handle:
            ready = json.load(handle)
        with open(ready["tokens"]) as handle:
            token = json.load(handle)["admin"]["token"]
        status, body = _get(ready["url"] + "/api/v1/nodes", ready["ca_cert"], token)
        assert status == 200
        assert len(json.loads(body)["items"]) == 4
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=15)
    assert code == 0
    assert not os.path.exists(os.path.join(state, "ready.json"))


def test_refuses_to_listen_beyond_loopback(tmp_path):
    result = _cli("start", "--state-dir", str(tmp_path / "x"), "--host", "0.0.0.0")
    assert result.returncode == 2
    assert "loopback only" in result.stderr


def test_rejects_a_malformed_version(tmp_path):
    result = _cli("start", "--state-dir", str(tmp_path / "x"), "--openshift-version", "13")
    assert result.returncode == 2
    assert "--openshift-version" in result.stderr


def test_the_real_cluster_handle_against_a_kubeconfig(tmp_path):
    """What conftest does with FORENSIC_KUBECONFIG, pointed at a simulator's kubeconfig."""
    from harness.testing import RealCluster

    sim = SimulatedCluster.start(str(tmp_path / "target"))
    try:
        real = RealCluster(sim.kubeconfig, workdir=str(tmp_path / "work"))
        assert real.real and real.sim is None
        assert (real.host, real.ca_cert) == (sim.host, sim.ca_cert)
        assert real.token("admin") == sim.token("admin")  # the kubeconfig's own token
        assert real.env()["K8S_AUTH_KUBECONFIG"] == sim.kubeconfig
        assert real.env()["K8S_AUTH_CONTEXT"] == "admin"
        minted = real.token("checkpointer")  # applies identities.yaml, then TokenRequest
        assert minted != sim.token("checkpointer") and minted.count(".") == 2
        env = real.env("checkpointer")
        assert env["K8S_AUTH_API_KEY"] == minted and env["K8S_AUTH_SSL_CA_CERT"] == sim.ca_cert
        status, _headers, body = real.request(
            "POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
            {"kind": "SelfSubjectAccessReview", "apiVersion": "authorization.k8s.io/v1",
             "spec": {"resourceAttributes": {"verb": "create", "resource": "nodes",
                                             "subresource": "proxy"}}},
            identity="checkpointer")
        assert status == 201 and json.loads(body)["status"]["allowed"] is True
        with pytest.raises(KeyError):
            real.token("no-such-identity")
        real.close()  # removes what it applied
        gone = real.kubectl("get", "clusterrole", "forensic-identities-checkpointer")
        assert gone.returncode != 0 and "NotFound" in gone.stderr
    finally:
        sim.close()


def test_workers_option_sets_the_node_count(tmp_path):
    sim = SimulatedCluster.start(str(tmp_path / "five"), extra_args=("--workers", "4"))
    try:
        status, _headers, body = sim.request("GET", "/api/v1/nodes")
        names = sorted(node["metadata"]["name"] for node in json.loads(body)["items"])
        assert status == 200 and names == ["master-0", "worker-0", "worker-1", "worker-2", "worker-3"]
    finally:
        sim.close()
