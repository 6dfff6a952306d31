# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""FeatureGate logic: interlocks, gate-name checks, default-on detection, idempotence."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from cluster_fake import FakeCluster, api_error

from ansible_collections.forensic.checkpoint.plugins.module_utils.cluster import feature_gate
from ansible_collections.forensic.checkpoint.plugins.module_utils.errors import CheckpointError

PATH = feature_gate.PATH
NODES = "/api/v1/nodes"


def cluster_with(spec=None, status=None, minor=26, dry_run=False):
    fg = {"apiVersion": "config.openshift.io/v1", "kind": "FeatureGate",
          "metadata": {"name": "cluster", "resourceVersion": "1"}, "spec": spec or {}}
    if status:
        fg["status"] = status
    return FakeCluster({PATH: fg, NODES + "/worker-0": {"metadata": {"name": "worker-0"}}},
                       minor=minor, dry_run=dry_run)


def spec_of(cluster):
    return cluster.objects[PATH]["spec"]


def test_default_featureset_needs_the_irreversibility_interlock():
    cluster = cluster_with()
    with pytest.raises(CheckpointError) as caught:
        feature_gate.ensure(cluster, ["ContainerCheckpoint"])
    assert "can never be undone" in str(caught.value)
    assert "accept_irreversible=true" in str(caught.value)
    assert cluster.writes == []


def test_enable_then_nothing_to_do():
    cluster = cluster_with()
    first = feature_gate.ensure(cluster, ["ContainerCheckpoint"], accept_irreversible=True)
    assert first["changed"] is True
    assert spec_of(cluster) == {"featureSet": "CustomNoUpgrade",
                                "customNoUpgrade": {"enabled": ["ContainerCheckpoint"], "disabled": []}}
    assert first["diff"]["before"] == {"spec": {}}
    second = feature_gate.ensure(cluster, ["ContainerCheckpoint"])
    assert second["changed"] is False and len(cluster.writes) == 1


def test_check_mode_is_a_server_side_dry_run_and_changes_nothing():
    cluster = cluster_with(dry_run=True)
    result = feature_gate.ensure(cluster, ["ContainerCheckpoint"], accept_irreversible=True, check_mode=True)
    assert result["changed"] is True and "dry run" in result["msg"]
    assert cluster.writes[0]["dry_run"] is True
    assert spec_of(cluster) == {}


def test_existing_custom_gates_are_kept():
    cluster = cluster_with({"featureSet": "CustomNoUpgrade",
                            "customNoUpgrade": {"enabled": ["NodeSwap"], "disabled": ["ContainerCheckpoint"]}})
    result = feature_gate.ensure(cluster, ["ContainerCheckpoint"])
    assert result["enabled"] == ["NodeSwap", "ContainerCheckpoint"] and result["disabled"] == []


def test_disable_moves_the_gate():
    cluster = cluster_with({"featureSet": "CustomNoUpgrade", "customNoUpgrade": {"enabled": ["ContainerCheckpoint"]}})
    feature_gate.ensure(cluster, ["ContainerCheckpoint"], state="disabled")
    assert spec_of(cluster)["customNoUpgrade"] == {"enabled": [], "disabled": ["ContainerCheckpoint"]}


@pytest.mark.parametrize("feature_set", ["TechPreviewNoUpgrade", "DevPreviewNoUpgrade"])
def test_preview_featuresets_are_not_switched(feature_set):
    cluster = cluster_with({"featureSet": feature_set})
    with pytest.raises(CheckpointError) as caught:
        feature_gate.ensure(cluster, ["ContainerCheckpoint"], accept_irreversible=True)
    assert "featureSet is %s" % feature_set in str(caught.value)
    assert cluster.writes == []


def test_unknown_gate_is_refused_unless_allowed():
    cluster = cluster_with()
    cluster.answers[("GET", NODES + "/worker-0/proxy/metrics")] = api_error(403, "forbidden")
    with pytest.raises(CheckpointError) as caught:
        feature_gate.ensure(cluster, ["ContainerChekpoint"], accept_irreversible=True)
    assert str(caught.value).startswith("feature gate ContainerChekpoint: not known to this cluster")
    assert "stops every kubelet" in str(caught.value)
    result = feature_gate.ensure(cluster, ["ContainerChekpoint"], accept_irreversible=True, allow_unknown=True)
    assert result["enabled"] == ["ContainerChekpoint"]


def test_gates_are_learnt_from_status_and_kubelet_metrics():
    status = {"featureGates": [{"version": "4.14.0", "enabled": [{"name": "OpenShiftOnly"}], "disabled": []}]}
    cluster = cluster_with(status=status)
    cluster.answers[("GET", NODES + "/worker-0/proxy/metrics")] = (
        '# HELP kubernetes_feature_enabled ...\n'
        'kubernetes_feature_enabled{name="KubeletOnly",stage="ALPHA"} 0\n')
    result = feature_gate.ensure(cluster, ["OpenShiftOnly", "KubeletOnly"], accept_irreversible=True)
    assert result["enabled"] == ["OpenShiftOnly", "KubeletOnly"]


def test_names_that_cannot_be_gates_are_refused_before_any_call():
    cluster = cluster_with()
    with pytest.raises(CheckpointError):
        feature_gate.ensure(cluster, ["Container Checkpoint"], allow_unknown=True, accept_irreversible=True)
    assert cluster.writes == []


def test_on_by_default_from_1_30_changes_nothing_unless_forced():
    cluster = cluster_with(minor=30)
    result = feature_gate.ensure(cluster, ["ContainerCheckpoint"])
    assert result["changed"] is False and result["default_on"] == ["ContainerCheckpoint"]
    assert "enabled by default on Kubernetes 1.30" in result["msg"]
    forced = feature_gate.ensure(cluster, ["ContainerCheckpoint"], force=True, accept_irreversible=True)
    assert forced["changed"] is True


def test_default_on_but_explicitly_disabled_is_re_enabled():
    cluster = cluster_with({"featureSet": "CustomNoUpgrade", "customNoUpgrade": {"disabled": ["ContainerCheckpoint"]}},
                           minor=31)
    result = feature_gate.ensure(cluster, ["ContainerCheckpoint"])
    assert result["changed"] is True and result["disabled"] == []


def test_conflict_and_api_refusal_are_one_line():
    cluster = cluster_with()
    cluster.answers[("PATCH", PATH)] = api_error(409, "the object has been modified")
    with pytest.raises(CheckpointError) as caught:
        feature_gate.ensure(cluster, ["ContainerCheckpoint"], accept_irreversible=True)
    assert str(caught.value) == "FeatureGate cluster: changed by someone else while this ran; run again"
    cluster.answers[("PATCH", PATH)] = api_error(422, 'FeatureGate.config.openshift.io "cluster" is invalid: '
                                                      'spec.featureSet: Invalid value: "string": CustomNoUpgrade may not be changed')
    with pytest.raises(CheckpointError) as caught:
        feature_gate.ensure(cluster, ["ContainerCheckpoint"], accept_irreversible=True)
    assert "the API refused the change" in str(caught.value) and "\n" not in str(caught.value)


def test_not_openshift():
    cluster = FakeCluster({})
    cluster.answers[("GET", PATH)] = api_error(404, "not found")
    with pytest.raises(CheckpointError) as caught:
        feature_gate.ensure(cluster, ["ContainerCheckpoint"])
    assert "is this an OpenShift cluster" in str(caught.value)
