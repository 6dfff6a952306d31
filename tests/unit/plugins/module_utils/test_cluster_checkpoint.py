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


def pod(name, node, containers=("counter",), phase="Running", running=True, labels=None):
    return {"metadata": {"name": name, "namespace": "demo", "labels": labels or {"app": "counters"}},
            "spec": {"nodeName": node, "containers": [{"name": c} for c in containers]},
            "status": {"phase": phase, "containerStatuses": [
                {"name": c, "state": {"running": {}} if running else {"waiting": {}}} for c in containers]}}


def post_path(node, name, container="counter"):
    return "/api/v1/nodes/%s/proxy/checkpoint/demo/%s/%s" % (node, name, container)


def deployment_cluster():
    pods = [pod("counters-a", "worker-0", ("counter", "sidecar")), pod("counters-b", "worker-1"),
            pod("counters-c", "worker-2")]
    cluster = FakeCluster()
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
    targets = checkpoint.select(cluster, "demo", label_selectors=["app=counters"])
    result = checkpoint.run(cluster, targets, timeout=30, parallel=2)
    assert result["changed"] is True
    assert [(c["node"], c["pod"], c["container"]) for c in result["checkpoints"]] == [
        ("worker-0", "counters-a", "counter"), ("worker-0", "counters-a", "sidecar"),
        ("worker-1", "counters-b", "counter"), ("worker-2", "counters-c", "counter")]
    assert result["checkpoints"][1]["path"].endswith("checkpoint-counters-a_demo-sidecar-2026-11-26T22:20:40Z.tar")
    assert all(isinstance(c["duration"], float) for c in result["checkpoints"])
    assert result["msg"] == "checkpointed 4 container(s) on worker-0, worker-1, worker-2"


def test_parallelism_is_bounded():
    cluster = FakeCluster()
    pods = [pod("p%d" % i, "worker-%d" % (i % 3)) for i in range(8)]
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
    checkpoint.run(cluster, checkpoint.select(cluster, "demo", label_selectors=["app=counters"]), parallel=3)
    assert state["peak"] == 3


def test_check_mode_only_plans():
    cluster = deployment_cluster()
    targets = checkpoint.select(cluster, "demo", label_selectors=["app=counters"])
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
    checkpoint.run(cluster, checkpoint.select(cluster, "demo", pod="one"), timeout=45)
    assert seen == {"timeout": "45"}


@pytest.mark.parametrize("kwargs, problem", [
    ({"pod": "gone"}, "pod demo/gone: not found"),
    ({"pod": "pending"}, "pod demo/pending: is Pending and not scheduled: only running containers can be checkpointed"),
    ({"pod": "one", "containers": ["nope"]}, "pod demo/one: has no container nope (containers: counter)"),
    ({"pod": "stopped"}, "pod demo/stopped: container counter is not running"),
    ({"label_selectors": ["app=none"]}, "pods in namespace demo: none match app=none"),
])
def test_selection_errors_name_the_pod(kwargs, problem):
    cluster = FakeCluster({PODS + "/one": pod("one", "worker-0"), PODS + "/pending": pod("pending", None, phase="Pending"),
                           PODS + "/stopped": pod("stopped", "worker-0", running=False)})
    cluster.answers[("GET", PODS)] = {"items": []}
    with pytest.raises(CheckpointError) as caught:
        checkpoint.select(cluster, "demo", **kwargs)
    assert str(caught.value) == problem


@pytest.mark.parametrize("error, expected", [
    (api_error(401, "Unauthorized"), "the API server rejected the credentials (401)"),
    (api_error(403, 'nodes "worker-0" is forbidden: User "system:serviceaccount:ir:responder" cannot create '
                    'resource "nodes/proxy" in API group "" at the cluster scope', {"kind": "nodes", "name": "worker-0"}),
     "the caller's RBAC lacks create on nodes/proxy"),
    (api_error(403, "Forbidden (user=system:serviceaccount:ir:responder, verb=create, resource=nodes, "
                    "subresource(s)=[checkpoint])"), "the caller's RBAC lacks create on nodes/checkpoint"),
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
     "cannot reach the kubelet on node worker-0"),
])
def test_failures_are_mapped_to_what_to_do(error, expected):
    cluster = FakeCluster({PODS + "/one": pod("one", "worker-0")})
    cluster.answers[("POST", post_path("worker-0", "one"))] = error
    with pytest.raises(checkpoint.CheckpointFailed) as caught:
        checkpoint.run(cluster, checkpoint.select(cluster, "demo", pod="one"))
    message = str(caught.value)
    assert message.startswith("container_checkpoint: 1 of 1 checkpoint(s) failed: demo/one/counter: ")
    assert expected in message and "\n" not in message
    assert caught.value.result["failures"][0]["status"] == error.status
    assert caught.value.result["checkpoints"] == []


def test_partial_failure_keeps_the_successes():
    cluster = deployment_cluster()
    cluster.answers[("POST", post_path("worker-1", "counters-b"))] = api_error(404, "404 page not found")
    with pytest.raises(checkpoint.CheckpointFailed) as caught:
        checkpoint.run(cluster, checkpoint.select(cluster, "demo", label_selectors=["app=counters"]))
    assert caught.value.result["changed"] is True
    assert len(caught.value.result["checkpoints"]) == 3
    assert [f["node"] for f in caught.value.result["failures"]] == ["worker-1"]


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
