# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""OpenShift behaviour: the FeatureGate's one-way featureSets, and the Machine Config
Operator's rendering, rollout (one node at a time, pause, drain), status and degradation."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import threading
import time

import pytest
from kubernetes.client.rest import ApiException

from simcluster import ignition
from harness.testing import pool_rolled_out, value_if, wait_for

pytestmark = pytest.mark.simulated_only

MCO = "machineconfiguration.openshift.io"
CURRENT, DESIRED, STATE = MCO + "/currentConfig", MCO + "/desiredConfig", MCO + "/state"
CRIU_MC = {
    "apiVersion": MCO + "/v1", "kind": "MachineConfig",
    "metadata": {"name": "05-worker-enable-criu", "labels": {MCO + "/role": "worker"}},
    "spec": {"config": {"ignition": {"version": "3.2.0"}, "storage": {"files": [{
        "contents": {"compression": "",
                     "source": "data:,%5Bcrio.runtime%5D%0Aenable_criu_support%20%3D%20true%0A"},
        "mode": 420, "overwrite": True, "path": "/etc/crio/crio.conf.d/05-enable-criu"}]}}},
}


class Api:
    def __init__(self, cluster):
        dyn = cluster.dynamic()
        self.fg = dyn.resources.get(api_version="config.openshift.io/v1", kind="FeatureGate")
        self.cv = dyn.resources.get(api_version="config.openshift.io/v1",
                                    kind="ClusterVersion")
        self.mc = dyn.resources.get(api_version=MCO + "/v1", kind="MachineConfig")
        self.mcp = dyn.resources.get(api_version=MCO + "/v1", kind="MachineConfigPool")
        self.nodes = dyn.resources.get(api_version="v1", kind="Node")
        self.pods = dyn.resources.get(api_version="v1", kind="Pod")

    def pool(self, name):
        return self.mcp.get(name=name).to_dict()

    def merge(self, resource, name, body):
        return resource.patch(body=body, name=name,
                              content_type="application/merge-patch+json").to_dict()

    def enable_gate(self):
        return self.merge(self.fg, "cluster", {"spec": {
            "featureSet": "CustomNoUpgrade",
            "customNoUpgrade": {"enabled": ["ContainerCheckpoint"]}}})

    def annotations(self, node):
        return self.nodes.get(name=node).to_dict()["metadata"]["annotations"]


@pytest.fixture
def api(fresh_cluster):
    return Api(fresh_cluster)


def _cond(obj, kind):
    return next((c for c in obj["status"].get("conditions", []) if c["type"] == kind), {})


def _message(exc):
    return json.loads(exc.body)["message"]


# --- FeatureGate --------------------------------------------------------------------------------

def test_a_noupgrade_feature_set_cannot_be_changed_or_removed(api):
    enabled = api.enable_gate()
    assert enabled["spec"]["featureSet"] == "CustomNoUpgrade"
    with pytest.raises(ApiException) as info:
        api.merge(api.fg, "cluster", {"spec": {"featureSet": ""}})
    assert info.value.status == 422
    assert _message(info.value) == (
        'FeatureGate.config.openshift.io "cluster" is invalid: spec.featureSet: Invalid value: '
        '"string": CustomNoUpgrade may not be changed')
    with pytest.raises(ApiException) as info:
        api.fg.patch(body=[{"op": "remove", "path": "/spec/featureSet"}], name="cluster",
                     content_type="application/json-patch+json")
    assert info.value.status == 422
    assert _message(info.value).endswith('spec: Invalid value: "object": .spec.featureSet '
                                         'cannot be removed')
    with pytest.raises(ApiException) as info:
        api.fg.delete(name="cluster")
    assert info.value.status == 403
    assert _message(info.value) == (
        'featuregates.config.openshift.io "cluster" is forbidden: deleting required '
        'featuregates.config.openshift.io resource, named cluster, is not allowed')
    # the gate list itself may still change
    more = api.merge(api.fg, "cluster", {"spec": {"customNoUpgrade": {
        "enabled": ["ContainerCheckpoint", "NodeSwap"]}}})
    assert more["spec"]["customNoUpgrade"]["enabled"] == ["ContainerCheckpoint", "NodeSwap"]


