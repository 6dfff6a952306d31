# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The kubelet checkpoint API behind the node proxy: what it answers before and after the
gate and the CRI-O drop-in reach a node, the archive it writes, and its failure modes."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import gzip
import io
import json
import os
import re
import tarfile

import pytest

from simcluster import kubelet
from harness.testing import SimulatedCluster, pool_rolled_out, wait_for

pytestmark = pytest.mark.simulated_only

MCO = "machineconfiguration.openshift.io"
POD, NS, CTR, NODE = "counters-7d9f8b6c5d-x2x4q", "demo", "counter", "worker-1"
NAME_RE = re.compile(r"^checkpoint-(?P<pod>.+)_(?P<ns>[^_]+)-(?P<ctr>[^-]+)-"
                     r"(?P<stamp>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d))\.tar$")
DROPIN = "[crio.runtime]\nenable_criu_support = true\n"


def _criu_mc(source, compression=""):
    return {"apiVersion": MCO + "/v1", "kind": "MachineConfig",
            "metadata": {"name": "05-worker-enable-criu", "labels": {MCO + "/role": "worker"}},
            "spec": {"config": {"ignition": {"version": "3.2.0"}, "storage": {"files": [{
                "contents": {"compression": compression, "source": source}, "mode": 420,
                "overwrite": True, "path": "/etc/crio/crio.conf.d/05-enable-criu"}]}}}}


PLAIN = _criu_mc("data:,%5Bcrio.runtime%5D%0Aenable_criu_support%20%3D%20true%0A")
_DEFAULT_MC = object()  # _enable's default: PLAIN (None applies no MachineConfig at all)


def checkpoint(cluster, node=NODE, ns=NS, pod=POD, ctr=CTR, query="", identity="checkpointer",
               method="POST"):
    path = "/api/v1/nodes/%s/proxy/checkpoint/%s/%s/%s%s" % (node, ns, pod, ctr, query)
    status, headers, body = cluster.request(method, path, identity=identity)
    return status, headers.get("Content-Type", ""), body.decode()


def _pool(cluster, name):
    return cluster.dynamic().resources.get(api_version=MCO + "/v1",
                                           kind="MachineConfigPool").get(name=name).to_dict()


def _enable(cluster, gate=True, machine_config=_DEFAULT_MC, wait=True):
    if machine_config is _DEFAULT_MC:
        machine_config = PLAIN
    dyn = cluster.dynamic()
    before = {name: _pool(cluster, name)["spec"]["configuration"]["name"]
              for name in ("worker", "master")}
    if gate:
        dyn.resources.get(api_version="config.openshift.io/v1", kind="FeatureGate").patch(
            name="cluster", content_type="application/merge-patch+json", body={"spec": {
                "featureSet": "CustomNoUpgrade",
                "customNoUpgrade": {"enabled": ["ContainerCheckpoint"]}}})
    if machine_config:
        dyn.resources.get(api_version=MCO + "/v1", kind="MachineConfig").create(
            body=machine_config)
    if wait:
        # 98-<pool>-generated-kubelet exists from install: a gate change updates it in place,
        # so completion is a new rendered config reached, not a new source name
        def done(name):
            pool = _pool(cluster, name)
            return pool["spec"]["configuration"]["name"] != before[name] and \
                pool_rolled_out(pool)
        wait_for(lambda: done("worker") and (not gate or done("master")), 30,
                 what="the rollout")


def _counters_pod(cluster):
    pods = cluster.dynamic().resources.get(api_version="v1", kind="Pod").get(
        namespace=NS, label_selector="app=counters").to_dict()["items"]
    pod = next(p for p in pods if not p["metadata"].get("deletionTimestamp"))
    return pod["metadata"]["name"], pod["spec"]["nodeName"], pod


def test_404_while_the_gate_has_not_reached_the_node(fresh_cluster):
    status, ctype, body = checkpoint(fresh_cluster)
    assert (status, body) == (404, "404 page not found\n")
    assert ctype.startswith("text/plain")


