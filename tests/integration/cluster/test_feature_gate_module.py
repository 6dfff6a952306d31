# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""forensic.checkpoint.feature_gate through ansible against a cluster."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from cluster_helpers import irreversible_allowed
from harness.api import FEATUREGATE

MODULE = "forensic.checkpoint.feature_gate"


def spec(api):
    return api.get(FEATUREGATE).get("spec") or {}


def sim_fresh(cluster, request):
    """On the simulator start from the initial FeatureGate; a real cluster is taken as it is."""
    if cluster.sim is not None:
        request.getfixturevalue("fresh")


def test_check_mode_changes_nothing(cluster, api, ansible, request):
    sim_fresh(cluster, request)
    before = spec(api)
    result = ansible.module(MODULE, {"accept_irreversible": True}, check=True, diff=True)
    assert result.get("failed") is not True, result.get("msg")
    if before.get("featureSet") == "CustomNoUpgrade" and "ContainerCheckpoint" in (
            before.get("customNoUpgrade") or {}).get("enabled", []):
        assert result["changed"] is False
    elif result.get("default_on"):
        assert result["changed"] is False
    else:
        assert result["changed"] is True and "dry run" in result["msg"]
        assert result["diff"]["after"]["spec"]["customNoUpgrade"]["enabled"][-1] == "ContainerCheckpoint"
    assert spec(api) == before


def test_irreversibility_interlock(cluster, api, ansible, request):
    sim_fresh(cluster, request)
    before = spec(api)
    if before.get("featureSet") == "CustomNoUpgrade":
        pytest.skip("the cluster is already on CustomNoUpgrade: there is nothing left to interlock")
    result = ansible.module(MODULE, {"gates": ["ContainerCheckpoint"], "force": True})
    assert result.rc != 0 and result["failed"] is True
    assert "can never be undone and blocks minor-version upgrades" in result["msg"]
    assert "accept_irreversible=true" in result["msg"]
    assert spec(api) == before


def test_unknown_gate_is_refused(cluster, api, ansible):
    before = spec(api)
    result = ansible.module(MODULE, {"gates": ["ContainerChekpoint"], "accept_irreversible": True})
    assert result["failed"] is True
    assert result["msg"].startswith("feature gate ContainerChekpoint: not known to this cluster")
    assert spec(api) == before


def test_first_run_changes_second_does_not(cluster, api, ansible, request):
    if not irreversible_allowed(cluster):
        pytest.skip("irreversible on a real cluster: set FORENSIC_ALLOW_IRREVERSIBLE=1 to run it")
    sim_fresh(cluster, request)
    first = ansible.module(MODULE, {"accept_irreversible": True}, diff=True)
    assert first.get("failed") is not True, first.get("msg")
    if not first.get("default_on"):
        assert spec(api)["featureSet"] == "CustomNoUpgrade"
        assert "ContainerCheckpoint" in spec(api)["customNoUpgrade"]["enabled"]
    second = ansible.module(MODULE, {"accept_irreversible": True})
    assert second["changed"] is False and second.get("failed") is not True


@pytest.mark.simulated_only
def test_the_api_then_refuses_to_go_back(fresh, ansible):
    assert ansible.module(MODULE, {"accept_irreversible": True})["changed"] is True
    from kubernetes.dynamic.exceptions import DynamicApiError

    with pytest.raises(DynamicApiError) as caught:
        fresh.patch(FEATUREGATE, {"spec": {"featureSet": ""}})
    assert caught.value.status == 422


@pytest.mark.simulated_only
def test_least_privilege_identities(fresh, ansible):
    denied = ansible.module(MODULE, {"accept_irreversible": True}, identity="viewer")
    assert denied["failed"] is True and "(HTTP 403)" in denied["msg"] and "\n" not in denied["msg"]
    allowed = ansible.module(MODULE, {"accept_irreversible": True}, identity="enabler")
    assert allowed["changed"] is True, allowed.get("msg")


def test_token_is_never_printed(cluster, ansible):
    token = cluster.token("viewer")
    play = ("- hosts: localhost\n  gather_facts: false\n  tasks:\n"
            "    - forensic.checkpoint.feature_gate:\n"
            "        host: '{{ host }}'\n        api_key: '{{ token }}'\n"
            "        validate_certs: false\n        accept_irreversible: true\n"
            "      check_mode: true\n")
    result = ansible.playbook(play, extra_vars={"host": cluster.host, "token": token}, args=("-vvv",),
                              env={"ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.default"})
    output = result.stdout + result.stderr
    assert "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER" in output  # the module ran and its args were masked
    assert token not in output


@pytest.fixture(scope="module")
def cluster_417(tmp_path_factory, cluster):
    """A second simulator running OpenShift 4.17 (Kubernetes 1.30): checkpointing on by default."""
    if cluster.sim is None:
        pytest.skip("needs the simulator")
    from harness.testing import TEST_SETTINGS, SimulatedCluster

    handle = SimulatedCluster.start(str(tmp_path_factory.mktemp("simcluster-417")),
                                    extra_args=TEST_SETTINGS + ("--openshift-version", "4.17.0"))
    yield handle
    handle.close()


@pytest.mark.simulated_only
def test_on_by_default_from_kubernetes_1_30(cluster_417, ansible):
    env = dict(cluster_417.env())
    result = ansible.module(MODULE, {"accept_irreversible": True}, env=env)
    assert result["changed"] is False and result["default_on"] == ["ContainerCheckpoint"]
    assert result["kubernetes_version"] == "1.30"
    preset = ansible.module("forensic.checkpoint.machine_config", {"preset": "crio_criu"}, env=env)
    assert preset["changed"] is False and preset["default_on"] is True
    assert "CRI-O enables CRIU support by default" in preset["msg"]
