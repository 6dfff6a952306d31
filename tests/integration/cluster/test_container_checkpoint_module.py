# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""forensic.checkpoint.container_checkpoint through ansible: checkpoints and every error mapping."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json
import os
import threading
import time

import pytest

from cluster_helpers import enable_checkpointing, irreversible_allowed, scale_counters
from harness.api import wait_for

MODULE = "forensic.checkpoint.container_checkpoint"
COUNTERS = {"namespace": "demo", "label_selectors": ["app=counters"]}


@pytest.fixture(scope="module")
def enabled(cluster, api, ansible):
    """A cluster where checkpointing works, the counters app on three pods."""
    if cluster.sim is not None:
        cluster.sim.reset()
        enable_checkpointing(ansible, cluster)
    elif not irreversible_allowed(cluster):
        probe = ansible.module(MODULE, COUNTERS, check=True)
        if probe.get("failed"):
            pytest.skip("no demo/counters app on this cluster: %s" % probe.get("msg"))
    else:
        enable_checkpointing(ansible, cluster)
    pods = scale_counters(api, 3)
    yield pods
    scale_counters(api, 1)


def test_every_container_of_a_labelled_deployment_across_nodes(cluster, enabled, ansible):
    result = ansible.module(MODULE, dict(COUNTERS, timeout=60, parallel=2))
    assert result.get("failed") is not True, result.get("msg")
    assert result["changed"] is True
    taken = result["checkpoints"]
    expected = sorted((p["metadata"]["name"], c["name"]) for p in enabled for c in p["spec"]["containers"])
    assert sorted((c["pod"], c["container"]) for c in taken) == expected
    assert len(set(c["node"] for c in taken)) > 1, "the pods should run on several nodes"
    for entry in taken:
        assert entry["namespace"] == "demo" and entry["duration"] > 0
        assert entry["path"].startswith("/var/lib/kubelet/checkpoints/checkpoint-%s_demo-%s-" % (
            entry["pod"], entry["container"]))
        if cluster.sim is not None:
            local = os.path.join(cluster.sim.checkpoint_dir(entry["node"]), os.path.basename(entry["path"]))
            assert os.path.getsize(local) > 0


def test_check_mode_takes_no_checkpoint(cluster, enabled, ansible):
    before = _archives(cluster)
    result = ansible.module(MODULE, COUNTERS, check=True)
    assert result["changed"] is True and len(result["checkpoints"]) == len(enabled)
    assert all(c["path"] is None for c in result["checkpoints"])
    assert _archives(cluster) == before


def _archives(cluster):
    if cluster.sim is None:
        return None
    return sorted(name for node in ("worker-0", "worker-1", "worker-2")
                  for name in os.listdir(cluster.sim.checkpoint_dir(node)))


def test_missing_rbac_rule_is_named(cluster, enabled, ansible):
    result = ansible.module(MODULE, COUNTERS, identity="viewer")
    assert result["failed"] is True
    assert "the caller lacks create on nodes/proxy" in result["msg"]
    assert result["failures"][0]["status"] == 403


