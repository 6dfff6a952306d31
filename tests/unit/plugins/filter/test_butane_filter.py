# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The forensic.checkpoint.butane filter: dict and YAML outputs, errors as filter errors."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.forensic.checkpoint.plugins.filter.butane import FilterModule

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "butane"
BUTANE = FilterModule().filters()["butane"]


def test_yaml_output_is_butanes_text():
    source = (FIXTURES / "05-worker-enable-criu.bu").read_text()
    assert BUTANE(source, output="yaml") == (FIXTURES / "05-worker-enable-criu.yaml").read_text()


def test_dict_output_is_the_machine_config():
    mc = BUTANE((FIXTURES / "05-worker-enable-criu.bu").read_text())
    assert mc["kind"] == "MachineConfig"
    assert mc["spec"]["config"]["storage"]["files"][0]["mode"] == 420


def test_files_dir_is_passed_on():
    text = BUTANE((FIXTURES / "99-worker-kitchen-sink.bu").read_text(), "yaml", str(FIXTURES / "files"))
    assert text == (FIXTURES / "99-worker-kitchen-sink.yaml").read_text()


@pytest.mark.parametrize("args, problem", [
    (({"variant": "openshift", "version": "4.13.0"},), "butane: metadata.name"),
    (("variant: openshift\nversion: 4.13.0\n", "json"), "butane: output must be dict or yaml"),
])
def test_errors_are_filter_errors(args, problem):
    with pytest.raises(AnsibleFilterError) as caught:
        BUTANE(*args)
    assert str(caught.value).startswith(problem)


def test_decimal_mode_warning_is_displayed(monkeypatch):
    shown = []
    monkeypatch.setattr("ansible.utils.display.Display.warning", lambda self, msg, *a, **k: shown.append(msg))
    BUTANE({"variant": "openshift", "version": "4.13.0",
            "metadata": {"name": "x", "labels": {"machineconfiguration.openshift.io/role": "worker"}},
            "storage": {"files": [{"path": "/etc/x", "mode": 444}]}})
    assert shown == ["butane: storage.files.0.mode: unreasonable mode would be reasonable if specified in octal; "
                     "remember to add a leading zero"]
