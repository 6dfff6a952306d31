# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""OpenShift versions and topologies: what changes from 4.13 to 4.19, single-node and compact
clusters, custom pools, 98-<pool>-generated-kubelet from install, and node disruption
policies (a CRI-O drop-in applied with a CRI-O restart instead of a drain and reboot)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import subprocess
import sys
import urllib.parse

import pytest
from simtest import wait_for

MCO = "/apis/machineconfiguration.openshift.io/v1"
FG = "/apis/config.openshift.io/v1/featuregates/cluster"
MCOP = "/apis/operator.openshift.io/v1/machineconfigurations/cluster"
DROPIN_PATH = "/etc/crio/crio.conf.d/05-enable-criu"


def dropin_mc(value="true", role="worker"):
    text = "[crio.runtime]\nenable_criu_support = %s\n" % value
    return {"apiVersion": "machineconfiguration.openshift.io/v1", "kind": "MachineConfig",
            "metadata": {"name": "05-%s-enable-criu" % role,
                         "labels": {"machineconfiguration.openshift.io/role": role}},
            "spec": {"config": {"ignition": {"version": "3.2.0"}, "storage": {"files": [{
                "path": DROPIN_PATH, "mode": 420, "overwrite": True,
                "contents": {"source": "data:," + urllib.parse.quote(text)}}]}}}}


def pool(sim, name):
    return sim.get(MCO + "/machineconfigpools/" + name)


def rolled_out_beyond(sim, name, old_rendered):
    """The pool reached a rendered config other than ``old_rendered`` on every machine."""
    obj = pool(sim, name)
    target = obj["spec"]["configuration"].get("name")
    status = obj.get("status") or {}
    updated = next((c for c in status.get("conditions") or [] if c["type"] == "Updated"), {})
    return target != old_rendered and status.get("configuration", {}).get("name") == target \
        and updated.get("status") == "True" and \
        status.get("updatedMachineCount") == status.get("machineCount")


def counters(sim):
    pods = sim.get("/api/v1/namespaces/demo/pods?labelSelector=app%3Dcounters")["items"]
    return next(p for p in pods if not p["metadata"].get("deletionTimestamp"))


@pytest.mark.parametrize("version, ignition, kubelet", [
    ("4.13.0", "3.2.0", "v1.26"), ("4.14.3", "3.4.0", "v1.27"), ("4.18.1", "3.4.0", "v1.31"),
    ("4.19.0", "3.5.0", "v1.32")])
def test_versions_set_the_rendered_ignition_spec_and_kubelet(start_sim, version, ignition,
                                                             kubelet):
    """MCO renders Ignition 3.2.0 up to 4.13, 3.4.0 from 4.14 (commit edaecd9c7), 3.5.0 from
    4.19 (995bf2614); each OpenShift minor ships one Kubernetes minor."""
    sim = start_sim("--openshift-version", version)
    rendered = pool(sim, "worker")["spec"]["configuration"]["name"]
    mc = sim.get(MCO + "/machineconfigs/" + rendered)
    assert mc["spec"]["config"]["ignition"]["version"] == ignition
    node = sim.get("/api/v1/nodes/worker-0")
    assert node["status"]["nodeInfo"]["kubeletVersion"].startswith(kubelet + ".")


def test_generated_kubelet_configs_exist_from_install_and_are_updated_in_place(start_sim):
    sim = start_sim()
    for name in ("master", "worker"):
        mc = sim.get(MCO + "/machineconfigs/98-%s-generated-kubelet" % name)
        sources = [s["name"] for s in pool(sim, name)["spec"]["configuration"]["source"]]
        assert "98-%s-generated-kubelet" % name in sources
    before = sim.get(MCO + "/machineconfigs/98-worker-generated-kubelet")
    old = pool(sim, "worker")["spec"]["configuration"]
    sim.patch(FG, {"spec": {"featureSet": "CustomNoUpgrade",
                            "customNoUpgrade": {"enabled": ["ContainerCheckpoint"]}}})
    wait_for("the worker pool", lambda: rolled_out_beyond(sim, "worker", old["name"]))
    after = sim.get(MCO + "/machineconfigs/98-worker-generated-kubelet")
    assert after["metadata"]["uid"] == before["metadata"]["uid"]
    assert after["metadata"]["generation"] > before["metadata"]["generation"]
    new = pool(sim, "worker")["spec"]["configuration"]
    # a gate change brings no new name: only the content (and the rendered name) moved
    assert new["source"] == old["source"] and new["name"] != old["name"]


