# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""MachineConfigPool logic: pause/unpause, the MCO rollout rule, fail-fast on Degraded, timeouts."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

import pytest

from cluster_fake import Clock, FakeCluster

from ansible_collections.forensic.checkpoint.plugins.module_utils.cluster import machine_config as mc
from ansible_collections.forensic.checkpoint.plugins.module_utils.cluster import pools
from ansible_collections.forensic.checkpoint.plugins.module_utils.cluster.client import ApiError
from ansible_collections.forensic.checkpoint.plugins.module_utils.errors import CheckpointError

ROLE = mc.ROLE_LABEL
WORKER = pools.API + "/worker"
MASTER = pools.API + "/master"


def machine_config(name, role="worker", files=(), owner=None):
    obj = {"metadata": {"name": name, "labels": {ROLE: role} if role else {}},
           "spec": {"config": {"ignition": {"version": "3.2.0"},
                               "storage": {"files": [{"path": p, "contents": {"source": "data:," + t}}
                                                     for p, t in files]}}}}
    if owner:
        obj["metadata"]["ownerReferences"] = [{"kind": "MachineConfigPool", "name": owner}]
    return obj


def pool(name="worker", desired="rendered-worker-1", current="rendered-worker-1", updated=3, total=3,
         source=("00-worker",), paused=False, conditions=None, degraded=0):
    conds = {"Updated": "True" if updated == total and desired == current else "False",
             "Updating": "False" if updated == total and desired == current else "True",
             "Degraded": "False"}
    conds.update(conditions or {})
    return {"metadata": {"name": name, "generation": 2},
            "spec": {"paused": paused, "machineConfigSelector": {"matchLabels": {ROLE: name}},
                     "nodeSelector": {"matchLabels": {"node-role.kubernetes.io/" + name: ""}},
                     "configuration": {"name": desired, "source": [{"name": s} for s in source]}},
            "status": {"observedGeneration": 2, "configuration": {"name": current},
                       "machineCount": total, "updatedMachineCount": updated, "readyMachineCount": updated,
                       "unavailableMachineCount": total - updated, "degradedMachineCount": degraded,
                       "conditions": [{"type": t, "status": s, "message": "%s message" % t} for t, s in conds.items()]}}


def cluster_for(states, mcs=None, nodes=None):
    clock = Clock()
    objects = {"%s/%s" % (mc.API, m["metadata"]["name"]): m for m in (mcs or [machine_config("00-worker")])}
    for node in nodes or []:
        objects["/api/v1/nodes/" + node["metadata"]["name"]] = node
    cluster = FakeCluster(objects)
    # the first look is the pause/unpause check, then one per wait iteration
    cluster.answers[("GET", WORKER)] = [states[0]] + list(states)
    return cluster, clock


def run(cluster, clock, **kwargs):
    kwargs.setdefault("names", ["worker"])
    kwargs.setdefault("wait", True)
    kwargs.setdefault("interval", 10)
    return pools.ensure(cluster, sleep=clock.sleep, clock=clock, **kwargs)


def test_pause_and_unpause_are_idempotent():
    cluster = FakeCluster({WORKER: pool(), MASTER: pool("master", source=("00-master",))})
    paused = pools.ensure(cluster, ["master", "worker"], "paused")
    assert paused["changed"] is True and paused["changed_pools"] == ["master", "worker"]
    assert all(p["paused"] for p in paused["pools"])
    assert paused["diff"] == {"before": {"paused": {"master": False, "worker": False}},
                              "after": {"paused": {"master": True, "worker": True}}}
    assert pools.ensure(cluster, ["master", "worker"], "paused")["changed"] is False
    assert pools.ensure(cluster, ["master", "worker"], "unpaused")["changed_pools"] == ["master", "worker"]
    assert cluster.writes[0]["body"] == {"spec": {"paused": True}}


def test_check_mode_patches_as_dry_run_and_does_not_wait():
    cluster = FakeCluster({WORKER: pool(paused=True)}, dry_run=True)
    result = pools.ensure(cluster, ["worker"], "unpaused", wait=True, check_mode=True)
    assert result["changed"] is True and "not waiting" in result["msg"]
    assert cluster.objects[WORKER]["spec"]["paused"] is True


def test_waits_for_render_then_rollout_and_records_progress():
    new_mc = machine_config("05-worker-enable-criu", files=[("/etc/crio/x", "criu")])
    mcs = [machine_config("00-worker"), new_mc,
           machine_config("rendered-worker-2", role=None, files=[("/etc/crio/x", "criu")], owner="worker")]
    states = [
        pool(),  # still Updated=True for the old config: must not count as done
        pool(desired="rendered-worker-2", source=("00-worker", "05-worker-enable-criu"), updated=0),
        pool(desired="rendered-worker-2", source=("00-worker", "05-worker-enable-criu"), updated=2),
        pool(desired="rendered-worker-2", current="rendered-worker-2", source=("00-worker", "05-worker-enable-criu")),
    ]
    cluster, clock = cluster_for(states, mcs)
    result = run(cluster, clock, machine_configs=["05-worker-enable-criu"])
    assert [p["state"] for p in result["progress"]] == ["rendering", "updating", "updating", "updated"]
    assert [p["updated"] for p in result["progress"]] == [3, 0, 2, 3]
    assert result["pools"][0]["configuration"] == {"desired": "rendered-worker-2", "current": "rendered-worker-2"}
    assert clock.now == 30


