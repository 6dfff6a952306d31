# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Node disruption policies by OpenShift version: the daemon's path matching (exact on 4.16,
directories from 4.17), the cluster defaults of each release, the CRD's validation, and the
4.16 Default CRD that has no spec.nodeDisruptionPolicy (the API server drops it)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest
from simtest import wait_for

from simcluster import admission, disruption
from simcluster.errors import ApiError
from simcluster.resources import Registry

MCOP = "/apis/operator.openshift.io/v1/machineconfigurations/cluster"
FG = "/apis/config.openshift.io/v1/featuregates/cluster"
DROPIN = "/etc/crio/crio.conf.d/05-enable-criu"
RESTART_CRIO = {"type": "Restart", "restart": {"serviceName": "crio.service"}}
MACHINECONFIGURATIONS = Registry().get("operator.openshift.io", "machineconfigurations")


def _spec(*files):
    return {"config": {"storage": {"files": [{"path": p, "contents": {"source": "data:," + c}}
                                             for p, c in files]}}}


@pytest.mark.parametrize("policy_path, minor, expected", [
    (DROPIN, 16, [RESTART_CRIO]),
    (DROPIN, 17, [RESTART_CRIO]),
    # release-4.16 update.go compares policy and file paths for equality only
    ("/etc/crio/crio.conf.d", 16, [disruption.REBOOT]),
    # FindClosestFilePolicyPathMatch (4.17+): a policy directory covers the files under it
    ("/etc/crio/crio.conf.d", 17, [RESTART_CRIO]),
    ("/etc/crio/crio.conf.d/", 17, [RESTART_CRIO]),
    ("/etc/crio/crio.conf", 17, [disruption.REBOOT]),  # a prefix that is not a parent directory
])
def test_which_policy_covers_the_drop_in(policy_path, minor, expected):
    policies = disruption.merged_policies({"files": [{"path": policy_path, "actions": [RESTART_CRIO]}]}, minor)
    old, new = _spec(), _spec((DROPIN, "x"))
    assert disruption.actions(old, new, policies, minor) == expected


def test_a_kubelet_change_in_the_same_update_still_reboots():
    """Every changed file needs a policy; kubelet.conf (a gate change) has none by default."""
    policies = disruption.merged_policies({"files": [{"path": DROPIN, "actions": [RESTART_CRIO]}]}, 17)
    new = _spec((DROPIN, "x"), ("/etc/kubernetes/kubelet.conf", "{}"))
    assert disruption.actions(_spec(), new, policies, 17) == [disruption.REBOOT]


def test_416_hard_codes_registries_d_and_nmstate():
    """release-4.16 update.go: the two directory exceptions of the exact-match daemon."""
    policies = disruption.merged_policies({}, 16)
    assert disruption.actions(_spec(), _spec(("/etc/containers/registries.d/a.yaml", "x")), policies, 16) == [
        {"type": "Reload", "reload": {"serviceName": "crio.service"}}]
    assert disruption.actions(_spec(), _spec(("/etc/nmstate/openshift/a.yml", "x")), policies, 16) == [
        disruption.NONE]


@pytest.mark.parametrize("minor, count, has_crio_policies", [(16, 4, False), (17, 7, False), (18, 8, True)])
def test_cluster_defaults_by_release(minor, count, has_crio_policies):
    """pkg/apihelpers/apihelpers.go defaultClusterPolicies per release branch; a user policy for a
    default's path replaces it in place (MergeClusterPolicies)."""
    merged = disruption.merged_policies({"files": [{"path": "/var/lib/kubelet/config.json",
                                                    "actions": [disruption.REBOOT]}]}, minor)
    paths = [f["path"] for f in merged["files"]]
    assert len(paths) == count and ("/etc/crio/policies" in paths) is has_crio_policies
    assert merged["files"][0] == {"path": "/var/lib/kubelet/config.json", "actions": [disruption.REBOOT]}


@pytest.mark.parametrize("actions, message", [
    ([{"type": "Restart"}], "restart is required when type is Restart, and forbidden otherwise"),
    ([{"type": "None", "reload": {"serviceName": "crio.service"}}], "reload is required when type is Reload"),
    ([{"type": "Restart", "restart": {"serviceName": "crio"}}], "Invalid ${SERVICETYPE} in service name"),
    ([{"type": "None"}, RESTART_CRIO], "None action can only be specified standalone"),
    ([{"type": "Special"}], 'Unsupported value: "Special"'),
])
def test_the_crd_rules_refuse_bad_policies(actions, message):
    """openshift/api MachineConfiguration CRD: enum, the reload/restart union rules, the
    serviceName rules and the standalone Reboot/None rules."""
    obj = {"metadata": {"name": "cluster"}, "spec": {"nodeDisruptionPolicy": {"files": [
        {"path": DROPIN, "actions": actions}]}}}
    with pytest.raises(ApiError) as caught:
        admission.validate(MACHINECONFIGURATIONS, obj, openshift_minor=17)
    assert caught.value.code == 422 and message in caught.value.message


def test_duplicate_paths_are_refused():
    entry = {"path": DROPIN, "actions": [RESTART_CRIO]}
    obj = {"metadata": {"name": "cluster"}, "spec": {"nodeDisruptionPolicy": {"files": [entry, entry]}}}
    with pytest.raises(ApiError) as caught:
        admission.validate(MACHINECONFIGURATIONS, obj, openshift_minor=17)
    assert "Duplicate value" in caught.value.message


def _policy_patch(sim):
    return sim.patch(MCOP, {"spec": {"nodeDisruptionPolicy": {"files": [{"path": DROPIN, "actions": [RESTART_CRIO]}]}}})


def _gate(sim, name):
    """"enabled", "disabled" or None: where FeatureGate cluster's status lists the gate."""
    for details in (sim.get(FG).get("status") or {}).get("featureGates") or []:
        for kind in ("enabled", "disabled"):
            if any(item["name"] == name for item in details.get(kind) or []):
                return kind
    return None


def test_416_default_drops_the_field_and_techpreview_keeps_it(start_sim):
    """release-4.16's Default MachineConfiguration CRD has no nodeDisruptionPolicy: a PATCH
    answers 200 without it and the operator writes no merged status. With TechPreviewNoUpgrade
    (a CRD with the field, the gate on) the status merges the 4.16 defaults with the policy.
    FeatureGate status lists the gate either way, as every gate the release knows (what
    feature_gate checks names against): disabled, then enabled."""
    sim = start_sim("--openshift-version", "4.16.3")
    assert _gate(sim, "NodeDisruptionPolicy") == "disabled"
    answer = _policy_patch(sim)
    assert "nodeDisruptionPolicy" not in answer["spec"]
    assert "nodeDisruptionPolicyStatus" not in (sim.get(MCOP).get("status") or {})
    sim.patch(FG, {"spec": {"featureSet": "TechPreviewNoUpgrade"}})
    wait_for("the gate in the status", lambda: _gate(sim, "NodeDisruptionPolicy") == "enabled")
    answer = _policy_patch(sim)
    assert answer["spec"]["nodeDisruptionPolicy"]["files"][0]["path"] == DROPIN
    status = wait_for("the merged status", lambda: (sim.get(MCOP).get("status") or {}).get(
        "nodeDisruptionPolicyStatus"))
    paths = [f["path"] for f in status["clusterPolicies"]["files"]]
    assert paths == ["/var/lib/kubelet/config.json", "/etc/machine-config-daemon/no-reboot/containers-gpg.pub",
                     "/etc/containers/policy.json", "/etc/containers/registries.conf", DROPIN]
