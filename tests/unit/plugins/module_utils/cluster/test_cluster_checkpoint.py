# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Checkpoint logic: pod and container selection, parallel POSTs, error mapping; and the client."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import threading
import time

import pytest

from cluster_fake import FakeCluster, api_error

from ansible_collections.forensic.checkpoint.plugins.module_utils.cluster import checkpoint
from ansible_collections.forensic.checkpoint.plugins.module_utils.cluster.client import ApiError, Cluster, status_message
from ansible_collections.forensic.checkpoint.plugins.module_utils.errors import CheckpointError

PODS = "/api/v1/namespaces/demo/pods"


def pod(name, node, containers=("counter",), phase="Running", running=True, labels=None, restarts=0):
    return {"metadata": {"name": name, "namespace": "demo", "labels": labels or {"app": "counters"}, "uid": "uid-" + name},
            "spec": {"nodeName": node, "containers": [{"name": c} for c in containers]},
            "status": {"phase": phase, "containerStatuses": [
                {"name": c, "containerID": "cri-o://%s-%s-%d" % (name, c, restarts), "restartCount": restarts,
                 "state": {"running": {"startedAt": "2026-11-26T21:00:0%dZ" % restarts}} if running else {"waiting": {}}}
                for c in containers]}}


def select(cluster, **kwargs):
    targets, skipped = checkpoint.select(cluster, "demo", **kwargs)
    assert skipped == []
    return targets


def post_path(node, name, container="counter"):
    return "/api/v1/nodes/%s/proxy/checkpoint/demo/%s/%s" % (node, name, container)


def deployment_cluster():
    pods = [pod("counters-a", "worker-0", ("counter", "sidecar")), pod("counters-b", "worker-1"),
            pod("counters-c", "worker-2")]
    cluster = FakeCluster(dict((PODS + "/" + p["metadata"]["name"], p) for p in pods))
    cluster.answers[("GET", PODS)] = lambda body, query: {"items": pods if dict(query)["labelSelector"] == "app=counters" else []}
    for p in pods:
        for c in p["spec"]["containers"]:
            archive = "/var/lib/kubelet/checkpoints/checkpoint-%s_demo-%s-2026-11-26T22:20:40Z.tar" % (
                p["metadata"]["name"], c["name"])
            cluster.answers[("POST", post_path(p["spec"]["nodeName"], p["metadata"]["name"], c["name"]))] = {
                "items": [archive]}
    return cluster


def test_every_container_of_a_labelled_deployment_across_nodes():
    cluster = deployment_cluster()
    targets = select(cluster, label_selectors=["app=counters"])
    result = checkpoint.run(cluster, targets, timeout=30, parallel=2)
    assert result["changed"] is True
    assert [(c["node"], c["pod"], c["container"]) for c in result["checkpoints"]] == [
        ("worker-0", "counters-a", "counter"), ("worker-0", "counters-a", "sidecar"),
        ("worker-1", "counters-b", "counter"), ("worker-2", "counters-c", "counter")]
    assert result["checkpoints"][1]["path"].endswith("checkpoint-counters-a_demo-sidecar-2026-11-26T22:20:40Z.tar")
    assert all(isinstance(c["duration"], float) for c in result["checkpoints"])
    assert result["msg"] == "checkpointed 4 container(s) on worker-0, worker-1, worker-2"


def test_parallelism_is_bounded():
    pods = [pod("p%d" % i, "worker-%d" % (i % 3)) for i in range(8)]
    cluster = FakeCluster(dict((PODS + "/" + p["metadata"]["name"], p) for p in pods))
    cluster.answers[("GET", PODS)] = {"items": pods}
    lock, state = threading.Lock(), {"now": 0, "peak": 0}

    def slow(body, query):
        with lock:
            state["now"] += 1
            state["peak"] = max(state["peak"], state["now"])
        time.sleep(0.05)
        with lock:
            state["now"] -= 1
        return {"items": ["/var/lib/kubelet/checkpoints/x.tar"]}
    for p in pods:
        cluster.answers[("POST", post_path(p["spec"]["nodeName"], p["metadata"]["name"]))] = slow
    checkpoint.run(cluster, select(cluster, label_selectors=["app=counters"]), parallel=3)
    assert state["peak"] == 3