def test_preflight_passes_and_its_baseline_is_the_containers_checkpointed(cluster, enabled, ansible):
    """Reads only (runs on a real cluster too): the verdict per node, then checkpoints tied to it."""
    preflight = ansible.module("forensic.checkpoint.checkpoint_preflight", COUNTERS)
    assert preflight.get("failed") is not True and preflight["changed"] is False, preflight.get("msg")
    assert preflight["ready"] is True
    nodes = set(p["spec"]["nodeName"] for p in enabled)
    assert set(preflight["nodes"]) == nodes
    for verdict in preflight["nodes"].values():
        assert verdict["gate"]["enabled"] is True and "pod does not exist" in verdict["gate"]["source"]
        assert verdict["criu"]["enabled"] is True and verdict["problems"] == []
    by_pod = dict((p["metadata"]["name"], p) for p in enabled)
    for target in preflight["targets"]:
        pod = by_pod[target["pod"]]
        status = next(s for s in pod["status"]["containerStatuses"] if s["name"] == target["container"])
        assert (target["pod_uid"], target["container_id"], target["restart_count"]) == (
            pod["metadata"]["uid"], status["containerID"], status["restartCount"])
    # an identity that may not read MachineConfigs: the probe still answers for the gate, CRIU is unknown
    responder = ansible.module("forensic.checkpoint.checkpoint_preflight", COUNTERS, identity="checkpointer")
    assert responder.get("failed") is not True and responder["ready"] is True, responder.get("msg")
    taken = ansible.module(MODULE, dict(COUNTERS, baseline=preflight["targets"]))
    assert taken.get("failed") is not True, taken.get("msg")
    assert taken["not_the_evidence"] == [] and all(c["identity_changed"] == [] for c in taken["checkpoints"])


def test_rejected_token(cluster, enabled, ansible):
    result = ansible.module(MODULE, COUNTERS, identity="viewer", env={"K8S_AUTH_API_KEY": "not-a-token"})
    assert result["failed"] is True
    assert result["msg"] == ("pods in namespace demo: the API server rejected the credentials (HTTP 401): "
                             "the token is missing, expired or invalid")


def test_checkpointer_identity_is_enough(cluster, enabled, ansible):
    pod = enabled[0]["metadata"]["name"]
    result = ansible.module(MODULE, {"namespace": "demo", "pod": pod}, identity="checkpointer")
    assert result["changed"] is True, result.get("msg")


def test_unknown_container_is_named(cluster, enabled, ansible):
    pod = enabled[0]["metadata"]["name"]
    result = ansible.module(MODULE, {"namespace": "demo", "pod": pod, "containers": ["nope"]})
    assert result["failed"] is True
    assert result["msg"].startswith("pod demo/%s: has no container nope" % pod)


@pytest.mark.simulated_only
def test_kubelet_failures_are_explained(cluster, enabled, ansible):
    pod = enabled[0]
    node, name = pod["spec"]["nodeName"], pod["metadata"]["name"]
    args = {"namespace": "demo", "pod": name}
    with cluster.sim.kubelet_fault(node, message="CRIU dump failed: page-server"):
        failed = ansible.module(MODULE, args)
    assert "the checkpoint failed on node %s" % node in failed["msg"] and "CRIU dump failed" in failed["msg"]
    # the kubelet raises a timeout below its runtimeRequestTimeout (2 min) to that: 1 s is not a limit
    with cluster.sim.kubelet_fault(node, delay=2):
        floored = ansible.module(MODULE, dict(args, timeout=1))
    assert floored.get("failed") is not True, floored.get("msg")
    cluster.sim.settings(runtime_request_timeout=1)
    try:
        with cluster.sim.kubelet_fault(node, delay=5):
            slow = ansible.module(MODULE, dict(args, timeout=1))
    finally:
        cluster.sim.settings(runtime_request_timeout=120)
    assert "did not finish within the timeout on node %s" % node in slow["msg"]
    cluster.sim.set_kubelet_ready(node, False)
    try:
        down = ansible.module(MODULE, args)
    finally:
        cluster.sim.set_kubelet_ready(node, True)
    assert "cannot reach the kubelet on node %s" % node in down["msg"]


def _standalone(api, cluster, name, **spec):
    body = {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "demo", "labels": {"app": "counters", "unusable": "yes"}},
            "spec": dict({"containers": [{"name": "counter", "image": "quay.io/example/counters-app:main"}]}, **spec)}
    status, _headers, answer = cluster.request("POST", "/api/v1/namespaces/demo/pods", body)
    assert status == 201, answer
    return name


