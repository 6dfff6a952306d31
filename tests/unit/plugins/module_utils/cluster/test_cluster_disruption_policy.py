# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Node disruption policy logic: availability by version and gate, merge-preserving writes,
idempotence, check mode, pruning, the merged status and path matching."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from cluster_fake import FakeCluster, api_error

from ansible_collections.forensic.checkpoint.plugins.module_utils.cluster import disruption_policy as ndp
from ansible_collections.forensic.checkpoint.plugins.module_utils.cluster import feature_gate
from ansible_collections.forensic.checkpoint.plugins.module_utils.errors import CheckpointError

PATH = ndp.PATH
DROPIN = "/etc/crio/crio.conf.d/05-enable-criu"
RESTART = ndp.wanted_actions("Restart", "crio.service")
DEFAULTS = [{"path": "/var/lib/kubelet/config.json", "actions": [{"type": "None"}]},
            {"path": "/etc/containers/registries.d", "actions": [{"type": "Reload", "reload": {"serviceName": "crio.service"}}]}]
SOMEONE = {"path": "/etc/sudoers.d/ops", "actions": [{"type": "None"}]}


class OperatorCluster(FakeCluster):
    """The fake API plus what the MCO's syncMachineConfiguration does after each write: the
    defaults with the spec's files over them in status (only where the feature is on)."""

    def __init__(self, objects, minor, operator=True, **kwargs):
        super(OperatorCluster, self).__init__(objects, minor=minor, **kwargs)
        self.operator = operator
        self.sync()

    def sync(self):
        mcop = self.objects.get(PATH)
        if mcop is None or not self.operator:
            return
        merged = dict((p["path"], p) for p in DEFAULTS)
        for entry in ((mcop.get("spec") or {}).get("nodeDisruptionPolicy") or {}).get("files") or []:
            merged[entry["path"]] = entry
        mcop["status"] = {"nodeDisruptionPolicyStatus": {"clusterPolicies": {"files": list(merged.values())}}}

    def _write(self, method, path, body):
        new = super(OperatorCluster, self)._write(method, path, body)
        self.sync()
        return new


def cluster_with(minor=30, files=None, featuregate=None, operator=True, **kwargs):
    objects = {PATH: {"apiVersion": "operator.openshift.io/v1", "kind": "MachineConfiguration",
                      "metadata": {"name": "cluster", "resourceVersion": "7"},
                      "spec": {"managementState": "Managed"}}}
    if files is not None:
        objects[PATH]["spec"]["nodeDisruptionPolicy"] = {"files": files}
    if featuregate is not None:
        objects[feature_gate.PATH] = {"metadata": {"name": "cluster"}, "spec": featuregate}
    return OperatorCluster(objects, minor, operator, **kwargs)


def spec_files(cluster):
    return cluster.objects[PATH]["spec"].get("nodeDisruptionPolicy", {}).get("files")


def test_no_machineconfiguration_api_is_unsupported_not_a_failure():
    """OpenShift 4.13-4.15: no MachineConfiguration CRD (MCO install/ has it from release-4.16)."""
    cluster = FakeCluster({}, minor=28)
    result = ndp.ensure(cluster, DROPIN, RESTART)
    assert result["supported"] is False and result["changed"] is False
    assert "OpenShift 4.16 or later" in result["msg"] and cluster.writes == []
    with pytest.raises(CheckpointError) as caught:
        ndp.ensure(cluster, DROPIN, RESTART, fail_unsupported=True)
    assert str(caught.value).startswith("MachineConfiguration cluster:")


def test_416_without_the_gate_writes_nothing():
    """4.16 Default featureSet: the operator writes no status and the daemon ignores policies."""
    cluster = cluster_with(minor=29, featuregate={}, operator=False)
    result = ndp.ensure(cluster, DROPIN, RESTART)
    assert result["supported"] is False and cluster.writes == []
    assert "NodeDisruptionPolicy feature gate is off" in result["msg"]


def test_416_with_the_gate_in_customnoupgrade_writes_before_the_status_exists():
    cluster = cluster_with(minor=29, featuregate={"featureSet": "CustomNoUpgrade", "customNoUpgrade": {
        "enabled": ["ContainerCheckpoint", "NodeDisruptionPolicy"]}}, operator=False)
    result = ndp.ensure(cluster, DROPIN, RESTART, wait=False)
    assert result["supported"] is True and result["changed"] is True
    assert spec_files(cluster) == [{"path": DROPIN, "actions": RESTART}]
    assert result["effective_from"] == "unknown" and "no merged status yet" in result["msg"]


def test_featuregate_unreadable_falls_back_to_unsupported_without_status():
    cluster = cluster_with(minor=29, operator=False)
    cluster.answers[("GET", feature_gate.PATH)] = api_error(403, "forbidden")
    assert ndp.ensure(cluster, DROPIN, RESTART)["supported"] is False