def test_check_mode_only_plans():
    cluster = deployment_cluster()
    targets = select(cluster, label_selectors=["app=counters"])
    result = checkpoint.run(cluster, targets, check_mode=True)
    assert result["changed"] is True and len(result["checkpoints"]) == 4
    assert all(c["path"] is None for c in result["checkpoints"])
    assert result["msg"].startswith("would checkpoint 4 container(s): demo/counters-a/counter")


def test_timeout_is_passed_to_the_kubelet():
    cluster = FakeCluster({PODS + "/one": pod("one", "worker-0")})
    seen = {}

    def answer(body, query):
        seen.update(query)
        return {"items": ["/var/lib/kubelet/checkpoints/x.tar"]}
    cluster.answers[("POST", post_path("worker-0", "one"))] = answer
    checkpoint.run(cluster, select(cluster, pod="one"), timeout=45)
    assert seen == {"timeout": "45"}


@pytest.mark.parametrize("kwargs, problem", [
    ({"pod": "gone"}, "pod demo/gone: not found"),
    ({"pod": "pending"}, "pod demo/pending: is Pending and not scheduled: only running containers can be checkpointed"),
    ({"pod": "one", "containers": ["nope"]}, "pod demo/one: has no container nope (containers: counter)"),
    ({"pod": "stopped"}, "pod demo/stopped: container counter is not running"),
    ({"pod": "crashing"}, "pod demo/crashing: container counter is not running (CrashLoopBackOff)"),
    ({"label_selectors": ["app=none"]}, "pods in namespace demo: none match app=none"),
])
def test_selection_errors_name_the_pod(kwargs, problem):
    cluster = FakeCluster({PODS + "/one": pod("one", "worker-0"), PODS + "/pending": pod("pending", None, phase="Pending"),
                           PODS + "/stopped": pod("stopped", "worker-0", running=False),
                           PODS + "/crashing": crashing("crashing")})
    cluster.answers[("GET", PODS)] = {"items": []}
    with pytest.raises(CheckpointError) as caught:
        select(cluster, **kwargs)
    assert str(caught.value) == problem


@pytest.mark.parametrize("error, expected", [
    (api_error(401, "Unauthorized"), "the API server rejected the credentials (401)"),
    (api_error(403, 'nodes "worker-0" is forbidden: User "system:serviceaccount:ir:responder" cannot create '
                    'resource "nodes/proxy" in API group "" at the cluster scope', {"kind": "nodes", "name": "worker-0"}),
     "the caller lacks create on nodes/proxy"),
    # the kubelet's own 403 names the identity it sees through the proxy: the API server's, never the caller's
    (api_error(403, "Forbidden (user=system:kube-apiserver, verb=create, resource=nodes, subresource(s)=[checkpoint])"),
     "refused the API server's own identity (Forbidden (user=system:kube-apiserver"),
    (api_error(404, "404 page not found"), "the ContainerCheckpoint feature gate is not enabled on that node"),
    (api_error(404, 'nodes "worker-0" not found', {"kind": "nodes"}), "node worker-0 not found"),
    (api_error(500, "checkpointing of demo/one/counter failed (rpc error: code = Unknown desc = "
                    "checkpoint/restore support not available)"), "CRIU is not available to CRI-O on node worker-0"),
    (api_error(404, "pod does not exist"), "the kubelet on node worker-0 answered 404: pod does not exist"),
    (api_error(500, "checkpointing of demo/one/counter failed (rpc error: code = Unknown desc = CRIU dump failed)"),
     "the checkpoint failed on node worker-0: checkpointing of demo/one/counter failed (rpc error"),
    (api_error(500, "checkpointing of demo/one/counter failed (rpc error: code = DeadlineExceeded desc = "
                    "context deadline exceeded)"), "did not finish within the timeout on node worker-0"),
    (api_error(500, "checkpointing of demo/one/counter failed (disk full)"),
     "the checkpoint failed on node worker-0: checkpointing of demo/one/counter failed (disk full)"),
    (api_error(503, "error trying to reach service: dial tcp 10.0.0.5:10250: connect: connection refused"),
     "cannot reach the kubelet on node worker-0, or the connection was cut: error trying to reach service: dial tcp "
     "10.0.0.5:10250: connect: connection refused; if the request had reached it, the archive may still appear on "
     "the node as /var/lib/kubelet/checkpoints/checkpoint-one_demo-counter-<time>.tar"),
])
def test_failures_are_mapped_to_what_to_do(error, expected):
    cluster = FakeCluster({PODS + "/one": pod("one", "worker-0")})
    cluster.answers[("POST", post_path("worker-0", "one"))] = error
    with pytest.raises(checkpoint.CheckpointFailed) as caught:
        checkpoint.run(cluster, select(cluster, pod="one"))
    message = str(caught.value)
    assert message.startswith("container_checkpoint: 1 of 1 checkpoint(s) failed: demo/one/counter: ")
    assert expected in message and "\n" not in message
    assert caught.value.result["failures"][0]["status"] == error.status
    assert caught.value.result["checkpoints"] == []


