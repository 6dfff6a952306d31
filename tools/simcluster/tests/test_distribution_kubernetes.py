# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""``--distribution kubernetes``: plain Kubernetes with CRI-O. No OpenShift API group is served;
the ContainerCheckpoint gate (beta, on from 1.30) and CRI-O's CRIU support (on from CRI-O 1.30,
reference notes section 2) take their defaults, so a checkpoint works with nothing enabled; no
SCC admission and no internal registry; the kubelet sees kubeadm's API server identity."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import subprocess
import sys

from simtest import value_if, wait_for
from test_checkpoint_realism import BINDING, post
from test_images_builds import NS, REGISTRY, pod_spec, waiting
from test_versions_topologies import counters

OPENSHIFT_GROUPS = ("machineconfiguration.openshift.io", "config.openshift.io", "build.openshift.io",
                    "image.openshift.io", "route.openshift.io", "security.openshift.io",
                    "operator.openshift.io")


def test_no_openshift_group_and_a_checkpoint_with_nothing_enabled(start_sim):
    sim = start_sim("--distribution", "kubernetes")
    groups = [g["name"] for g in sim.get("/apis")["groups"]]
    assert groups and not [g for g in groups if g.endswith(".openshift.io")]
    for group in OPENSHIFT_GROUPS:
        assert sim.request("GET", "/apis/%s" % group)[0] == 404, group
        assert sim.request("GET", "/apis/%s/v1" % group)[0] == 404, group
    assert sim.get("/version")["minor"] == "31"
    nodes = sim.get("/api/v1/nodes")["items"]
    assert {n["status"]["nodeInfo"]["containerRuntimeVersion"] for n in nodes} == {"cri-o://1.31.4"}
    assert not [n for n in nodes if "node.openshift.io/os_id" in n["metadata"]["labels"]]
    assert not [ns for ns in sim.get("/api/v1/namespaces")["items"]
                if ns["metadata"]["name"].startswith("openshift")]

    pod = counters(sim)
    node, name = pod["spec"]["nodeName"], pod["metadata"]["name"]
    assert post(sim, node, "demo", "nope", "counter") == (404, "pod does not exist")
    status, body = post(sim, node, "demo", name, "counter")
    assert status == 200 and json.loads(body)["items"][0].startswith(
        "/var/lib/kubelet/checkpoints/checkpoint-%s_demo-counter-" % name)

    # the kubelet authorises kubeadm's apiserver-kubelet-client, in kubeadm:cluster-admins
    sim.json("DELETE", BINDING)
    assert post(sim, node, "demo", name, "counter") == (
        403, "Forbidden (user=kube-apiserver-kubelet-client, verb=create, resource=nodes, "
             "subresource=checkpoint)")


def test_no_scc_admission_and_no_internal_registry(start_sim):
    sim = start_sim("--distribution", "kubernetes")
    spec = pod_spec("privileged", "quay.io/example/a:1", volumes=[
        {"name": "ck", "hostPath": {"path": "/var/lib/kubelet/checkpoints"}}])
    spec["spec"]["containers"][0]["securityContext"] = {"privileged": True}
    created = sim.json("POST", NS + "/pods", spec, expect=201)
    assert "openshift.io/scc" not in (created["metadata"].get("annotations") or {})

    image = "%s/forensic/analyser:latest" % REGISTRY
    sim.json("POST", NS + "/pods", pod_spec("internal", image), expect=201)
    pulled = wait_for("ErrImagePull", lambda: value_if(
        waiting(sim, "internal"), lambda w: w["reason"] == "ErrImagePull"))
    assert "lookup image-registry.openshift-image-registry.svc: no such host" in pulled["message"]


def test_only_versions_where_checkpointing_defaults_on(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "simcluster", "start", "--state-dir", str(tmp_path),
                           "--distribution", "kubernetes", "--kubernetes-version", "1.29.3"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode != 0
    assert "--distribution kubernetes needs --kubernetes-version 1.30 or newer" in proc.stderr + proc.stdout
    assert "Traceback" not in proc.stderr
