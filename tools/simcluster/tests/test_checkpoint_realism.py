# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the kubelet answers for /checkpoint: its authorisation of the API server's identity
by Kubernetes version, the timeout floor, a dropped connection with the archive still written,
the Summary API's free space, the texts for a gate that is off, an unknown pod or container and
CRI-O without CRIU, and the unusable pods a checkpoint run meets at scale."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import http.client
import os
import time
import urllib.error

import pytest
from simtest import wait_for
from test_versions_topologies import counters

BINDING = "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/" \
          "system:kube-apiserver-kubelet-api-admin"


def post(sim, node, ns, pod, ctr, query=""):
    status, _headers, body = sim.request(
        "POST", "/api/v1/nodes/%s/proxy/checkpoint/%s/%s/%s%s" % (node, ns, pod, ctr, query))
    return status, body.decode()


def grant(sim, name, resources):
    """A ClusterRole with ``create`` on ``resources`` bound to the API server's identity."""
    sim.json("POST", "/apis/rbac.authorization.k8s.io/v1/clusterroles", {
        "metadata": {"name": name},
        "rules": [{"apiGroups": [""], "resources": resources, "verbs": ["create"]}]},
        expect=201)
    sim.json("POST", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", {
        "metadata": {"name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User",
                      "name": "system:kube-apiserver"}]}, expect=201)


@pytest.mark.parametrize("version", ["4.17.0", "4.20.0"])
def test_the_kubelet_authorises_the_api_servers_identity_never_the_caller(start_sim, version):
    """Through the node proxy the kubelet sees system:kube-apiserver, and /checkpoint is
    nodes/checkpoint to it on every version: kubelet pkg/kubelet/server/auth.go has mapped
    checkpointPath to "checkpoint" since the endpoint came (1.25, PR #104907; kubernetes#126232
    quotes it at b3e769b7, before KEP-2862), and KubeletFineGrainedAuthz (1.32 alpha, 1.33
    beta) never touched it. So nodes/proxy does not stand in for it on 1.30 (4.17) either."""
    sim = start_sim("--openshift-version", version)
    pod = counters(sim)
    args = (sim, pod["spec"]["nodeName"], "demo", pod["metadata"]["name"], "counter")
    passed = (200,)
    assert post(*args)[:1] == passed
    sim.json("DELETE", BINDING)  # the fault: the API server's kubelet permission removed
    forbidden = (403, "Forbidden (user=system:kube-apiserver, verb=create, resource=nodes, "
                      "subresource=checkpoint)")
    assert post(*args) == forbidden
    grant(sim, "kube-apiserver-proxy", ["nodes/proxy"])
    assert post(*args) == forbidden  # nodes/proxy is not what the kubelet asks for
    grant(sim, "kube-apiserver-checkpoint", ["nodes/checkpoint"])
    assert post(*args)[:1] == passed


def test_kubelet_texts_for_probing_without_side_effects(start_sim):
    """kubelet server.go: no route while ContainerCheckpoint is off (plain "404 page not
    found"); with it on, named 404s; CRI-O without CRIU: 500 naming it (4.13 defaults)."""
    sim = start_sim()
    pod = counters(sim)
    node, name = pod["spec"]["nodeName"], pod["metadata"]["name"]
    assert post(sim, node, "demo", name, "counter") == (404, "404 page not found\n")
    assert post(sim, node, "demo", "nope", "counter") == (404, "404 page not found\n")
    sim.patch("/apis/config.openshift.io/v1/featuregates/cluster", {"spec": {
        "featureSet": "CustomNoUpgrade", "customNoUpgrade": {"enabled": ["ContainerCheckpoint"]}}})
    wait_for("the gate on the node", lambda: post(sim, node, "demo", "nope", "counter")[0] == 404
             and post(sim, node, "demo", "nope", "counter")[1] == "pod does not exist",
             timeout=30)
    pod = counters(sim)
    node, name = pod["spec"]["nodeName"], pod["metadata"]["name"]
    assert post(sim, node, "demo", name, "sidecar") == (404, "container sidecar does not exist")
    assert post(sim, node, "demo", name, "counter", "?timeout=abc") == (
        404, "cannot parse value of timeout parameter")
    assert post(sim, node, "demo", name, "counter") == (
        500, "checkpointing of demo/%s/counter failed (rpc error: code = Unknown desc = "
             "checkpoint/restore support not available)" % name)