def test_partial_failure_keeps_the_successes_and_all_or_nothing_fails():
    cluster = deployment_cluster()
    cluster.answers[("POST", post_path("worker-1", "counters-b"))] = api_error(404, "404 page not found")
    result = checkpoint.run(cluster, select(cluster, label_selectors=["app=counters"]))
    assert result["changed"] is True and len(result["checkpoints"]) == 3
    assert [f["node"] for f in result["failures"]] == ["worker-1"]
    assert "; 1 failed" in result["msg"] and "feature gate is not enabled" in result["warnings"][0]
    with pytest.raises(checkpoint.CheckpointFailed) as caught:
        checkpoint.run(cluster, select(cluster, label_selectors=["app=counters"]), all_or_nothing=True)
    assert len(caught.value.result["checkpoints"]) == 3


def crashing(name):
    out = pod(name, "worker-1", restarts=4)
    out["status"]["containerStatuses"][0]["state"] = {"waiting": {"reason": "CrashLoopBackOff"}}
    return out


def test_unusable_pods_are_skipped_with_the_reason():
    pending, evicted, terminating = pod("p-pending", None, phase="Pending"), pod("p-evicted", "worker-2", phase="Failed"), \
        pod("p-terminating", "worker-0")
    evicted["status"].update(reason="Evicted", message="The node was low on resource: memory.")
    terminating["metadata"]["deletionTimestamp"] = "2026-11-26T22:00:00Z"
    good = [pod("p%02d" % i, "worker-%d" % (i % 3)) for i in range(47)]
    everything = good + [pending, evicted, terminating, crashing("p-crash")]
    cluster = FakeCluster(dict((PODS + "/" + p["metadata"]["name"], p) for p in everything))
    cluster.answers[("GET", PODS)] = {"items": everything}
    for p in good:
        cluster.answers[("POST", post_path(p["spec"]["nodeName"], p["metadata"]["name"]))] = {"items": ["/x.tar"]}
    targets, skipped = checkpoint.select(cluster, "demo", label_selectors=["app=counters"])
    assert dict((s["pod"], s["reason"]) for s in skipped) == {
        "p-crash": "container counter is not running (CrashLoopBackOff)",
        "p-evicted": "was evicted (The node was low on resource: memory.)",
        "p-pending": "is Pending and not scheduled: only running containers can be checkpointed",
        "p-terminating": "is terminating (deletionTimestamp 2026-11-26T22:00:00Z)"}
    result = checkpoint.run(cluster, targets, parallel=8, skipped=skipped)
    assert len(result["checkpoints"]) == 47 and result["skipped_pods"] == skipped
    assert result["msg"].endswith("; 4 pod(s) skipped")
    with pytest.raises(checkpoint.CheckpointFailed) as caught:
        checkpoint.run(cluster, targets, skipped=skipped, all_or_nothing=True)
    assert "4 pod(s) cannot be checkpointed and all_or_nothing is set: demo/p-crash" in str(caught.value)
    assert not [w for w in cluster.writes if w["method"] == "POST"]  # refused before any checkpoint
    with pytest.raises(checkpoint.CheckpointFailed) as caught:
        checkpoint.run(cluster, [], skipped=skipped)
    assert "nothing can be checkpointed: demo/p-crash container counter is not running" in str(caught.value)


