# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""API availability: outages refuse connections (scaled by time_scale), a FeatureGate change
rolls kube-apiserver revisions (503, 429 with Retry-After, reset connections), and a
single-node cluster loses its API while its master reboots."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import http.client
import socket
import time
import urllib.error

from simtest import wait_for

FG = "/apis/config.openshift.io/v1/featuregates/cluster"


def attempt(sim, path="/api/v1/namespaces"):
    """An HTTP status, or the name of the connection error."""
    try:
        return sim.request("GET", path, timeout=5)[0]
    except urllib.error.URLError as exc:
        reason = exc.reason
        return type(reason).__name__ if isinstance(reason, Exception) else str(reason)
    except (ConnectionError, http.client.HTTPException, socket.timeout) as exc:
        return type(exc).__name__


def test_a_60_second_outage_in_three_and_connections_refused(start_sim):
    sim = start_sim()
    sim.control("PATCH", "/settings", {"time_scale": 0.05})
    started = time.monotonic()
    sim.control("POST", "/apiserver/outage", {"seconds": 60}, expect=202)
    seen = set()
    while time.monotonic() - started < 2.0:
        seen.add(attempt(sim))
        time.sleep(0.05)
    assert "ConnectionRefusedError" in seen, seen
    wait_for("the API back", lambda: attempt(sim) == 200, timeout=10)
    elapsed = time.monotonic() - started
    assert 2.5 < elapsed < 8, elapsed
    outages = sim.control("GET", "/state")["apiserver"]["outages"]
    assert outages[-1]["kind"] == "outage" and outages[-1]["seconds"] == 60


def test_a_feature_gate_change_rolls_the_kube_apiserver(start_sim):
    sim = start_sim("--openshift-version", "4.17.0")
    sim.control("PATCH", "/settings", {"apiserver_rollout": 30, "time_scale": 0.05})
    sim.patch(FG, {"spec": {"featureSet": "CustomNoUpgrade",
                            "customNoUpgrade": {"enabled": ["ContainerCheckpoint"]}}})
    seen, retry_after = [], set()
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        try:
            status, headers, _body = sim.request("GET", "/api/v1/nodes", timeout=5)
            seen.append(status)
            if status == 429:
                retry_after.add(headers.get("Retry-After"))
        except (urllib.error.URLError, ConnectionError, http.client.HTTPException) as exc:
            seen.append(type(getattr(exc, "reason", exc)).__name__)
        time.sleep(0.02)
    assert {200, 503, 429} <= set(seen), seen
    assert any(isinstance(s, str) for s in seen), seen  # reset connections
    assert retry_after == {"1"}
    wait_for("the rollout to end", lambda: all(attempt(sim) == 200 for _attempt in range(4)))


def test_single_node_loses_its_api_while_the_master_reboots(start_sim):
    sim = start_sim("--topology", "sno", "--rollout-delay", "2")
    old = sim.get("/apis/machineconfiguration.openshift.io/v1/machineconfigpools/master")[
        "spec"]["configuration"]["name"]
    sim.json("POST", "/apis/machineconfiguration.openshift.io/v1/machineconfigs", {
        "apiVersion": "machineconfiguration.openshift.io/v1", "kind": "MachineConfig",
        "metadata": {"name": "50-master-motd",
                     "labels": {"machineconfiguration.openshift.io/role": "master"}},
        "spec": {"config": {"ignition": {"version": "3.2.0"}, "storage": {"files": [{
            "path": "/etc/motd", "mode": 420, "contents": {"source": "data:,hi"}}]}}}},
        expect=201)
    seen = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        result = attempt(sim, "/apis/machineconfiguration.openshift.io/v1/machineconfigpools/"
                              "master")
        seen.append(result)
        if result == 200 and any(s != 200 for s in seen):
            pool = sim.get("/apis/machineconfiguration.openshift.io/v1/machineconfigpools/"
                           "master")
            if pool["status"]["configuration"]["name"] != old and pool["status"][
                    "updatedMachineCount"] == 1:
                break
        time.sleep(0.05)
    assert "ConnectionRefusedError" in seen, seen
    assert seen[-1] == 200
    assert any(o["kind"] == "reboot:master-0"
               for o in sim.control("GET", "/state")["apiserver"]["outages"])