@pytest.mark.parametrize("version, allowed", [("4.15.0", True), ("4.16.0", False)])
def test_tech_preview_to_custom_is_refused_from_4_16(start_sim, version, allowed):
    """openshift/api: up to 4.15 TechPreviewNoUpgrade may still move to CustomNoUpgrade; the
    4.16 validation forbids any change away from it."""
    sim = start_sim("--openshift-version", version)
    sim.patch(FG, {"spec": {"featureSet": "TechPreviewNoUpgrade"}})
    status, _headers, body = sim.request(
        "PATCH", FG, {"spec": {"featureSet": "CustomNoUpgrade"}},
        content_type="application/merge-patch+json")
    if allowed:
        assert status == 200, body
    else:
        assert status == 422, body
        assert b"TechPreviewNoUpgrade may not be changed" in body


def test_single_node_runs_everything_on_one_master(start_sim):
    sim = start_sim("--topology", "sno")
    nodes = sim.get("/api/v1/nodes")["items"]
    assert [n["metadata"]["name"] for n in nodes] == ["master-0"]
    labels = nodes[0]["metadata"]["labels"]
    assert "node-role.kubernetes.io/master" in labels and "node-role.kubernetes.io/worker" in labels
    assert not nodes[0]["spec"].get("taints")
    assert pool(sim, "master")["status"]["machineCount"] == 1
    assert pool(sim, "worker")["status"]["machineCount"] == 0
    assert counters(sim)["spec"]["nodeName"] == "master-0"


