# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reboots destroy memory state; drains go through the Eviction API and honour
PodDisruptionBudgets; a blocked drain shows on the node and the pool as the MCO shows it."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import re
import tarfile

from simtest import value_if, wait_for
from test_versions_topologies import MCO, counters, pool, rolled_out_beyond

DRAIN = "machineconfiguration.openshift.io/desiredDrain"
APPLIED = "machineconfiguration.openshift.io/lastAppliedDrain"


def motd_mc():
    """Any file outside the MCO's no-reboot list: the pool drains and reboots."""
    return {"apiVersion": "machineconfiguration.openshift.io/v1", "kind": "MachineConfig",
            "metadata": {"name": "50-worker-motd",
                         "labels": {"machineconfiguration.openshift.io/role": "worker"}},
            "spec": {"config": {"ignition": {"version": "3.2.0"}, "storage": {"files": [{
                "path": "/etc/motd", "mode": 420, "overwrite": True,
                "contents": {"source": "data:,hello%0A"}}]}}}}


def checkpoint_pages(sim, pod):
    """Checkpoint the pod's first container through the node proxy; its pages-*.img bytes."""
    ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
    ctr = pod["spec"]["containers"][0]["name"]
    node = pod["spec"]["nodeName"]
    body = sim.json("POST", "/api/v1/nodes/%s/proxy/checkpoint/%s/%s/%s" % (node, ns, name, ctr))
    local = os.path.join(sim.control("GET", "/state")["nodes"][node]["checkpoint_dir"],
                         os.path.basename(body["items"][0]))
    with tarfile.open(local) as archive:
        return b"".join(archive.extractfile(m).read() for m in archive.getmembers()
                        if m.name.startswith("checkpoint/pages-"))


def test_a_reboot_restarts_containers_and_their_memory_is_gone(start_sim):
    """4.17 checkpoints out of the box. Before the rollout the counters process holds
    RANDOM_1432_KEY; the drain replaces the pod and the reboot restarts the DaemonSet's
    container (new ID, start time, restartCount 1): neither new process holds that key."""
    sim = start_sim("--openshift-version", "4.17.0")
    sim.json("POST", "/apis/apps/v1/namespaces/demo/daemonsets", {
        "metadata": {"name": "agent"}, "spec": {
            "selector": {"matchLabels": {"app": "agent"}},
            "template": {"metadata": {"labels": {"app": "agent"}}, "spec": {
                "nodeSelector": {"node-role.kubernetes.io/worker": ""},
                "containers": [{"name": "agent",
                                "image": "quay.io/example/counters-app:main"}]}}}}, expect=201)
    original = counters(sim)
    assert b"RANDOM_1432_KEY" in checkpoint_pages(sim, original)

    def agent():
        pods = sim.get("/api/v1/namespaces/demo/pods?labelSelector=app%3Dagent")["items"]
        return next((p for p in pods if p["spec"]["nodeName"] == original["spec"]["nodeName"]
                     and p["status"].get("phase") == "Running"), None)
    before = wait_for("the agent pod", agent)
    old = pool(sim, "worker")["spec"]["configuration"]["name"]
    sim.json("POST", MCO + "/machineconfigs", motd_mc(), expect=201)
    wait_for("the worker pool", lambda: rolled_out_beyond(sim, "worker", old))

    replaced = wait_for("the new counters pod", lambda: value_if(
        counters(sim), lambda p: p["status"].get("phase") == "Running"))
    assert replaced["metadata"]["uid"] != original["metadata"]["uid"]
    pages = checkpoint_pages(sim, replaced)
    assert b"RANDOM_1432_KEY" not in pages and re.search(rb"RANDOM_\d{4}_KEY", pages)

    after = agent()
    assert after["metadata"]["uid"] == before["metadata"]["uid"]
    old_status, new_status = before["status"]["containerStatuses"][0], \
        after["status"]["containerStatuses"][0]
    assert new_status["restartCount"] == old_status["restartCount"] + 1
    assert new_status["containerID"] != old_status["containerID"]
    assert new_status["lastState"]["terminated"]["containerID"] == old_status["containerID"]
    assert new_status["state"]["running"]["startedAt"] >= old_status["state"]["running"][
        "startedAt"]
    first, second = checkpoint_pages(sim, after), checkpoint_pages(sim, after)
    assert first == second  # the same process checkpointed twice holds the same key