def test_500_while_crio_has_no_criu_support(fresh_cluster):
    _enable(fresh_cluster, machine_config=None)
    pod, node, _pod_obj = _counters_pod(fresh_cluster)
    status, _ctype, body = checkpoint(fresh_cluster, node, pod=pod)
    assert status == 500
    assert body == ("checkpointing of demo/%s/counter failed (rpc error: code = Unknown desc = "
                    "checkpoint/restore support not available)" % pod)


def test_a_real_archive_under_the_kubelet_name(fresh_cluster):
    _enable(fresh_cluster)
    pod_name, node, pod = _counters_pod(fresh_cluster)
    status, ctype, body = checkpoint(fresh_cluster, node, pod=pod_name, query="?timeout=20")
    assert status == 200 and ctype.startswith("application/json")
    items = json.loads(body)["items"]
    assert len(items) == 1 and items[0].startswith("/var/lib/kubelet/checkpoints/")
    name = os.path.basename(items[0])
    match = NAME_RE.match(name)
    assert match and (match["pod"], match["ns"], match["ctr"]) == (pod_name, NS, CTR)
    assert match["stamp"].endswith("Z")

    local = os.path.join(fresh_cluster.sim.checkpoint_dir(node), name)
    assert oct(os.stat(local).st_mode & 0o777) == "0o600"
    archive = tarfile.open(local)
    template = tarfile.open(fileobj=io.BytesIO(kubelet._template()))
    assert archive.getnames() == template.getnames()
    spec = json.load(archive.extractfile("spec.dump"))
    ann = spec["annotations"]
    assert ann["io.kubernetes.pod.name"] == pod_name
    assert ann["io.kubernetes.pod.namespace"] == NS
    assert ann["io.kubernetes.pod.uid"] == pod["metadata"]["uid"]
    assert ann["io.kubernetes.container.name"] == CTR
    assert ann["io.kubernetes.cri-o.IP.0"] == pod["status"]["podIP"]
    assert ann["io.kubernetes.cri-o.ContainerID"] == \
        pod["status"]["containerStatuses"][0]["containerID"].split("//")[1]
    assert ann["io.container.manager"] == "cri-o"
    config = json.load(archive.extractfile("config.dump"))
    assert config["name"] == ann["io.kubernetes.cri-o.Name"]
    assert config["name"].startswith("k8s_counter_%s_demo_%s_" % (pod_name,
                                                                  pod["metadata"]["uid"]))
    # enabling drained and rebooted the node: this is a new counters process, whose memory
    # holds the key it generated at start, not the original one (the evidence-loss trap)
    pages = archive.extractfile("checkpoint/pages-1.img").read()
    original = template.extractfile("checkpoint/pages-1.img").read()
    assert len(pages) == len(original) and b"RANDOM_1432_KEY" in original
    assert b"RANDOM_1432_KEY" not in pages and re.search(rb"RANDOM_\d{4}_KEY", pages)
    # other nodes' checkpoint directories stay empty
    for other in ("worker-0", "worker-1", "worker-2"):
        if other != node:
            assert os.listdir(fresh_cluster.sim.checkpoint_dir(other)) == []


@pytest.mark.parametrize("form", ["base64", "gzip"])
def test_drop_in_delivered_base64_or_gzipped(fresh_cluster, form):
    data = DROPIN.encode()
    if form == "gzip":
        mc = _criu_mc("data:;base64," + base64.b64encode(gzip.compress(data)).decode(), "gzip")
    else:
        mc = _criu_mc("data:;base64," + base64.b64encode(data).decode())
    _enable(fresh_cluster, machine_config=mc)
    pod, node, _pod_obj = _counters_pod(fresh_cluster)
    assert checkpoint(fresh_cluster, node, pod=pod)[0] == 200