def test_adds_the_policy_keeping_others_then_nothing_to_do():
    cluster = cluster_with(files=[SOMEONE])
    first = ndp.ensure(cluster, DROPIN, RESTART)
    assert first["changed"] is True and first["supported"] is True
    assert spec_files(cluster) == [SOMEONE, {"path": DROPIN, "actions": RESTART}]
    write = cluster.writes[0]
    assert write["content_type"] == "application/merge-patch+json"
    assert write["body"]["metadata"]["resourceVersion"] == "7"  # conditional: a concurrent edit is a 409
    assert first["diff"] == {"before": {"files": [SOMEONE]}, "after": {"files": [SOMEONE, {"path": DROPIN, "actions": RESTART}]}}
    assert first["effective_actions"] == RESTART and first["effective_from"] == "status"
    assert "added to MachineConfiguration cluster" in first["msg"] and first["msg"].endswith("Restart crio.service")
    second = ndp.ensure(cluster, DROPIN, RESTART)
    assert second["changed"] is False and len(cluster.writes) == 1
    assert "already in" in second["msg"]


def test_replaces_other_actions_for_the_same_path():
    cluster = cluster_with(files=[{"path": DROPIN, "actions": [{"type": "Reboot"}]}, SOMEONE])
    result = ndp.ensure(cluster, DROPIN, RESTART)
    assert result["changed"] is True and "updated in" in result["msg"]
    assert spec_files(cluster) == [SOMEONE, {"path": DROPIN, "actions": RESTART}]


def test_absent_removes_only_that_path():
    cluster = cluster_with(files=[SOMEONE, {"path": DROPIN, "actions": RESTART}])
    result = ndp.ensure(cluster, DROPIN, [], state="absent")
    assert result["changed"] is True and spec_files(cluster) == [SOMEONE]
    assert result["effective_actions"] is None  # no policy: the daemon reboots
    assert "Reboot (no policy)" in result["msg"]
    again = ndp.ensure(cluster, DROPIN, [], state="absent")
    assert again["changed"] is False and len(cluster.writes) == 1


def test_absent_of_the_last_policy_removes_the_list():
    cluster = cluster_with(files=[{"path": DROPIN, "actions": RESTART}])
    ndp.ensure(cluster, DROPIN, [], state="absent")
    assert cluster.writes[0]["body"]["spec"]["nodeDisruptionPolicy"] == {"files": None}
    assert spec_files(cluster) is None


def test_check_mode_is_a_dry_run_and_does_not_wait():
    cluster = cluster_with(files=[SOMEONE], dry_run=True)
    result = ndp.ensure(cluster, DROPIN, RESTART, check_mode=True, wait_timeout=0)
    assert result["changed"] is True and "dry run" in result["msg"]
    assert cluster.writes[0]["dry_run"] is True and spec_files(cluster) == [SOMEONE]
    assert result["policies"] == [SOMEONE, {"path": DROPIN, "actions": RESTART}]
    assert result["effective_actions"] is None  # the status still says: no policy for it


def test_a_pruned_field_means_unsupported():
    """A 4.16 cluster whose CRD (Default feature set) has no spec.nodeDisruptionPolicy: the API
    server drops the field and answers 200 with the object without it."""
    cluster = cluster_with(minor=29, featuregate={"featureSet": "TechPreviewNoUpgrade"}, operator=False)
    cluster.answers[("PATCH", PATH)] = dict(cluster.objects[PATH])
    result = ndp.ensure(cluster, DROPIN, RESTART)
    assert result["supported"] is False and result["changed"] is False
    assert "dropped spec.nodeDisruptionPolicy" in result["msg"]


def test_conflict_and_refusal_are_one_line():
    cluster = cluster_with()
    cluster.answers[("PATCH", PATH)] = api_error(409, "the object has been modified")
    with pytest.raises(CheckpointError, match="changed by someone else while this ran"):
        ndp.ensure(cluster, DROPIN, RESTART)
    cluster.answers[("PATCH", PATH)] = api_error(422, "spec.nodeDisruptionPolicy.files: Too many: 51")
    with pytest.raises(CheckpointError, match="the API refused the policy: spec.nodeDisruptionPolicy.files: Too many"):
        ndp.ensure(cluster, DROPIN, RESTART)


def test_too_many_policies_is_refused_before_writing():
    cluster = cluster_with(files=[{"path": "/etc/f%d" % i, "actions": [{"type": "None"}]} for i in range(50)])
    with pytest.raises(CheckpointError, match="at most 50"):
        ndp.ensure(cluster, DROPIN, RESTART)
    assert cluster.writes == []