def test_each_archive_records_the_container_and_a_restart_during_the_post_is_loud():
    cluster = FakeCluster({PODS + "/one": pod("one", "worker-0"), PODS + "/two": pod("two", "worker-1")})
    cluster.answers[("GET", PODS)] = {"items": [pod("one", "worker-0"), pod("two", "worker-1")]}

    def restarted_meanwhile(body, query):
        # the container crashed and was restarted while the kubelet answered
        cluster.objects[PODS + "/two"] = pod("two", "worker-1", restarts=1)
        return {"items": ["/two.tar"]}
    cluster.answers[("POST", post_path("worker-0", "one"))] = {"items": ["/one.tar"]}
    cluster.answers[("POST", post_path("worker-1", "two"))] = restarted_meanwhile
    result = checkpoint.run(cluster, select(cluster, label_selectors=["app=counters"]))
    one, two = result["checkpoints"]
    assert (one["pod_uid"], one["container_id"], one["started_at"], one["restart_count"], one["identity_changed"]) == (
        "uid-one", "cri-o://one-counter-0", "2026-11-26T21:00:00Z", 0, [])
    assert two["identity_changed"] == ["container_id cri-o://two-counter-0 -> cri-o://two-counter-1",
                                       "started_at 2026-11-26T21:00:00Z -> 2026-11-26T21:00:01Z",
                                       "restart_count 0 -> 1"]
    assert result["not_the_evidence"] == ["demo/two/counter"]
    assert "1 NOT the container asked for (recreated or restarted): demo/two/counter" in result["msg"]
    assert result["warnings"][0].startswith("NOT THE EVIDENCE ASKED FOR: demo/two/counter was recreated or restarted")


def test_baseline_catches_a_replica_that_replaced_the_pod_the_run_began_with():
    baseline = [dict(node="worker-0", namespace="demo", pod="old", container="counter", **checkpoint.identity(
        pod("old", "worker-0"), "counter"))]
    fresh = pod("new", "worker-0")
    cluster = FakeCluster({PODS + "/new": fresh})
    cluster.answers[("GET", PODS)] = {"items": [fresh]}
    cluster.answers[("POST", post_path("worker-0", "new"))] = {"items": ["/new.tar"]}
    result = checkpoint.run(cluster, select(cluster, label_selectors=["app=counters"]), baseline=baseline)
    assert result["checkpoints"][0]["identity_changed"] == ["pod not present when the run began (a new replica?)"]
    assert result["not_the_evidence"] == ["demo/new/counter"]


# ---------------------------------------------------------------- the client


class _Boom(Exception):
    pass


class RaisingClient(object):
    def __init__(self, err):
        self.err = err

    def request(self, *args, **kwargs):
        raise self.err


def test_api_exceptions_become_one_line_with_status():
    from kubernetes.client.exceptions import ApiException
    err = ApiException(status=403, reason="Forbidden")
    err.body = '{"kind":"Status","message":"pods is forbidden: User \\"x\\" cannot list\\nresource","details":{"kind":"pods"}}'
    with pytest.raises(ApiError) as caught:
        Cluster(RaisingClient(err)).get("/api/v1/pods", "pods")
    assert caught.value.status == 403 and caught.value.details == {"kind": "pods"}
    assert str(caught.value) == 'pods: pods is forbidden: User "x" cannot list resource (HTTP 403)'


def test_rejected_credentials_say_so():
    from kubernetes.client.exceptions import ApiException
    with pytest.raises(ApiError) as caught:
        Cluster(RaisingClient(ApiException(status=401, reason="Unauthorized"))).get("/api/v1/pods", "pods")
    assert str(caught.value) == ("pods: the API server rejected the credentials (HTTP 401): "
                                 "the token is missing, expired or invalid")


def test_unreachable_server_is_one_line():
    from urllib3.exceptions import MaxRetryError
    with pytest.raises(ApiError) as caught:
        Cluster(RaisingClient(MaxRetryError(None, "/version", "refused")), host="https://api:6443").get("/version", "v")
    assert caught.value.status is None and "cannot reach the API server https://api:6443" in str(caught.value)


def test_missing_ok_and_other_errors():
    from kubernetes.client.exceptions import ApiException
    cluster = Cluster(RaisingClient(ApiException(status=404, reason="Not Found")))
    assert cluster.get("/x", "x", missing_ok=True) is None
    with pytest.raises(ApiError):
        Cluster(RaisingClient(_Boom("odd"))).get("/x", "x")


def test_status_message_reads_status_or_text():
    assert status_message(b'{"kind":"Status","message":"no"}') == ("no", {})
    assert status_message("404 page not found\n") == ("404 page not found", {})


def test_kubernetes_minor_tolerates_vendor_suffixes():
    assert FakeCluster(minor=26).kubernetes_minor() == 26