def test_tech_preview_can_only_move_to_custom(api):
    api.merge(api.fg, "cluster", {"spec": {"featureSet": "TechPreviewNoUpgrade"}})
    with pytest.raises(ApiException) as info:
        api.merge(api.fg, "cluster", {"spec": {"featureSet": "DevPreviewNoUpgrade"}})
    assert "TechPreviewNoUpgrade may not be changed" in _message(info.value)
    assert api.merge(api.fg, "cluster", {"spec": {"featureSet": "CustomNoUpgrade"}})[
        "spec"]["featureSet"] == "CustomNoUpgrade"


def test_a_noupgrade_feature_set_blocks_upgrades_and_reaches_the_kubelet_config(api):
    assert not _cond(api.cv.get(name="version").to_dict(), "Upgradeable")
    api.enable_gate()

    def generated():
        try:
            return api.mc.get(name="98-worker-generated-kubelet").to_dict()
        except ApiException:
            return None
    mc = wait_for(generated, 10, what="the generated kubelet MachineConfig")
    files = ignition.files_of(mc["spec"])
    gates = json.loads(files["/etc/kubernetes/kubelet.conf"])["featureGates"]
    assert gates["ContainerCheckpoint"] is True
    upgradeable = wait_for(lambda: _cond(api.cv.get(name="version").to_dict(), "Upgradeable"),
                           10, what="Upgradeable on ClusterVersion")
    assert upgradeable["status"] == "False"
    assert upgradeable["reason"] == "FeatureGates_RestrictedFeatureGates_CustomNoUpgrade"


# --- MachineConfigPool rollout ------------------------------------------------------------------

def test_rollout_follows_the_mco_rules(api, fresh_cluster):
    fresh_cluster.sim.settings(rollout_delay=0.4, render_delay=0.6)
    before = api.pool("worker")
    assert pool_rolled_out(before)
    old = before["spec"]["configuration"]["name"]
    workers = [n["metadata"]["name"] for n in api.nodes.get(
        label_selector="node-role.kubernetes.io/worker").to_dict()["items"]]

    samples = []
    done = threading.Event()

    def sample():
        while not done.is_set():
            pool = api.pool("worker")
            nodes = api.nodes.get(label_selector="node-role.kubernetes.io/worker").to_dict()
            busy = [n["metadata"]["name"] for n in nodes["items"]
                    if n["metadata"]["annotations"][DESIRED] !=
                    n["metadata"]["annotations"][CURRENT]]
            samples.append((pool, busy))
            time.sleep(0.03)
    thread = threading.Thread(target=sample)
    thread.start()
    try:
        api.mc.create(body=CRIU_MC)
        # right after the MachineConfig the pool still claims to be up to date
        right_after = api.pool("worker")
        assert _cond(right_after, "Updated")["status"] == "True"
        assert not pool_rolled_out(right_after, "05-worker-enable-criu")
        final = wait_for(lambda: value_if(api.pool("worker"),
                                          lambda p: pool_rolled_out(p, "05-worker-enable-criu")),
                         30, what="the worker pool to roll out")
    finally:
        done.set()
        thread.join()

    new = final["spec"]["configuration"]["name"]
    assert new != old and new.startswith("rendered-worker-")
    assert "05-worker-enable-criu" in [s["name"] for s in final["spec"]["configuration"][
        "source"]]
    assert final["status"]["configuration"]["name"] == new
    status = final["status"]
    assert (status["machineCount"], status["updatedMachineCount"], status["readyMachineCount"],
            status["unavailableMachineCount"], status["degradedMachineCount"]) == (3, 3, 3, 0, 0)
    assert status["observedGeneration"] == final["metadata"]["generation"]
    assert _cond(final, "Updated")["message"] == "All nodes are updated with " + new
    assert {c["type"] for c in status["conditions"]} >= {
        "Updated", "Updating", "Degraded", "NodeDegraded", "RenderDegraded"}

    # one node at a time (node snapshots), with the MCO's counts and conditions on the way
    # (pool snapshots; each is checked on its own, the two are not read atomically)
    assert max(len(busy) for _pool, busy in samples) == 1
    pools = [p for p, _busy in samples] + [final]
    updating = [p for p in pools if p["spec"]["configuration"]["name"] == new and
                _cond(p, "Updated")["status"] == "False"]
    assert updating, "the sampler saw the rollout"
    for pool in updating:
        assert _cond(pool, "Updating") == dict(_cond(pool, "Updating"), status="True",
                                               message="All nodes are updating to " + new)
        assert pool["status"]["unavailableMachineCount"] <= 1
        assert pool["status"]["configuration"]["name"] == old
    # measured against the new target: 3 (old, done) -> 0 -> 1 -> 2 -> 3, never backwards
    counts = [p["status"]["updatedMachineCount"] for p in pools]
    after = counts[counts.index(0):]
    assert after == sorted(after) and after[-1] == 3 and set(after) <= {0, 1, 2, 3}
    order = []
    for _pool, busy in samples:
        if busy and (not order or order[-1] != busy[0]):
            order.append(busy[0])
    assert sorted(order) == sorted(workers)
    for node in workers:
        ann = api.annotations(node)
        assert (ann[CURRENT], ann[DESIRED], ann[STATE]) == (new, new, "Done")
    # the master pool did not select the worker MachineConfig
    assert pool_rolled_out(api.pool("master"))
    assert api.pool("master")["spec"]["configuration"]["name"].startswith("rendered-master-")