def test_the_eviction_api_honours_disruption_budgets(start_sim):
    sim = start_sim()
    pod = counters(sim)
    sim.json("POST", "/apis/policy/v1/namespaces/demo/poddisruptionbudgets", {
        "metadata": {"name": "counters"},
        "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "counters"}}}},
        expect=201)
    pdb = wait_for("the budget's status", lambda: value_if(
        sim.get("/apis/policy/v1/namespaces/demo/poddisruptionbudgets/counters"),
        lambda o: "disruptionsAllowed" in (o.get("status") or {})))
    assert pdb["status"]["disruptionsAllowed"] == 0 and pdb["status"]["currentHealthy"] == 1
    path = "/api/v1/namespaces/demo/pods/%s/eviction" % pod["metadata"]["name"]
    eviction = {"apiVersion": "policy/v1", "kind": "Eviction",
                "metadata": {"name": pod["metadata"]["name"], "namespace": "demo"}}
    status, _headers, body = sim.request("POST", path, eviction)
    assert status == 429
    answer = json.loads(body)
    assert answer["message"] == "Cannot evict pod as it would violate the pod's disruption " \
                                "budget."
    assert answer["details"]["causes"] == [{
        "reason": "DisruptionBudget",
        "message": "The disruption budget counters needs 1 healthy pods and has 1 currently"}]
    sim.json("DELETE", "/apis/policy/v1/namespaces/demo/poddisruptionbudgets/counters")
    status, _headers, body = sim.request("POST", path, eviction)
    assert status == 201, body


def test_a_blocked_drain_keeps_the_node_cordoned_and_the_pool_updating(start_sim):
    sim = start_sim()
    sim.control("PATCH", "/settings", {"drain_retry": 0.2, "drain_failing_threshold": 0.5})
    pod = counters(sim)
    node = pod["spec"]["nodeName"]
    sim.json("POST", "/apis/policy/v1/namespaces/demo/poddisruptionbudgets", {
        "metadata": {"name": "counters"},
        "spec": {"maxUnavailable": 0, "selector": {"matchLabels": {"app": "counters"}}}},
        expect=201)
    sim.json("POST", MCO + "/machineconfigs", motd_mc(), expect=201)
    stuck = wait_for("the drain to be refused", lambda: any(
        e["reason"] == "DrainThresholdExceeded" and e["involvedObject"]["name"] == node
        for e in sim.get("/api/v1/namespaces/default/events")["items"]))
    assert stuck
    target = pool(sim, "worker")["spec"]["configuration"]["name"]
    annotations = sim.get("/api/v1/nodes/" + node)["metadata"]["annotations"]
    assert annotations[DRAIN] == "drain-" + target
    assert annotations.get(APPLIED) != annotations[DRAIN]
    assert annotations["machineconfiguration.openshift.io/state"] == "Working"
    assert sim.get("/api/v1/nodes/" + node)["spec"]["unschedulable"] is True
    status = pool(sim, "worker")["status"]
    updating = next(c for c in status["conditions"] if c["type"] == "Updating")
    assert updating["status"] == "True"
    assert status["updatedMachineCount"] < status["machineCount"]
    assert status["unavailableMachineCount"] >= 1
    assert counters(sim)["metadata"]["uid"] == pod["metadata"]["uid"]  # still running
    events = [e for e in sim.get("/api/v1/namespaces/default/events")["items"]
              if e["reason"] == "DrainThresholdExceeded"]
    assert 'Cannot evict pod as it would violate the pod\'s disruption budget.' in \
        events[0]["message"] and pod["metadata"]["name"] in events[0]["message"]
    # the budget goes: the drain completes, and the node is uncordoned at the new config
    sim.json("DELETE", "/apis/policy/v1/namespaces/demo/poddisruptionbudgets/counters")
    wait_for("the rollout", lambda: rolled_out_beyond(sim, "worker", "none"), timeout=60)
    annotations = sim.get("/api/v1/nodes/" + node)["metadata"]["annotations"]
    assert annotations[DRAIN] == annotations[APPLIED] == "uncordon-" + target


def test_a_rebootless_update_keeps_memory(start_sim):
    """The contrast: a change the MCO applies without a reboot (the kubelet's pull secret,
    /var/lib/kubelet/config.json, action None) keeps the process and its key."""
    sim = start_sim("--openshift-version", "4.17.0")
    pod = counters(sim)
    mc = motd_mc()
    mc["spec"]["config"]["storage"]["files"][0]["path"] = "/var/lib/kubelet/config.json"
    old = pool(sim, "worker")["spec"]["configuration"]["name"]
    sim.json("POST", MCO + "/machineconfigs", mc, expect=201)
    wait_for("the worker pool", lambda: rolled_out_beyond(sim, "worker", old))
    assert counters(sim)["metadata"]["uid"] == pod["metadata"]["uid"]
    assert b"RANDOM_1432_KEY" in checkpoint_pages(sim, counters(sim))
    state = sim.control("GET", "/state")["nodes"][pod["spec"]["nodeName"]]
    assert state["last_update_actions"] == ["None"]