def test_waits_for_the_merged_status():
    cluster = cluster_with(files=[], operator=False)
    cluster.objects[PATH]["status"] = {"nodeDisruptionPolicyStatus": {"clusterPolicies": {"files": DEFAULTS}}}
    reads = []

    def operator_catches_up(body, query):
        reads.append(1)
        mcop = dict(cluster.objects[PATH])
        if len(reads) >= 3:  # the operator's sync loop wrote the status by the third read
            mcop["status"] = {"nodeDisruptionPolicyStatus": {"clusterPolicies": {
                "files": DEFAULTS + [{"path": DROPIN, "actions": RESTART}]}}}
        return mcop
    cluster.answers[("GET", PATH)] = [dict(cluster.objects[PATH]), operator_catches_up]
    result = ndp.ensure(cluster, DROPIN, RESTART, wait_sleep=0)
    assert len(reads) == 3 and result["effective_actions"] == RESTART and not result["warnings"]


def test_a_status_that_never_catches_up_is_a_warning():
    cluster = cluster_with(files=[], operator=False)
    cluster.objects[PATH]["status"] = {"nodeDisruptionPolicyStatus": {"clusterPolicies": {"files": DEFAULTS}}}
    result = ndp.ensure(cluster, DROPIN, RESTART, wait_timeout=0, wait_sleep=0)
    assert result["changed"] is True and result["effective_actions"] is None
    assert "still shows Reboot (no policy)" in result["warnings"][0]


def test_directory_paths_warn_on_416():
    cluster = cluster_with(minor=29, featuregate={"featureSet": "TechPreviewNoUpgrade"})
    result = ndp.ensure(cluster, "/etc/crio/crio.conf.d/", RESTART)
    assert "exact file path only" in result["warnings"][0]


@pytest.mark.parametrize("path,directories,expected", [
    (DROPIN, True, RESTART),
    ("/etc/containers/registries.d/quay.yaml", True, DEFAULTS[1]["actions"]),
    ("/etc/containers/registries.d/quay.yaml", False, None),  # 4.16: exact paths only
    ("/etc/containers/registries.dx", True, None),  # a sibling sharing the prefix is not under it
    ("/etc/crio/crio.conf.d/99-other", True, [{"type": "None"}]),
    ("/etc/kubernetes/kubelet.conf", True, None),
])
def test_closest_policy_matches_as_the_daemon_does(path, directories, expected):
    """FindClosestFilePolicyPathMatch (4.17+): equal, or under the policy directory; longest wins."""
    policies = {"files": DEFAULTS + [{"path": "/etc/crio/crio.conf.d", "actions": [{"type": "None"}]},
                                     {"path": DROPIN, "actions": RESTART}]}
    assert ndp.closest(policies, path, directories) == expected


@pytest.mark.parametrize("minor,spec,on", [
    (28, {"featureSet": "CustomNoUpgrade", "customNoUpgrade": {"enabled": ["NodeDisruptionPolicy"]}}, False),
    (29, {}, False),
    (29, {"featureSet": "TechPreviewNoUpgrade"}, True),
    (29, {"featureSet": "DevPreviewNoUpgrade"}, True),
    (29, {"featureSet": "CustomNoUpgrade", "customNoUpgrade": {"enabled": ["ContainerCheckpoint"]}}, False),
    (29, {"featureSet": "CustomNoUpgrade", "customNoUpgrade": {"enabled": ["NodeDisruptionPolicy"]}}, True),
    (30, {}, True),
    (30, {"featureSet": "CustomNoUpgrade", "customNoUpgrade": {"disabled": ["NodeDisruptionPolicy"]}}, False),
])
def test_gate_by_version_and_featureset(minor, spec, on):
    """features.go: NodeDisruptionPolicy enableIn(DevPreview, TechPreview) on 4.16, plus Default from 4.17."""
    assert ndp.gate_on({"spec": spec}, minor) is on


def test_actions_are_validated_as_the_crd_does():
    assert ndp.wanted_actions("Reload", "sshd.service") == [{"type": "Reload", "reload": {"serviceName": "sshd.service"}}]
    assert ndp.wanted_actions("None") == [{"type": "None"}]
    for action, service, problem in (("Restart", None, "needs a systemd unit name"),
                                     ("Restart", "crio", "needs a systemd unit name"),
                                     ("Restart", "cri o.service", "needs a systemd unit name"),
                                     ("None", "crio.service", "only Restart and Reload"),
                                     ("Special", None, "not a node disruption policy action")):
        with pytest.raises(CheckpointError, match=problem):
            ndp.wanted_actions(action, service)
    with pytest.raises(CheckpointError, match="absolute"):
        ndp.ensure(cluster_with(), "etc/crio", RESTART)