def test_paused_pools_render_but_do_not_roll_out(api, fresh_cluster):
    fresh_cluster.sim.settings(render_delay=0.1)
    api.merge(api.mcp, "worker", {"spec": {"paused": True}})
    old = api.pool("worker")["spec"]["configuration"]["name"]
    api.mc.create(body=CRIU_MC)
    pool = wait_for(lambda: value_if(api.pool("worker"),
                                     lambda p: p["spec"]["configuration"]["name"] != old),
                    10, what="the paused pool to render")
    new = pool["spec"]["configuration"]["name"]
    paused = wait_for(lambda: value_if(api.pool("worker"),
                                       lambda p: _cond(p, "Updated").get("status") == "False"),
                      10, what="Updated=False")
    assert _cond(paused, "Updating") == dict(_cond(paused, "Updating"), status="False",
                                             message="Pool is paused; will not update to " + new)
    assert paused["status"]["configuration"]["name"] == old
    time.sleep(1.0)  # several rollout delays: nothing may move
    for node in ("worker-0", "worker-1", "worker-2"):
        ann = api.annotations(node)
        assert ann[CURRENT] == ann[DESIRED] == old
    api.merge(api.mcp, "worker", {"spec": {"paused": False}})
    wait_for(lambda: pool_rolled_out(api.pool("worker"), "05-worker-enable-criu"), 30,
             what="the unpaused pool to roll out")


def test_nodes_are_drained_and_rebooted(api, fresh_cluster):
    before = api.pods.get(namespace="demo", label_selector="app=counters").to_dict()["items"]
    assert [p["metadata"]["name"] for p in before] == ["counters-7d9f8b6c5d-x2x4q"]
    assert before[0]["spec"]["nodeName"] == "worker-1"
    boot = api.nodes.get(name="worker-1").to_dict()["status"]["nodeInfo"]["bootID"]
    api.mc.create(body=CRIU_MC)
    wait_for(lambda: pool_rolled_out(api.pool("worker"), "05-worker-enable-criu"), 30,
             what="the rollout")
    after = api.pods.get(namespace="demo", label_selector="app=counters").to_dict()["items"]
    running = [p for p in after if not p["metadata"].get("deletionTimestamp")]
    assert len(running) == 1
    assert running[0]["metadata"]["name"] != "counters-7d9f8b6c5d-x2x4q"
    assert running[0]["metadata"]["name"].startswith("counters-7d9f8b6c5d-")
    assert api.nodes.get(name="worker-1").to_dict()["status"]["nodeInfo"]["bootID"] != boot
    host = fresh_cluster.sim.node_host_dir("worker-1")
    with open(host + "/etc/crio/crio.conf.d/05-enable-criu") as handle:
        assert handle.read() == "[crio.runtime]\nenable_criu_support = true\n"