def test_one_worker_runs_the_workloads_on_it_and_zero_workers_is_refused(start_sim, tmp_path):
    """Tests use one-worker clusters to keep rollouts short (a pool rolls node by node)."""
    sim = start_sim("--workers", "1", "--workload", "lookup")
    nodes = [n["metadata"]["name"] for n in sim.get("/api/v1/nodes")["items"]]
    assert sorted(nodes) == ["master-0", "worker-0"]
    assert pool(sim, "worker")["status"]["machineCount"] == 1
    assert counters(sim)["spec"]["nodeName"] == "worker-0"
    proc = subprocess.run([sys.executable, "-m", "simcluster", "start", "--state-dir",
                           str(tmp_path / "none"), "--workers", "0"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 2 and "--workers: must be 1 or more" in proc.stderr


def test_compact_masters_take_the_drop_in_only_through_the_master_pool(start_sim):
    sim = start_sim("--topology", "compact")
    assert pool(sim, "master")["status"]["machineCount"] == 3
    assert pool(sim, "worker")["status"]["machineCount"] == 0
    node = counters(sim)["spec"]["nodeName"]
    assert node.startswith("master-")
    # a worker drop-in reaches no node of a compact cluster; a master one does
    old = pool(sim, "master")["spec"]["configuration"]["name"]
    sim.json("POST", MCO + "/machineconfigs", dropin_mc(role="worker"), expect=201)
    sim.json("POST", MCO + "/machineconfigs", dropin_mc(role="master"), expect=201)
    wait_for("the master pool", lambda: rolled_out_beyond(sim, "master", old))
    state = sim.control("GET", "/state")
    assert state["nodes"][node]["criu_support"] is True


def test_custom_pool_inherits_worker_configs_and_owns_its_nodes(start_sim):
    sim = start_sim("--pool", "infra=worker-2")
    infra = pool(sim, "infra")
    assert infra["status"]["machineCount"] == 1
    assert pool(sim, "worker")["status"]["machineCount"] == 2
    old = infra["spec"]["configuration"]["name"]
    sim.json("POST", MCO + "/machineconfigs", dropin_mc(), expect=201)
    wait_for("the infra pool", lambda: rolled_out_beyond(sim, "infra", old))
    sources = [s["name"] for s in pool(sim, "infra")["spec"]["configuration"]["source"]]
    assert "05-worker-enable-criu" in sources and "98-infra-generated-kubelet" in sources
    node = sim.get("/api/v1/nodes/worker-2")
    assert node["metadata"]["annotations"][
        "machineconfiguration.openshift.io/currentConfig"].startswith("rendered-infra-")


def _restart_policy(sim):
    sim.patch(MCOP, {"spec": {"nodeDisruptionPolicy": {"files": [{
        "path": DROPIN_PATH,
        "actions": [{"type": "Restart", "restart": {"serviceName": "crio.service"}}]}]}}})
    wait_for("the merged policy", lambda: any(
        f["path"] == DROPIN_PATH for f in (sim.get(MCOP).get("status") or {}).get(
            "nodeDisruptionPolicyStatus", {}).get("clusterPolicies", {}).get("files", [])))


def test_a_disruption_policy_restarts_crio_instead_of_rebooting(start_sim):
    """4.17: a files[] policy with Restart of crio.service for the drop-in path: the MCD
    writes the file and restarts CRI-O (no drain, no reboot), running containers keep their
    IDs, and CRI-O's new setting takes effect (update.go, drain.go; NodeDisruptionPolicy.md)."""
    sim = start_sim("--openshift-version", "4.17.0")
    _restart_policy(sim)
    pod = counters(sim)
    node = sim.get("/api/v1/nodes/" + pod["spec"]["nodeName"])
    old = pool(sim, "worker")["spec"]["configuration"]["name"]
    # CRI-O 1.30 enables CRIU by default; the drop-in turns it off, to see it take effect
    sim.json("POST", MCO + "/machineconfigs", dropin_mc("false"), expect=201)
    wait_for("the worker pool", lambda: rolled_out_beyond(sim, "worker", old))
    after = counters(sim)
    assert after["metadata"]["uid"] == pod["metadata"]["uid"]
    assert after["status"]["containerStatuses"][0]["containerID"] == \
        pod["status"]["containerStatuses"][0]["containerID"]
    assert after["status"]["containerStatuses"][0]["restartCount"] == 0
    node_after = sim.get("/api/v1/nodes/" + node["metadata"]["name"])
    assert node_after["status"]["nodeInfo"]["bootID"] == node["status"]["nodeInfo"]["bootID"]
    assert sim.control("GET", "/state")["nodes"][node["metadata"]["name"]][
        "criu_support"] is False
    events = sim.get("/api/v1/namespaces/default/events")["items"]
    assert any(e["reason"] == "SkipReboot" and e["involvedObject"]["name"] ==
               node["metadata"]["name"] and "crio.service was restarted" in e["message"]
               for e in events)


@pytest.mark.parametrize("version", ["4.16.0", "4.17.0"])
def test_without_an_effective_policy_the_drop_in_reboots(start_sim, version):
    """No policy for the path (4.17), or the feature still TechPreview (4.16 Default feature
    set, whatever the spec says): the daemon drains and reboots; containers restart."""
    sim = start_sim("--openshift-version", version)
    if version == "4.16.0":
        sim.patch(MCOP, {"spec": {"nodeDisruptionPolicy": {"files": [{
            "path": DROPIN_PATH,
            "actions": [{"type": "Restart", "restart": {"serviceName": "crio.service"}}]}]}}})
        assert "nodeDisruptionPolicyStatus" not in (sim.get(MCOP).get("status") or {})
    pod = counters(sim)
    node = sim.get("/api/v1/nodes/" + pod["spec"]["nodeName"])
    old = pool(sim, "worker")["spec"]["configuration"]["name"]
    sim.json("POST", MCO + "/machineconfigs", dropin_mc(), expect=201)
    wait_for("the worker pool", lambda: rolled_out_beyond(sim, "worker", old))
    node_after = sim.get("/api/v1/nodes/" + node["metadata"]["name"])
    assert node_after["status"]["nodeInfo"]["bootID"] != node["status"]["nodeInfo"]["bootID"]
    after = counters(sim)
    assert after["metadata"]["uid"] != pod["metadata"]["uid"] or \
        after["status"]["containerStatuses"][0]["containerID"] != \
        pod["status"]["containerStatuses"][0]["containerID"]
