# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Role enable_checkpointing with node disruption policies. On OpenShift 4.16 whose FeatureGate
already has ContainerCheckpoint and NodeDisruptionPolicy on, the CRI-O drop-in rolls out with a
CRI-O restart: no node reboots (boot IDs unchanged) and the counters container keeps running (same
container ID and start time), so its memory is still the evidence. On 4.15 (no MachineConfiguration
API) the drop-in drains and reboots every node, as before (MCO release-4.16 update.go,
calculatePostConfigChangeNodeDisruptionActionFromMCDiffs; pkg/operator/sync.go
syncMachineConfiguration)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from harness.api import CRIU_MC, FEATUREGATE, MCO_API, Api, wait_for
from harness.testing import TEST_SETTINGS, Ansible, SimulatedCluster
from rolehelpers import FAST, explain, machine_config_names, playbook, tasks_named

pytestmark = pytest.mark.simulated_only  # needs a cluster of a chosen OpenShift version


def _boot_ids(api):
    return {n["metadata"]["name"]: n["status"]["nodeInfo"]["bootID"] for n in api.get("/api/v1/nodes")["items"]}


def _counters(api):
    pods = api.get("/api/v1/namespaces/demo/pods", labelSelector="app=counters")["items"]
    (pod,) = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
    status = pod["status"]["containerStatuses"][0]
    return pod["metadata"]["uid"], status["containerID"], status["state"]["running"]["startedAt"], status["restartCount"]


def _settled(api):
    """Every pool updated to its target on every machine."""
    for pool in api.get(MCO_API + "/machineconfigpools")["items"]:
        status = pool.get("status") or {}
        if status.get("configuration", {}).get("name") != pool["spec"]["configuration"].get("name") or \
                status.get("updatedMachineCount") != status.get("machineCount"):
            return False
    return True


def _cluster_with_gates(tmp_path, version, gates):
    """A simulated cluster of ``version`` (one worker: rollouts go node by node) whose
    CustomNoUpgrade gates are already rolled out."""
    cluster = SimulatedCluster.start(str(tmp_path / "sim"), tuple(TEST_SETTINGS) + ("--openshift-version", version, "--workers", "1"))
    api = Api(cluster)
    if not gates:
        return cluster, api
    api.patch(FEATUREGATE, {"spec": {"featureSet": "CustomNoUpgrade", "customNoUpgrade": {"enabled": gates}}})
    rendered = api.get(MCO_API + "/machineconfigpools/worker")["spec"]["configuration"]["name"]
    wait_for("the gate rollout", lambda: api.get(MCO_API + "/machineconfigpools/worker")["spec"]["configuration"]
             ["name"] != rendered and _settled(api), timeout=90)
    return cluster, api


def _enable(cluster, **extra):
    runner = Ansible(cluster)
    try:
        return runner.playbook(playbook("enable.yml"), dict(FAST, **extra))
    finally:
        runner.close()


def test_416_with_the_gates_on_restarts_crio_and_keeps_the_containers(tmp_path):
    cluster, api = _cluster_with_gates(tmp_path, "4.16.3", ["ContainerCheckpoint", "NodeDisruptionPolicy"])
    try:
        boots, counters = _boot_ids(api), _counters(api)
        result = _enable(cluster)
        assert result.rc == 0, explain(result)
        assert CRIU_MC in machine_config_names(cluster)
        (policy,) = tasks_named(result, "roll out with a CRI-O restart instead of reboots")
        assert policy["supported"] is True and policy["changed"] is True, policy
        assert policy["effective_actions"] == [{"type": "Restart", "restart": {"serviceName": "crio.service"}}]
        assert _boot_ids(api) == boots
        assert _counters(api) == counters
        state = cluster.sim.state()["nodes"]
        assert state["worker-0"]["criu_support"] is True, state
        summary = tasks_named(result, "Show how the CRI-O drop-in rolled out")[-1]["msg"]
        assert summary.startswith("The CRI-O drop-in rolled out with a CRI-O restart"), summary
    finally:
        cluster.close()


def test_415_has_no_policies_and_reboots_as_before(tmp_path):
    cluster, api = _cluster_with_gates(tmp_path, "4.15.9", [])
    try:
        boots, counters = _boot_ids(api), _counters(api)
        result = _enable(cluster, enable_checkpointing_accept_irreversible=True)
        assert result.rc == 0, explain(result)
        (policy,) = tasks_named(result, "roll out with a CRI-O restart instead of reboots")
        assert policy["supported"] is False and policy["changed"] is False, policy
        after = _boot_ids(api)
        # the gate reaches the master too; the drop-in alone would have rebooted the workers
        assert sorted(n for n in after if after[n] != boots[n]) == ["master-0", "worker-0"]
        assert _counters(api)[1] != counters[1]  # a new container: the old process and its memory are gone
        summary = tasks_named(result, "Show how the CRI-O drop-in rolled out")[-1]["msg"]
        assert summary == "The CRI-O drop-in rolled out with reboots (master-0, worker-0)", summary
    finally:
        cluster.close()