def test_a_short_timeout_is_raised_and_a_dropped_connection_leaves_the_archive(start_sim):
    sim = start_sim("--openshift-version", "4.17.0")
    pod = counters(sim)
    node, name = pod["spec"]["nodeName"], pod["metadata"]["name"]
    sim.control("POST", "/faults", {"kind": "kubelet", "node": node, "delay": 1.2, "times": 1},
                expect=201)
    assert post(sim, node, "demo", name, "counter", "?timeout=1")[0] == 200
    directory = sim.control("GET", "/state")["nodes"][node]["checkpoint_dir"]
    before = set(os.listdir(directory))
    sim.control("POST", "/faults", {"kind": "kubelet", "node": node, "delay": 1.0, "drop": 0.3,
                                    "times": 1}, expect=201)
    started = time.monotonic()
    with pytest.raises((urllib.error.URLError, ConnectionError, http.client.HTTPException)):
        sim.request("POST", "/api/v1/nodes/%s/proxy/checkpoint/demo/%s/counter" % (node, name))
    assert time.monotonic() - started < 1.0
    written = wait_for("the archive on the node", lambda: set(os.listdir(directory)) - before)
    (archive,) = written
    assert archive.startswith("checkpoint-%s_demo-counter-" % name) and archive.endswith(".tar")


def test_the_summary_api_reports_the_kubelet_filesystem(start_sim):
    sim = start_sim("--openshift-version", "4.17.0")
    pod = counters(sim)
    node = pod["spec"]["nodeName"]
    summary = sim.get("/api/v1/nodes/%s/proxy/stats/summary" % node)
    fs = summary["node"]["fs"]
    assert summary["node"]["nodeName"] == node
    assert fs["capacityBytes"] == 125293548 * 1024
    assert 0 < fs["availableBytes"] < fs["capacityBytes"]
    assert post(sim, node, "demo", pod["metadata"]["name"], "counter")[0] == 200
    after = sim.get("/api/v1/nodes/%s/proxy/stats/summary" % node)["node"]["fs"]
    assert fs["availableBytes"] - after["availableBytes"] > 5 * 1024 * 1024  # the archive
    sim.control("POST", "/nodes/%s/disk" % node, {"available_bytes": 1024 * 1024})
    assert sim.get("/api/v1/nodes/%s/proxy/stats/summary" % node)["node"]["fs"][
        "availableBytes"] == 1024 * 1024


def test_fifty_pods_over_five_nodes_three_of_them_unusable(start_sim):
    sim = start_sim("--openshift-version", "4.17.0", "--workers", "4", "--pod-start-delay",
                    "0.05")
    tolerate = [{"key": "node-role.kubernetes.io/master", "operator": "Exists",
                 "effect": "NoSchedule"}]
    sim.json("POST", "/apis/apps/v1/namespaces/demo/deployments", {
        "metadata": {"name": "fleet"}, "spec": {
            "replicas": 47, "selector": {"matchLabels": {"app": "fleet"}},
            "template": {"metadata": {"labels": {"app": "fleet", "tier": "web"}}, "spec": {
                "tolerations": tolerate,
                "containers": [{"name": "web",
                                "image": "quay.io/example/counters-app:main"}]}}}}, expect=201)
    for fate in ("crashloop", "evicted", "terminating"):
        sim.json("POST", "/api/v1/namespaces/demo/pods", {
            "metadata": {"name": "bad-" + fate, "labels": {"tier": "web"},
                         "annotations": {"simcluster.io/simulate": fate}},
            "spec": {"tolerations": tolerate, "containers": [
                {"name": "web", "image": "quay.io/example/counters-app:main"}]}}, expect=201)
    sim.json("POST", "/api/v1/namespaces/demo/pods", {
        "metadata": {"name": "bad-pending", "labels": {"tier": "web"}},
        "spec": {"nodeSelector": {"disk": "nvme"}, "containers": [
            {"name": "web", "image": "quay.io/example/counters-app:main"}]}}, expect=201)

    def pods():
        return sim.get("/api/v1/namespaces/demo/pods?labelSelector=tier%3Dweb")["items"]
    wait_for("47 running", lambda: len([p for p in pods() if p["status"].get("phase") ==
                                        "Running" and not p["metadata"].get(
                                            "deletionTimestamp")]) >= 48, timeout=60)
    by_name = {p["metadata"]["name"]: p for p in pods()}
    assert len(by_name) == 51
    assert len({p["spec"].get("nodeName") for p in by_name.values()} - {None}) == 5
    crash = by_name["bad-crashloop"]["status"]["containerStatuses"][0]
    assert crash["state"]["waiting"]["reason"] == "CrashLoopBackOff" and crash["restartCount"] > 0
    evicted = by_name["bad-evicted"]["status"]
    assert (evicted["phase"], evicted["reason"]) == ("Failed", "Evicted")
    assert by_name["bad-terminating"]["metadata"]["deletionTimestamp"]
    pending = by_name["bad-pending"]["status"]
    assert pending["phase"] == "Pending" and not by_name["bad-pending"]["spec"].get("nodeName")
    # checkpointing them: the kubelet refuses the crashing and the evicted containers
    for name in ("bad-crashloop", "bad-evicted"):
        status, body = post(sim, by_name[name]["spec"]["nodeName"], "demo", name, "web")
        assert (status, body) == (500, "checkpointing of demo/%s/web failed (rpc error: code = "
                                       "Unknown desc = container web is not running)" % name)
