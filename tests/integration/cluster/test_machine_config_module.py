# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""forensic.checkpoint.machine_config (and the butane filter) through ansible against a cluster."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

import pytest

from harness.api import MCO_API

MODULE = "forensic.checkpoint.machine_config"
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
SEED = os.path.join(REPO, "tests", "fixtures", "butane", "05-worker-enable-criu.bu")
SEED_YAML = os.path.join(REPO, "tests", "fixtures", "butane", "05-worker-enable-criu.yaml")
# A name no real cluster has, so the test can create and delete it safely.
NAME = "99-worker-forensic-it"


def mc_path(name):
    return "%s/machineconfigs/%s" % (MCO_API, name)


def butane_config(text):
    return {"variant": "openshift", "version": "4.13.0",
            "storage": {"files": [{"path": "/etc/forensic-it/marker", "mode": 0o644,
                                   "contents": {"inline": text}}]}}


@pytest.fixture
def scratch(cluster, api):
    """No MachineConfig NAME before the test, none after (a real cluster rolls out twice)."""
    api.delete(mc_path(NAME))
    yield NAME
    api.delete(mc_path(NAME))


def test_check_mode_creates_nothing(scratch, api, ansible):
    result = ansible.module(MODULE, {"name": scratch, "role": "worker", "butane": butane_config("x\n")},
                            check=True, diff=True)
    assert result["changed"] is True and "dry run" in result["msg"], result.get("msg")
    assert result["diff"]["after"]["spec"]["config"]["storage"]["files"][0]["contents"] == {"text": "x\n"}
    assert api.get(mc_path(scratch)) is None


def test_create_update_delete_are_idempotent(scratch, api, ansible):
    args = {"name": scratch, "role": "worker", "butane": butane_config("first\n")}
    first = ansible.module(MODULE, args, diff=True)
    assert first["changed"] is True, first.get("msg")
    stored = api.get(mc_path(scratch))
    assert stored["metadata"]["labels"]["machineconfiguration.openshift.io/role"] == "worker"
    assert stored["spec"]["config"]["storage"]["files"][0]["contents"] == {
        "compression": "", "source": "data:,first%0A"}
    assert ansible.module(MODULE, args)["changed"] is False

    args["butane"] = butane_config("second\n")
    updated = ansible.module(MODULE, args, diff=True)
    assert updated["changed"] is True
    contents = [updated["diff"][side]["spec"]["config"]["storage"]["files"][0]["contents"] for side in ("before", "after")]
    assert contents == [{"text": "first\n"}, {"text": "second\n"}]
    assert ansible.module(MODULE, args)["changed"] is False

    gone = ansible.module(MODULE, {"name": scratch, "state": "absent"})
    assert gone["changed"] is True and api.get(mc_path(scratch)) is None
    assert ansible.module(MODULE, {"name": scratch, "state": "absent"})["changed"] is False


def test_butane_refusals_change_nothing(scratch, api, ansible):
    config = butane_config("x")
    config["storage"]["directories"] = [{"path": "/etc/forensic-it"}]
    result = ansible.module(MODULE, {"name": scratch, "role": "worker", "butane": config})
    assert result["failed"] is True
    assert result["msg"] == "storage.directories.0: directories are not supported in this spec version"
    assert api.get(mc_path(scratch)) is None


@pytest.mark.simulated_only
def test_preset_is_the_seed_byte_for_byte_and_idempotent(fresh, ansible):
    first = ansible.module(MODULE, {"preset": "crio_criu"})
    assert first["changed"] is True and first["name"] == "05-worker-enable-criu"
    with open(SEED_YAML) as handle:
        assert first["rendered"] == handle.read()
    assert fresh.get(mc_path("05-worker-enable-criu"))["spec"]["config"]["storage"]["files"][0]["mode"] == 420
    # the same config given as the seed .bu text is the same MachineConfig: no change
    with open(SEED) as handle:
        again = ansible.module(MODULE, {"butane": handle.read()})
    assert again["changed"] is False, again.get("msg")


def test_butane_filter_in_a_playbook(ansible, tmp_path):
    out = tmp_path / "mc.yaml"
    result = ansible.playbook(
        "- hosts: localhost\n  gather_facts: false\n  tasks:\n"
        "    - ansible.builtin.copy:\n"
        "        content: \"{{ lookup('ansible.builtin.file', '%s', rstrip=false) | forensic.checkpoint.butane(output='yaml') }}\"\n"
        "        dest: %s\n" % (SEED, out))
    assert not result.failed, result.stdout[-2000:]
    with open(SEED_YAML) as handle:
        assert out.read_text() == handle.read()