@pytest.mark.simulated_only
def test_fifty_pods_with_three_unusable_checkpoint_the_47_and_report_the_3(cluster, api, enabled, ansible):
    """Issue 13 §4: Pending, evicted and terminating pods among a selector's 50 are skipped and
    reported with the reason (as the pod's own status says); the other 47 are checkpointed."""
    scale_counters(api, 47)
    try:
        pending = _standalone(api, cluster, "unusable-pending", nodeSelector={"no-such-node": "x"})
        evicted = _standalone(api, cluster, "unusable-evicted", nodeName="worker-1")
        terminating = _standalone(api, cluster, "unusable-terminating", nodeName="worker-2")
        api.patch("/api/v1/namespaces/demo/pods/%s" % terminating, {"metadata": {"finalizers": ["forensic.test/hold"]}})
        wait_for("the standalone pods to run", lambda: all(
            (api.get("/api/v1/namespaces/demo/pods/%s" % p)["status"].get("phase") == "Running") for p in (evicted, terminating)))
        # what the kubelet writes when it evicts a pod (pkg/kubelet/eviction: phase Failed, reason Evicted)
        status, _headers, answer = cluster.request(
            "PATCH", "/api/v1/namespaces/demo/pods/%s/status" % evicted,
            {"status": {"phase": "Failed", "reason": "Evicted", "message": "The node was low on resource: memory."}},
            content_type="application/merge-patch+json")
        assert status == 200, answer
        api.delete("/api/v1/namespaces/demo/pods/%s" % terminating)
        result = ansible.module(MODULE, dict(COUNTERS, parallel=8, timeout=120))
        assert result.get("failed") is not True, result.get("msg")
        assert len(result["checkpoints"]) == 47
        reasons = dict((s["pod"], s["reason"]) for s in result["skipped_pods"])
        assert sorted(reasons) == sorted([pending, evicted, terminating]), reasons
        assert reasons[pending].startswith("is Pending")
        assert reasons[evicted] == "was evicted (The node was low on resource: memory.)"
        assert reasons[terminating].startswith("is terminating (deletionTimestamp ")
        assert result["msg"].endswith("; 3 pod(s) skipped")
        everything = ansible.module(MODULE, dict(COUNTERS, all_or_nothing=True))
        assert everything["failed"] is True and "3 pod(s) cannot be checkpointed and all_or_nothing is set" in everything["msg"]
    finally:
        api.patch("/api/v1/namespaces/demo/pods/unusable-terminating", {"metadata": {"finalizers": []}})
        for name in ("unusable-pending", "unusable-evicted"):
            api.delete("/api/v1/namespaces/demo/pods/%s" % name)
        scale_counters(api, 3)


def _lister_pod(api, cluster, node, label="recover-lister", read_only=True):
    """A pod like the analyser's on ``node``: the kubelet's checkpoint directory mounted (read-only)."""
    name = "%s-%s" % (label, node)
    body = {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "demo", "labels": {"app.kubernetes.io/name": label}},
            "spec": {"nodeName": node,
                     "containers": [{"name": "analyser", "image": "quay.io/example/counters-app:main",
                                     "volumeMounts": [{"name": "checkpoints", "mountPath": "/var/lib/kubelet/checkpoints",
                                                       "readOnly": read_only}]}],
                     "volumes": [{"name": "checkpoints", "hostPath": {"path": "/var/lib/kubelet/checkpoints"}}]}}
    status, _headers, answer = cluster.request("POST", "/api/v1/namespaces/demo/pods", body)
    assert status == 201, answer
    wait_for("the lister pod to run", lambda: api.get("/api/v1/namespaces/demo/pods/%s" % name)["status"].get("phase") == "Running")
    return name


def _mine(cluster, node, pod):
    return [n for n in os.listdir(cluster.sim.checkpoint_dir(node)) if n.startswith("checkpoint-%s_demo-" % pod)]


RECOVER = {"namespace": "demo", "label_selectors": ["app.kubernetes.io/name=recover-lister"], "interval": 1}