def test_the_gate_is_per_node_as_the_rollout_reaches_it(fresh_cluster):
    sim = fresh_cluster.sim
    sim.settings(rollout_delay=0.6, render_delay=0.1)
    core = fresh_cluster.api_client()
    from kubernetes import client as k8s
    v1 = k8s.CoreV1Api(core)
    # the MCO's drain evicts bare pods too (drain.Helper with Force): DaemonSet pods stay
    k8s.AppsV1Api(core).create_namespaced_daemon_set("default", {
        "metadata": {"name": "probe"}, "spec": {
            "selector": {"matchLabels": {"app": "probe"}},
            "template": {"metadata": {"labels": {"app": "probe"}}, "spec": {
                "nodeSelector": {"node-role.kubernetes.io/worker": ""},
                "containers": [{"name": "c", "image": "registry.example/p:1"}]}}}})
    probes = {}

    def running():
        pods = v1.list_namespaced_pod("default", label_selector="app=probe").items
        probes.clear()
        probes.update({p.spec.node_name: p.metadata.name for p in pods
                       if p.status.phase == "Running"})
        return len(probes) == 3
    wait_for(running, 10, what="the probe pods")
    dyn = fresh_cluster.dynamic()
    dyn.resources.get(api_version=MCO + "/v1", kind="MachineConfig").create(body=PLAIN)
    _enable(fresh_cluster, machine_config=None, wait=False)
    seen = set()

    def complete(name):
        """Judged on the content of the config the node runs (98-worker-generated-kubelet is a
        source from install on, and the pool's target can move on while the nodes are asked)."""
        rendered = dyn.resources.get(api_version=MCO + "/v1", kind="MachineConfig").get(name=name).to_dict()
        files = {f["path"]: f["contents"]["source"] for f in rendered["spec"]["config"]["storage"]["files"]}
        return "/etc/crio/crio.conf.d/05-enable-criu" in files and \
            "ContainerCheckpoint" in files["/etc/kubernetes/kubelet.conf"]

    def config_of(node):
        ann = v1.read_node(node).metadata.annotations
        return ann[MCO + "/currentConfig"], ann.get(MCO + "/desiredConfig"), ann.get(MCO + "/state")

    def observe():
        pool = _pool(fresh_cluster, "worker")
        for node in ("worker-0", "worker-1", "worker-2"):
            before = config_of(node)
            status, _ct, text = checkpoint(fresh_cluster, node, "default", probes[node], "c")
            current, desired, state = config_of(node)
            if before != (current, desired, state):
                continue  # the node moved while we asked
            if state == "Done" and current == desired:
                if complete(current):
                    assert status == 200, (node, status, text)
                else:
                    assert status in (404, 503), (node, status)  # 503: rebooting
                seen.add((node, status))
            elif not complete(desired):
                # mid-update the rebooted kubelet already runs the desired config: the MCD sets
                # currentConfig only after it has checked the on-disk state on first run after
                # the reboot, so only a node bound for an incomplete config must refuse
                assert status in (404, 503), (node, status)
        return pool_rolled_out(pool, "05-worker-enable-criu")
    wait_for(observe, 30, interval=0.1, what="the rollout")
    statuses = {s for _node, s in seen}
    assert {404, 200} <= statuses, seen


def test_kubelet_answers_for_unknown_pods_containers_and_bad_queries(fresh_cluster):
    _enable(fresh_cluster)
    pod, node, _pod_obj = _counters_pod(fresh_cluster)
    assert checkpoint(fresh_cluster, node, pod="nope")[::2] == (404, "pod does not exist")
    other = next(n for n in ("worker-0", "worker-1", "worker-2") if n != node)
    assert checkpoint(fresh_cluster, other, pod=pod)[::2] == (404, "pod does not exist")
    assert checkpoint(fresh_cluster, node, pod=pod, ctr="sidecar")[::2] == (
        404, "container sidecar does not exist")
    assert checkpoint(fresh_cluster, node, pod=pod, query="?timeout=soon")[::2] == (
        404, "cannot parse value of timeout parameter")
    assert checkpoint(fresh_cluster, node, pod=pod, method="GET")[0] == 405
    status, _ctype, body = checkpoint(fresh_cluster, "worker-9", pod=pod)
    assert status == 404 and json.loads(body)["message"] == 'nodes "worker-9" not found'
    status, _ctype, body = checkpoint(fresh_cluster, node, pod=pod, identity="viewer")
    assert status == 403
    assert 'cannot create resource "nodes/proxy"' in json.loads(body)["message"]


