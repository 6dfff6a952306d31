# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""forensic.checkpoint.node_disruption_policy through ansible: on the session cluster (whatever
version it is, real or simulated) a check-mode run that changes nothing; on a simulated 4.17 the
whole cycle, with the operator's merged status; on 4.16 the gate decides."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from harness.api import Api
from harness.testing import simulated

MODULE = "forensic.checkpoint.node_disruption_policy"
MCOP = "/apis/operator.openshift.io/v1/machineconfigurations/cluster"
DROPIN = "/etc/crio/crio.conf.d/05-enable-criu"
RESTART = [{"type": "Restart", "restart": {"serviceName": "crio.service"}}]
SOMEONE = {"path": "/etc/sudoers.d/ops", "actions": [{"type": "None"}]}


def test_check_mode_tells_support_and_changes_nothing(cluster, api, ansible):
    before = api.get(MCOP)
    result = ansible.module(MODULE, {"state": "present"}, check=True, diff=True)
    assert result.get("failed") is not True, result.get("msg")
    assert api.get(MCOP) == before
    if before is None:  # OpenShift 4.13-4.15 (the simulator's default is 4.13)
        assert result["supported"] is False and result["changed"] is False
        assert "need OpenShift 4.16 or later" in result["msg"]
    elif result["supported"]:
        present = [f for f in ((before.get("spec") or {}).get("nodeDisruptionPolicy") or {}).get("files") or []
                   if f["path"] == DROPIN]
        assert result["changed"] is (present != [{"path": DROPIN, "actions": RESTART}])


@pytest.fixture(scope="module")
def sim417(tmp_path_factory):
    with simulated(str(tmp_path_factory.mktemp("sim-417")), "--openshift-version", "4.17.2") as started:
        yield started


@pytest.mark.simulated_only
def test_the_whole_cycle_on_417(sim417):
    cluster, ansible = sim417
    api = Api(cluster)
    api.patch(MCOP, {"spec": {"nodeDisruptionPolicy": {"files": [SOMEONE]}}})

    dry = ansible.module(MODULE, {"state": "present"}, check=True, diff=True)
    assert dry["changed"] is True and dry["supported"] is True
    assert dry["diff"]["after"]["files"] == [SOMEONE, {"path": DROPIN, "actions": RESTART}]
    assert api.get(MCOP)["spec"]["nodeDisruptionPolicy"]["files"] == [SOMEONE]

    first = ansible.module(MODULE, {"state": "present"})
    assert first["changed"] is True and first.get("failed") is not True, first.get("msg")
    assert api.get(MCOP)["spec"]["nodeDisruptionPolicy"]["files"] == [SOMEONE, {"path": DROPIN, "actions": RESTART}]
    # waited for the operator: the daemon's merged policy already says Restart
    assert first["effective_actions"] == RESTART and first["effective_from"] == "status"
    merged = api.get(MCOP)["status"]["nodeDisruptionPolicyStatus"]["clusterPolicies"]["files"]
    assert {"path": DROPIN, "actions": RESTART} in merged and SOMEONE in merged

    second = ansible.module(MODULE, {"state": "present"})
    assert second["changed"] is False

    refused = ansible.module(MODULE, {"action": "Restart", "service": "crio"})
    assert refused["failed"] is True and refused["msg"].startswith("service 'crio': Restart needs a systemd unit")

    gone = ansible.module(MODULE, {"state": "absent"})
    assert gone["changed"] is True and gone["effective_actions"] is None
    assert api.get(MCOP)["spec"]["nodeDisruptionPolicy"]["files"] == [SOMEONE]


@pytest.mark.simulated_only
def test_416_without_the_gate_is_unsupported_or_a_failure_when_asked(tmp_path):
    with simulated(str(tmp_path / "sim"), "--openshift-version", "4.16.3") as (cluster, ansible):
        result = ansible.module(MODULE, {"state": "present"})
        assert result["supported"] is False and result["changed"] is False
        assert "NodeDisruptionPolicy feature gate is off" in result["msg"]
        assert "nodeDisruptionPolicy" not in (Api(cluster).get(MCOP).get("spec") or {})
        failed = ansible.module(MODULE, {"fail_unsupported": True})
        assert failed["failed"] is True and failed["msg"].startswith("MachineConfiguration cluster: the NodeDisruptionPolicy")
        # What the message asks for can be done: 4.16 knows the gate (its FeatureGate status lists
        # it, disabled), so feature_gate takes its name without allow_unknown.
        gate_args = {"gates": ["NodeDisruptionPolicy"], "accept_irreversible": True}
        gate = ansible.module("forensic.checkpoint.feature_gate", gate_args, check=True)
        assert gate.get("failed") is not True and gate["changed"] is True, gate.get("msg")