@pytest.mark.simulated_only
def test_archive_written_after_the_connection_dropped_is_found(cluster, api, enabled, ansible):
    """Issue 13 §4: the kubelet goes on dumping when the HTTP connection is cut (the checkpoint
    handler answers only after CRI-O returns; a cut client connection does not cancel the CRI call
    already under way in the simulator, as in CRI-O, which writes the archive regardless). Without
    ``recover`` the failure says where the archive may land; with it, the archive is found through a
    pod on the node, complete, and reported as such."""
    pod = enabled[0]
    node, name = pod["spec"]["nodeName"], pod["metadata"]["name"]
    args = {"namespace": "demo", "pod": name}
    lister = _lister_pod(api, cluster, node)
    try:
        before = _mine(cluster, node, name)
        with cluster.sim.kubelet_fault(node, delay=3, drop=0.5):
            lost = ansible.module(MODULE, args)
        assert lost["failed"] is True and "the archive may still appear on the node" in lost["msg"], lost["msg"]
        # that archive still lands (it is older than the next request, so never taken for its own)
        wait_for("the lost archive to land", lambda: len(_mine(cluster, node, name)) > len(before), timeout=30)
        with cluster.sim.kubelet_fault(node, delay=3, drop=0.5):
            found = ansible.module(MODULE, dict(args, recover=RECOVER))
        assert found.get("failed") is not True, found.get("msg")
        [taken] = found["checkpoints"]
        assert taken["dropped"].startswith("connection dropped (") and "archive found at %s on node %s" % (
            taken["path"], node) in taken["dropped"]
        local = os.path.join(cluster.sim.checkpoint_dir(node), os.path.basename(taken["path"]))
        assert os.path.getsize(local) > 0 and "(%d bytes" % os.path.getsize(local) in taken["dropped"]
        # not one an earlier checkpoint left (the lost one above)
        assert os.path.basename(taken["path"]) == max(_mine(cluster, node, name))
        assert "1 found on the node after the connection dropped" in found["msg"]
        assert any("archive found at" in w for w in found.get("warnings", []))
        # the dump outlasts the wait: the archive is not there in time, and the failure says so
        with cluster.sim.kubelet_fault(node, delay=10, drop=0.5):
            missing = ansible.module(MODULE, dict(args, recover=dict(RECOVER, wait=3)))
        assert missing["failed"] is True and "connection dropped (" in missing["msg"]
        assert "archive not found on node %s after " % node in missing["msg"], missing["msg"]
    finally:
        api.delete("/api/v1/namespaces/demo/pods/%s" % lister)


@pytest.mark.simulated_only
def test_two_overlapping_checkpoints_of_one_container_recover_this_requests_archive(cluster, api, enabled, ansible):
    """Issue 13 §4: while this request's dump runs (5 s) and its connection has dropped, someone else
    checkpoints the same container; that quicker checkpoint lands first under a later name. The
    kubelet names an archive when the request arrives (KEP-2008), so this request's is the one named
    just after its POST, not the newest (what recovery took before, as soon as the other one settled)."""
    pod = enabled[1]
    node, name = pod["spec"]["nodeName"], pod["metadata"]["name"]
    lister = _lister_pod(api, cluster, node)
    post = "/api/v1/nodes/%s/proxy/checkpoint/demo/%s/counter" % (node, name)
    other = {}

    def meanwhile(rule):
        wait_for("this request at the kubelet", lambda: rule.hits == 1, timeout=60, interval=0.05)
        time.sleep(3.2)  # past NAMED_WITHIN: the other checkpoint's name is seconds later
        other["answer"] = cluster.request("POST", post)
    try:
        before = set(_mine(cluster, node, name))
        with cluster.sim.kubelet_fault(node, delay=5, drop=0.5, times=1) as rule:
            thread = threading.Thread(target=meanwhile, args=(rule,))
            thread.start()
            found = ansible.module(MODULE, {"namespace": "demo", "pod": name, "recover": RECOVER})
            thread.join(60)
        status, _headers, body = other["answer"]
        assert status == 200, body
        theirs = os.path.basename(json.loads(body)["items"][0])
        assert found.get("failed") is not True, found.get("msg")
        [taken] = found["checkpoints"]
        ours = os.path.basename(taken["path"])
        assert set(_mine(cluster, node, name)) - before == {ours, theirs} and ours < theirs
        assert "not taken, named later by another checkpoint of this container: %s" % theirs in taken["dropped"]
    finally:
        api.delete("/api/v1/namespaces/demo/pods/%s" % lister)