def test_a_degraded_node_degrades_the_pool(api, fresh_cluster):
    fresh_cluster.sim.degrade_node("worker-2", "unexpected on-disk state validating against "
                                               "rendered-worker-x")
    pool = wait_for(lambda: value_if(api.pool("worker"),
                                     lambda p: _cond(p, "Degraded").get("status") == "True"),
                    10, what="Degraded=True")
    assert pool["status"]["degradedMachineCount"] == 1
    node_degraded = _cond(pool, "NodeDegraded")
    assert node_degraded["status"] == "True"
    assert node_degraded["reason"] == "1 nodes are reporting degraded status on sync"
    assert node_degraded["message"] == ('Node worker-2 is reporting: "unexpected on-disk state '
                                        'validating against rendered-worker-x"')
    assert _cond(pool, "Degraded")["message"] == node_degraded["message"]
    assert api.annotations("worker-2")[STATE] == "Degraded"
    fresh_cluster.sim.recover_node("worker-2")
    wait_for(lambda: _cond(api.pool("worker"), "Degraded").get("status") == "False", 10,
             what="recovery")
    assert pool_rolled_out(api.pool("worker"))


def test_a_node_degraded_mid_rollout_stalls_it(api, fresh_cluster):
    fresh_cluster.sim.settings(rollout_delay=0.5, render_delay=0.1)
    fresh_cluster.sim.degrade_node("worker-0", "failed to drain node")
    api.mc.create(body=CRIU_MC)
    wait_for(lambda: api.annotations("worker-1")[CURRENT] ==
             api.pool("worker")["spec"]["configuration"]["name"], 20, what="worker-1 updated")
    pool = api.pool("worker")
    assert pool["status"]["degradedMachineCount"] == 1
    assert not pool_rolled_out(pool)
    fresh_cluster.sim.recover_node("worker-0")
    wait_for(lambda: pool_rolled_out(api.pool("worker"), "05-worker-enable-criu"), 30,
             what="the rollout to finish")


def test_an_unrenderable_machineconfig_is_render_degraded(api):
    bad = json.loads(json.dumps(CRIU_MC))
    bad["metadata"]["name"] = "50-worker-broken"
    bad["spec"]["config"]["ignition"]["version"] = "9.9.9"
    api.mc.create(body=bad)  # the API accepts it; the render controller does not
    pool = wait_for(lambda: value_if(api.pool("worker"),
                                     lambda p: _cond(p, "RenderDegraded").get("status") == "True"),
                    10, what="RenderDegraded")
    assert _cond(pool, "RenderDegraded")["message"].startswith(
        "Failed to render configuration for pool worker: parsing Ignition config failed: "
        "unknown version")
    assert _cond(pool, "Degraded")["status"] == "True"
    api.mc.delete(name="50-worker-broken")
    wait_for(lambda: _cond(api.pool("worker"), "RenderDegraded").get("status") == "False", 10,
             what="render recovery")


def test_an_unknown_kubelet_gate_is_only_a_warning(api, fresh_cluster):
    """OpenShift's kubelet carries "UPSTREAM: <carry>: warn only about unknown feature gates"
    (openshift/kubernetes, component-base/featuregate): the node comes back Ready, the known
    gates apply, and the kubelet logs ``unrecognized feature gate: NAME``."""
    fresh_cluster.sim.settings(rollout_delay=0.2, render_delay=0.1)
    api.merge(api.fg, "cluster", {"spec": {"featureSet": "CustomNoUpgrade",
                                           "customNoUpgrade": {"enabled": [
                                               "NoSuchGate", "ContainerCheckpoint"]}}})

    def gate_on():
        status, _headers, body = fresh_cluster.request(
            "GET", "/api/v1/nodes/master-0/proxy/configz")
        return status == 200 and json.loads(body)["kubeletconfig"]["featureGates"].get(
            "ContainerCheckpoint") is True
    wait_for(gate_on, 30, what="the master's kubelet to run with the new gates")
    wait_for(lambda: pool_rolled_out(api.pool("master")), 30, what="the master pool")
    node = api.nodes.get(name="master-0").to_dict()
    assert next(c for c in node["status"]["conditions"] if c["type"] == "Ready")["status"] == \
        "True"
    with open(os.path.join(fresh_cluster.state_dir, "simcluster.log")) as handle:
        assert "master-0: kubelet: unrecognized feature gate: NoSuchGate" in handle.read()
