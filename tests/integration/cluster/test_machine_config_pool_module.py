# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""forensic.checkpoint.machine_config_pool through ansible: pause, unpause, wait, Degraded."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import threading
import time

import pytest

from cluster_helpers import pool_rolled_out
from harness.api import CRIU_MC, MCO_API, wait_for

MODULE = "forensic.checkpoint.machine_config_pool"


def paused(api, name):
    return bool(api.get("%s/machineconfigpools/%s" % (MCO_API, name))["spec"].get("paused"))


@pytest.mark.simulated_only
def test_pause_unpause_check_mode_and_idempotence(fresh, ansible):
    check = ansible.module(MODULE, {"state": "paused"}, check=True, diff=True)
    assert check["changed"] is True and check["diff"]["after"] == {"paused": {"master": True, "worker": True}}
    assert not paused(fresh, "master") and not paused(fresh, "worker")

    first = ansible.module(MODULE, {"state": "paused"})
    assert first["changed"] is True and first["changed_pools"] == ["master", "worker"]
    assert paused(fresh, "master") and paused(fresh, "worker")
    assert ansible.module(MODULE, {"state": "paused"})["changed"] is False

    back = ansible.module(MODULE, {"names": ["worker"]})  # state defaults to unpaused
    assert back["changed_pools"] == ["worker"] and not paused(fresh, "worker") and paused(fresh, "master")
    assert ansible.module(MODULE, {"state": "unpaused"})["changed_pools"] == ["master"]
    assert not paused(fresh, "master")


@pytest.mark.simulated_only
def test_paused_then_unpaused_and_waited_for(fresh, cluster, ansible):
    assert ansible.module(MODULE, {"state": "paused"})["changed"] is True
    assert ansible.module("forensic.checkpoint.machine_config", {"preset": "crio_criu"})["changed"] is True
    time.sleep(1.0)  # the render controller has had time to render: a paused pool still must not update
    worker = fresh.get("%s/machineconfigpools/worker" % MCO_API)
    assert worker["status"]["configuration"]["name"] != worker["spec"]["configuration"]["name"]

    result = ansible.module(MODULE, {"wait": True, "wait_sleep": 1, "wait_timeout": 600,
                                     "machine_configs": [CRIU_MC]})
    assert result.get("failed") is not True, result.get("msg")
    assert result["changed_pools"] == ["master", "worker"] and result["msg"].endswith("rolled out")
    by_name = dict((p["name"], p) for p in result["pools"])
    assert by_name["worker"]["updated_machine_count"] == by_name["worker"]["machine_count"] == 3
    assert by_name["worker"]["conditions"]["Updated"] == "True"
    assert by_name["worker"]["configuration"]["desired"] == by_name["worker"]["configuration"]["current"]
    worker_progress = [p for p in result["progress"] if p["pool"] == "worker"]
    assert worker_progress[0]["state"] in ("rendering", "updating") and worker_progress[-1]["state"] == "updated"
    assert pool_rolled_out(fresh, "worker")
    # the drop-in is on every worker now
    for node in ("worker-0", "worker-1", "worker-2"):
        with open(cluster.sim.node_host_dir(node) + "/etc/crio/crio.conf.d/05-enable-criu") as handle:
            assert handle.read() == "[crio.runtime]\nenable_criu_support = true\n"


@pytest.mark.simulated_only
def test_a_node_degrading_mid_rollout_fails_fast(fresh, cluster, ansible):
    cluster.sim.settings(rollout_delay=1.5)
    ansible.module(MODULE, {"state": "paused", "names": ["worker"]})
    ansible.module("forensic.checkpoint.machine_config", {"preset": "crio_criu"})
    outcome = {}

    def wait_rollout():
        started = time.monotonic()
        outcome["result"] = ansible.module(MODULE, {"names": ["worker"], "wait": True, "wait_sleep": 1,
                                                    "wait_timeout": 600, "machine_configs": [CRIU_MC]})
        outcome["seconds"] = time.monotonic() - started
    waiter = threading.Thread(target=wait_rollout)
    waiter.start()
    # once the rollout is under way, a worker's machine config daemon reports Degraded
    wait_for("the worker pool to be updating", lambda: not paused(fresh, "worker") and any(
        c["type"] == "Updating" and c["status"] == "True"
        for c in fresh.get("%s/machineconfigpools/worker" % MCO_API)["status"].get("conditions") or []))
    cluster.sim.degrade_node("worker-2", "unexpected on-disk state validating against rendered-worker")
    waiter.join(300)
    result = outcome["result"]
    assert result["failed"] is True
    assert result["msg"] == ("MachineConfigPool worker: is degraded: node worker-2: "
                             "unexpected on-disk state validating against rendered-worker")
    assert outcome["seconds"] < 60
    assert result["progress"] and result["pools"][0]["name"] == "worker"