def test_kubelet_failures_timeouts_and_unreachable_nodes(fresh_cluster):
    _enable(fresh_cluster)
    pod, node, _pod_obj = _counters_pod(fresh_cluster)
    with fresh_cluster.sim.kubelet_fault(node, message="CRIU dump failed: see dump.log",
                                         times=1):
        status, _ctype, body = checkpoint(fresh_cluster, node, pod=pod)
    assert status == 500
    assert body == ("checkpointing of demo/%s/counter failed (rpc error: code = Unknown desc = "
                    "CRIU dump failed: see dump.log)" % pod)
    assert checkpoint(fresh_cluster, node, pod=pod)[0] == 200  # used up: healthy again

    # the kubelet raises a timeout below its runtimeRequestTimeout (2 min) to it
    with fresh_cluster.sim.kubelet_fault(node, delay=1.5):
        status, _ctype, body = checkpoint(fresh_cluster, node, pod=pod, query="?timeout=1")
    assert status == 200, body
    fresh_cluster.sim.settings(runtime_request_timeout=1.0)
    with fresh_cluster.sim.kubelet_fault(node, delay=3.0):
        status, _ctype, body = checkpoint(fresh_cluster, node, pod=pod, query="?timeout=1")
    assert status == 500 and body.endswith(
        "(rpc error: code = DeadlineExceeded desc = context deadline exceeded)")
    fresh_cluster.sim.settings(runtime_request_timeout=120.0)

    fresh_cluster.sim.set_kubelet_ready(node, False)
    status, _ctype, body = checkpoint(fresh_cluster, node, pod=pod)
    assert status == 503
    assert json.loads(body)["message"].startswith("error trying to reach service: dial tcp ")
    ready = fresh_cluster.kubectl("get", "node", node, "-o",
                                  "jsonpath={.status.conditions[?(@.type=='Ready')].status}")
    assert ready.stdout == "False"
    fresh_cluster.sim.set_kubelet_ready(node, True)
    assert checkpoint(fresh_cluster, node, pod=pod)[0] == 200


def test_node_local_time_zone_in_file_names(fresh_cluster):
    _enable(fresh_cluster)
    fresh_cluster.sim.settings(node_utc_offset_minutes=480)
    pod, node, _pod_obj = _counters_pod(fresh_cluster)
    status, _ctype, body = checkpoint(fresh_cluster, node, pod=pod)
    assert status == 200
    assert NAME_RE.match(os.path.basename(json.loads(body)["items"][0]))["stamp"].endswith(
        "+08:00")


def test_configz_shows_the_running_kubelets_gates(fresh_cluster):
    status, _headers, body = fresh_cluster.request("GET", "/api/v1/nodes/worker-0/proxy/configz")
    assert status == 200
    assert "ContainerCheckpoint" not in json.loads(body)["kubeletconfig"]["featureGates"]
    _enable(fresh_cluster, machine_config=None)
    status, _headers, body = fresh_cluster.request("GET", "/api/v1/nodes/worker-0/proxy/configz")
    assert json.loads(body)["kubeletconfig"]["featureGates"]["ContainerCheckpoint"] is True


def test_kubernetes_1_30_and_later_need_no_workflow(tmp_path):
    cluster = SimulatedCluster.start(str(tmp_path / "ocp417"), extra_args=(
        "--openshift-version", "4.17.0", "--checkpoint-delay", "0"))
    try:
        version = json.loads(cluster.request("GET", "/version")[2])
        assert (version["major"], version["minor"]) == ("1", "30")
        status, _ctype, body = checkpoint(cluster)
        assert status == 200, body
        assert json.loads(body)["items"][0].startswith(
            "/var/lib/kubelet/checkpoints/checkpoint-%s_demo-counter-" % POD)
    finally:
        cluster.close()
