# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""checkpoint_analyze as Ansible runs it: result, fact, check mode, one-line failures."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

import pytest
from module_args import module_args

from ansible_collections.forensic.checkpoint.plugins.modules import checkpoint_analyze


def run_module(capsys, args, check_mode=False):
    if check_mode:
        args = dict(args, _ansible_check_mode=True)
    with module_args(args):
        with pytest.raises(SystemExit):
            checkpoint_analyze.main()
    return json.loads(capsys.readouterr().out)


def test_result_and_fact(archives, capsys):
    result = run_module(capsys, {"path": archives["counters"]})
    assert result["changed"] is False and "failed" not in result
    analysis = result["analysis"]
    assert result["ansible_facts"]["checkpoint_analysis"] == analysis
    assert analysis["processes"][0]["cmdline"] == "python3 /app/counter.py"
    assert "exported" not in analysis


def test_export_defaults_to_both_and_check_mode_writes_nothing(archives, capsys, tmp_path):
    target = tmp_path / "evidence"
    dry = run_module(capsys, {"path": archives["lookup"], "export_dir": str(target), "include": ["files"]},
                     check_mode=True)
    assert dry["changed"] is True and not target.exists()
    assert sorted(set(e["kind"] for e in dry["analysis"]["exported"])) == ["recovered", "rootfs"]
    real = run_module(capsys, {"path": archives["lookup"], "export_dir": str(target), "include": ["files"]})
    assert real["changed"] is True and (target / "recovered" / "var" / "log" / "lookup-audit.log").is_file()
    again = run_module(capsys, {"path": archives["lookup"], "export_dir": str(target), "include": ["files"]})
    assert again["changed"] is False


def test_export_needs_export_dir(archives, capsys):
    result = run_module(capsys, {"path": archives["lookup"], "export": ["recovered"]})
    assert result["failed"] is True and "export_dir" in result["msg"]


def test_failure_is_one_line_without_traceback(capsys, tmp_path):
    missing = str(tmp_path / "absent.tar")
    result = run_module(capsys, {"path": missing})
    assert result["failed"] is True
    assert result["msg"] == missing + ": no such file or directory"
    assert "exception" not in result


@pytest.mark.parametrize("scan_memory", [True, False])
def test_scan_memory_option(archives, capsys, scan_memory):
    """The indicator is only in the service's heap: found there with scan_memory, not without."""
    result = run_module(capsys, {"path": archives["counters"], "indicators": ["RANDOM_1432_KEY"], "scan_memory": scan_memory})
    hits = [item for item in result["analysis"]["findings"] if item["id"] == "indicator.match"]
    in_memory = [item for item in hits if "memory" in item["evidence"]]
    assert bool(in_memory) is scan_memory
    if scan_memory:
        assert in_memory[0]["address_hex"] == "0x7f5ea804e320" and in_memory[0]["vma"] == "anon"