def test_a_renamed_free_change_waits_for_the_rendered_contents():
    # same MachineConfig name, new contents: the source list does not change, the rendered config must
    new_mc = machine_config("05-worker-enable-criu", files=[("/etc/crio/x", "v2")])
    old_rendered = machine_config("rendered-worker-1", role=None, files=[("/etc/crio/x", "v1")], owner="worker")
    new_rendered = machine_config("rendered-worker-2", role=None, files=[("/etc/crio/x", "v2")], owner="worker")
    source = ("00-worker", "05-worker-enable-criu")
    states = [pool(source=source), pool(desired="rendered-worker-2", current="rendered-worker-2", source=source)]
    cluster, clock = cluster_for(states, [machine_config("00-worker"), new_mc, old_rendered, new_rendered])
    result = run(cluster, clock, machine_configs=["05-worker-enable-criu"])
    assert [p["state"] for p in result["progress"]] == ["rendering", "updated"]


def test_degraded_node_fails_fast_with_its_reason():
    nodes = [{"metadata": {"name": "worker-1", "labels": {"node-role.kubernetes.io/worker": ""},
                           "annotations": {pools.MCO + "state": "Degraded",
                                           pools.MCO + "reason": "failed to drain node: timed out"}}},
             {"metadata": {"name": "worker-2", "labels": {"node-role.kubernetes.io/worker": ""},
                           "annotations": {pools.MCO + "state": "Done"}}}]
    states = [pool(desired="rendered-worker-2", updated=1),
              pool(desired="rendered-worker-2", updated=1, degraded=1,
                   conditions={"NodeDegraded": "True", "Degraded": "True"})]
    cluster, clock = cluster_for(states, nodes=nodes)
    with pytest.raises(pools.RolloutError) as caught:
        run(cluster, clock)
    assert str(caught.value) == ("MachineConfigPool worker: is degraded: node worker-1: "
                                 "failed to drain node: timed out")
    assert caught.value.result["progress"][-1]["updated"] == 1
    assert clock.now == 10  # failed on the second look, not at the timeout


def test_degraded_without_node_annotation_uses_the_condition():
    cluster, clock = cluster_for([pool(conditions={"RenderDegraded": "True"})])
    with pytest.raises(pools.RolloutError) as caught:
        run(cluster, clock)
    assert "RenderDegraded: RenderDegraded message" in str(caught.value)


def test_timeout_reports_where_it_stood():
    cluster, clock = cluster_for([pool(desired="rendered-worker-2", updated=1)])
    with pytest.raises(pools.RolloutError) as caught:
        run(cluster, clock, timeout=60)
    assert str(caught.value) == ("MachineConfigPool worker: rollout not finished after 60s: "
                                 "worker (updating, 1 of 3 machines updated)")
    assert caught.value.result["pools"][0]["updated_machine_count"] == 1


def test_paused_pool_cannot_be_waited_for():
    with pytest.raises(CheckpointError) as caught:
        pools.ensure(FakeCluster({WORKER: pool()}), ["worker"], "paused", wait=True)
    assert "a paused pool does not roll out" in str(caught.value)
    cluster, clock = cluster_for([pool(desired="rendered-worker-2", updated=0, paused=True)])
    cluster.answers[("PATCH", WORKER)] = pool(desired="rendered-worker-2", updated=0, paused=True)
    with pytest.raises(pools.RolloutError) as caught:
        pools.Pools(cluster, ["worker"], clock.sleep, clock).wait()
    assert "is paused, so it will not roll out" in str(caught.value)


def test_missing_pool_and_machine_config_are_named():
    with pytest.raises(CheckpointError) as caught:
        pools.ensure(FakeCluster({}), ["infra"], "unpaused")
    assert str(caught.value) == "MachineConfigPool infra: not found"
    cluster, clock = cluster_for([pool()])
    with pytest.raises(CheckpointError) as caught:
        run(cluster, clock, machine_configs=["99-nope"])
    assert str(caught.value) == "MachineConfig 99-nope: not found"