@pytest.mark.simulated_only
def test_timeout_reports_progress(fresh, cluster, ansible):
    cluster.sim.settings(rollout_delay=30)
    ansible.module("forensic.checkpoint.machine_config", {"preset": "crio_criu"})
    result = ansible.module(MODULE, {"names": ["worker"], "wait": True, "wait_sleep": 1, "wait_timeout": 3,
                                     "machine_configs": [CRIU_MC]})
    assert result["failed"] is True
    assert result["msg"].startswith("MachineConfigPool worker: rollout not finished after 3s: worker (")
    assert "of 3 machines updated" in result["msg"] and result["progress"]


def test_waiting_on_a_paused_pool_is_refused(cluster, ansible):
    result = ansible.module(MODULE, {"state": "paused", "wait": True})
    assert result["failed"] is True and "a paused pool does not roll out" in result["msg"]


def test_unknown_pool_is_named(cluster, ansible):
    result = ansible.module(MODULE, {"names": ["no-such-pool"]})
    assert result["failed"] is True and result["msg"] == "MachineConfigPool no-such-pool: not found"


@pytest.mark.simulated_only
def test_a_gate_only_change_rides_out_a_60s_api_outage_and_429s(fresh, cluster, ansible):
    """Issue 13 §3. A FeatureGate change rolls new kube-apiserver revisions (openshift/
    cluster-kube-apiserver-operator): 503s and 429 with Retry-After while it happens. The gate
    only updates 98-worker-generated-kubelet, which exists from install (the MCO's kubelet-config
    controller), so no new MachineConfig name appears: the wait must judge the rendered content."""
    cluster.sim.settings(rollout_delay=1.0)
    # (with a simulator that creates 98-<pool>-generated-kubelet at install, as i13-sim will, this is
    # the gate-only case; before that, the gate adds it and the source list changes too)
    assert ansible.module(MODULE, {"state": "paused", "names": ["worker"]})["changed"] is True
    assert ansible.module("forensic.checkpoint.feature_gate", {"accept_irreversible": True})["changed"] is True
    outcome = {}

    def wait_rollout():
        outcome["result"] = ansible.module(MODULE, {"names": ["worker"], "wait": True, "wait_sleep": 1,
                                                    "wait_timeout": 600, "feature_gates": ["ContainerCheckpoint"],
                                                    "outage_budget": 120})
    # the API is down for 60 s for the pool reads (503), then throttles them (429, Retry-After 2) more
    # often than urllib3 retries on its own (3 times, honouring Retry-After for 429 and 503)
    outage = cluster.sim.fault(status=503, resource="machineconfigpools", verb="get",
                               message="the apiserver is shutting down")
    waiter = threading.Thread(target=wait_rollout)
    waiter.start()
    time.sleep(60)
    throttle = cluster.sim.fault(status=429, retry_after=2, resource="machineconfigpools", verb="get", times=5)
    outage.remove()
    waiter.join(600)
    throttle.remove()
    result = outcome["result"]
    assert result.get("failed") is not True, result.get("msg")
    (ridden,) = result["outages"]
    assert ridden["seconds"] >= 55 and "429" in ridden["error"], ridden
    assert "rode out" in result["msg"]
    worker = fresh.get("%s/machineconfigpools/worker" % MCO_API)
    assert worker["status"]["configuration"]["name"] == worker["spec"]["configuration"]["name"]
    # the rendered config the pool reached carries the gate for every node's kubelet
    for node in ("worker-0", "worker-1", "worker-2"):
        with open(cluster.sim.node_host_dir(node) + "/etc/kubernetes/kubelet.conf") as handle:
            assert '"ContainerCheckpoint": true' in handle.read()