@pytest.mark.simulated_only
def test_archives_fetched_and_verified_are_removed_from_the_node_only_when_unchanged(cluster, api, enabled, ansible):
    """Issue 13 §4: nodes fill up; opt-in removal of the archives a run verified. The removal runs in
    the analyser pod on the node: refused through a read-only mount, refused for content that is not
    the verified one, check mode removes nothing, and a second run finds the archive gone."""
    pod = enabled[2]
    node, name = pod["spec"]["nodeName"], pod["metadata"]["name"]
    taken = ansible.module(MODULE, {"namespace": "demo", "pod": name})
    assert taken.get("failed") is not True, taken.get("msg")
    path = taken["checkpoints"][0]["path"]
    local = os.path.join(cluster.sim.checkpoint_dir(node), os.path.basename(path))
    with open(local, "rb") as handle:
        digest = hashlib.sha256(handle.read()).hexdigest()
    archive = {"node": node, "path": path, "sha256": digest}
    remove = "forensic.checkpoint.checkpoint_archive_remove"
    readonly = _lister_pod(api, cluster, node)
    writable = _lister_pod(api, cluster, node, "remover", read_only=False)
    try:
        refused = ansible.module(remove, {"archives": [archive], "analyser": RECOVER_WHERE})
        assert refused["failed"] is True and refused["kept"] == [dict(archive_at(archive), reason="Read-only file system")]
        assert refused["msg"] == "removed 0 archive(s); NOT removed: %s on node %s: Read-only file system" % (path, node)
        where = dict(RECOVER_WHERE, label_selectors=["app.kubernetes.io/name=remover"])
        other = ansible.module(remove, {"archives": [dict(archive, sha256="0" * 64)], "analyser": where})
        assert other["failed"] is True and other["kept"][0]["reason"] == "its SHA-256 is now %s, not the verified one" % digest
        checked = ansible.module(remove, {"archives": [archive], "analyser": where}, check=True)
        assert checked["changed"] is True and checked["removed"] == [archive_at(archive)] and os.path.exists(local)
        done = ansible.module(remove, {"archives": [archive], "analyser": where})
        assert done.get("failed") is not True, done.get("msg")
        assert done["changed"] is True and done["removed"] == [archive_at(archive)] and not os.path.exists(local)
        again = ansible.module(remove, {"archives": [archive], "analyser": where})
        assert (again["changed"], again["absent"], again["msg"]) == (False, [archive_at(archive)],
                                                                     "removed 0 archive(s), 1 already gone")
        bad = ansible.module(remove, {"archives": [dict(archive, path="/etc/passwd")], "analyser": where})
        assert bad["failed"] is True and bad["msg"] == (
            "archive /etc/passwd on node %s: not a checkpoint archive in /var/lib/kubelet/checkpoints with a "
            "SHA-256 (sha256: 64 hex digits)" % node)
    finally:
        for lister in (readonly, writable):
            api.delete("/api/v1/namespaces/demo/pods/%s" % lister)


RECOVER_WHERE = {"namespace": "demo", "label_selectors": ["app.kubernetes.io/name=recover-lister"]}


def archive_at(archive):
    return {"node": archive["node"], "path": archive["path"]}