@pytest.mark.parametrize("selector, labels, expected", [
    ({"matchLabels": {"a": "1"}}, {"a": "1", "b": "2"}, True),
    ({"matchLabels": {"a": "1"}}, {"a": "2"}, False),
    ({"matchExpressions": [{"key": "r", "operator": "In", "values": ["worker", "infra"]}]}, {"r": "infra"}, True),
    ({"matchExpressions": [{"key": "r", "operator": "NotIn", "values": ["master"]}]}, {"r": "master"}, False),
    ({"matchExpressions": [{"key": "r", "operator": "Exists"}]}, {}, False),
    ({"matchExpressions": [{"key": "r", "operator": "DoesNotExist"}]}, {}, True),
])
def test_label_selectors(selector, labels, expected):
    assert pools.selects(selector, labels) is expected


# ---------------------------------------------------------------- issue 13 §3: waits that survive a real rollout

def kubelet_config(name, gates, role=None, owner=None):
    return machine_config(name, role=role, owner=owner, files=[(
        "/etc/kubernetes/kubelet.conf", json.dumps({"featureGates": gates}).replace(" ", "%20").replace('"', "%22"))])


def test_a_gate_only_change_is_judged_on_the_rendered_content():
    # 98-worker-generated-kubelet exists from install: the gate changes its contents, not the source list
    source = ("00-worker", "98-worker-generated-kubelet")
    mcs = [machine_config("00-worker"), kubelet_config("98-worker-generated-kubelet", {"ContainerCheckpoint": True}, "worker"),
           kubelet_config("rendered-worker-1", {"NodeSwap": False}, owner="worker"),
           kubelet_config("rendered-worker-2", {"ContainerCheckpoint": True}, owner="worker")]
    states = [pool(source=source),  # the old rendered config, still Updated=True
              pool(desired="rendered-worker-2", source=source, updated=1),
              pool(desired="rendered-worker-2", current="rendered-worker-2", source=source)]
    fooled, clock = cluster_for(states, mcs)
    assert [p["state"] for p in run(fooled, clock)["progress"]] == ["updated"]  # the race without the content check
    cluster, clock = cluster_for(states, mcs)
    result = run(cluster, clock, feature_gates=["ContainerCheckpoint"])
    assert [p["state"] for p in result["progress"]] == ["rendering", "updating", "updated"]


class Counting(FakeCluster):
    def __init__(self, *args, **kwargs):
        super(Counting, self).__init__(*args, **kwargs)
        self.gets = []

    def request(self, method, path, subject, **kwargs):
        if method == "GET":
            self.gets.append(path)
        return super(Counting, self).request(method, path, subject, **kwargs)


def test_an_api_outage_and_429s_are_ridden_out_and_reported():
    refused = ApiError("MachineConfigPool worker", "cannot reach the API server: connection refused")
    unavailable = ApiError("MachineConfigPool worker", "apiserver is shutting down (HTTP 503)", 503, "shutting down")
    throttled = ApiError("MachineConfigPool worker", "Too many requests (HTTP 429)", 429, "Too many requests",
                         retry_after=7)
    rolled = pool(desired="rendered-worker-2", current="rendered-worker-2")
    mcs = [machine_config("00-worker"), machine_config("rendered-worker-2", role=None, owner="worker")]
    clock = Clock()
    cluster = Counting(dict(("%s/%s" % (mc.API, m["metadata"]["name"]), m) for m in mcs))
    # 60 s of refusals and 503s while kube-apiserver rolls out, then two 429s with Retry-After
    outage = [refused] * 4 + [unavailable] * 4 + [throttled, throttled]
    cluster.answers[("GET", WORKER)] = [pool(), pool(desired="rendered-worker-2", updated=0)] + outage + [rolled]
    result = run(cluster, clock, outage_budget=600)
    (outage_seen,) = result["outages"]
    assert outage_seen["retries"] == 10 and outage_seen["seconds"] >= 60
    assert "Too many requests" in outage_seen["error"]
    assert result["msg"].startswith("worker already unpaused; rolled out; rode out 1 API outage(s), longest ")
    assert clock.now == 10 + (1 + 2 + 4 + 8 + 16 + 30 + 30 + 30) + 7 + 7  # backoff, then Retry-After
    # the MachineConfigs are listed once, not on every poll
    assert cluster.gets.count(mc.API) == 1


def test_an_outage_longer_than_the_budget_fails_naming_it():
    down = ApiError("MachineConfigPool worker", "cannot reach the API server: connection refused")
    cluster, clock = cluster_for([pool(), pool(desired="rendered-worker-2", updated=0)])
    cluster.answers[("GET", WORKER)] = [pool(), pool(desired="rendered-worker-2", updated=0), down]
    with pytest.raises(ApiError) as caught:
        run(cluster, clock, outage_budget=120)
    assert str(caught.value).endswith("the API stayed unavailable for 120s (outage budget 120s)")


def test_a_permanent_error_is_not_retried():
    cluster, clock = cluster_for([pool()])
    cluster.answers[("GET", WORKER)] = [pool(), ApiError("MachineConfigPool worker", "forbidden (HTTP 403)", 403)]
    with pytest.raises(ApiError):
        run(cluster, clock)
    assert clock.now == 0
