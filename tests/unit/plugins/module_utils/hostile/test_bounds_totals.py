# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Issue 16 (B), caps that hold in total: a deleted.files of any byte size (it failed past the
16 MiB member limit), metadata members with no size bound (dump.log), and open-file rows over all
processes (max_processes x max_files allowed a million)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

import pytest

import hostile_archives as hostile
import hostile_bounds as hb
import hostile_round3 as h3

from ansible_collections.forensic.checkpoint.plugins.module_utils.analysis.analyze import analyze
from ansible_collections.forensic.checkpoint.plugins.module_utils.criu.archive import KEEP_MEMBER_LIMIT, CheckpointArchive
from ansible_collections.forensic.checkpoint.plugins.module_utils.criu.metadata import describe, keep_metadata
from ansible_collections.forensic.checkpoint.plugins.module_utils.analysis.rootfs import MAX_ENTRIES

ROOTFS = """
import json
from ansible_collections.forensic.checkpoint.plugins.module_utils.analysis.analyze import analyze
a = analyze({path!r}, include=["rootfs"])
print(json.dumps({{"deleted": len(a["rootfs"]["deleted"]), "first": a["rootfs"]["deleted"][0],
                  "omitted": a.get("omitted", {{}}).get("rootfs", 0), "warnings": a["warnings"]}}))
"""
LONG_PATH = "/var/lib/app/cache/%074d"  # 96 bytes a path in the JSON list


@pytest.fixture(scope="module")
def counters_members(archives):
    return hostile.load_members(archives["counters"])


def _deleted_run(members, tmp_path, count, compression=None):
    path = hb.many_entries_rootfs(str(tmp_path / ("d%d.tar%s" % (count, ".gz" if compression else ""))), members, 1,
                                  compression=compression, deleted_count=count, deleted_name=LONG_PATH)
    before = hb.sha256(path)
    value, rss, secs = hb.measure(ROOTFS.format(path=path), timeout=240)
    assert hb.sha256(path) == before
    assert rss <= hb.RSS_LIMIT_MB, (count, rss)
    return value, secs


@pytest.mark.parametrize("compression, count", [(None, 440000), ("gz", 220000)])
def test_forty_mib_of_deleted_paths_is_streamed_and_capped(counters_members, tmp_path, compression, count):
    """440k paths, 40 MiB of deleted.files (20 MiB compressed: past the member limit, so the
    compressed archive does not even hold it): the first MAX_ENTRIES listed, the rest counted in
    omitted.rootfs, with a warning."""
    assert count * 96 > KEEP_MEMBER_LIMIT
    value, secs = _deleted_run(counters_members, tmp_path, count, compression)
    assert value["deleted"] == MAX_ENTRIES and value["first"] == LONG_PATH % 0
    assert value["omitted"] == count - MAX_ENTRIES
    assert any("lists %d paths: only the first %d" % (count, MAX_ENTRIES) in w for w in value["warnings"]), value
    assert secs < 60


def test_deleted_paths_read_in_linear_time(counters_members, tmp_path):
    """2.5 MiB and 10 MiB of paths: about 4 times as long (generous bound for a loaded machine)."""
    _small, t_small = _deleted_run(counters_members, tmp_path, 27500)
    _large, t_large = _deleted_run(counters_members, tmp_path, 110000)
    base = hb.measure("print(1)")[2]
    assert t_large - base <= 8 * max(t_small - base, 0.2), (t_small, t_large, base)


@pytest.mark.parametrize("document, paths, problem", [
    ({"/etc/issue": 1}, [], "deleted.files: not a JSON list; ignored"),
    (b'["/etc/issue", "/tmp/x", "/tmp/cut', ["/etc/issue", "/tmp/x"],
     "deleted.files: not valid JSON after item 2; the 2 paths before it are reported"),
    (b'["/etc/issue" "/tmp/x"]', ["/etc/issue"], "deleted.files: expected ',' or ']' after item 1;"),
    (b'["/etc/issue", "' + b"x" * (3 << 20) + b'"]', ["/etc/issue"], "deleted.files: item 1 is longer than"),
    (b'["/etc/issue", "/tmp/\xff"]', [], "deleted.files: not UTF-8"),  # decoded a read at a time
    (b'["/a", ' + b"[" * 100000 + b"]" * 100000 + b"]", ["/a"], "deleted.files: item 1 is nested too deeply"),
    (["/etc/issue", 5, {"a": 1}, "var/x"], ["/etc/issue", "/var/x"], "deleted.files: 2 entries are not strings"),
])
def test_malformed_deleted_files_keeps_what_it_read(archives, tmp_path, document, paths, problem):
    """A broken list is one warning naming deleted.files; the paths before the damage are reported."""
    data = document if isinstance(document, bytes) else json.dumps(document).encode()
    path = hostile.write_tar(str(tmp_path / "d.tar"), hostile.load_members(archives["crio"])
                             + [hostile.entry("deleted.files", data)])
    result = analyze(path, include=["rootfs"])
    assert result["rootfs"]["deleted"] == paths
    assert [w for w in result["warnings"] if w.startswith(problem)], result["warnings"]


@pytest.mark.parametrize("compression, version", [(None, "3.19"), ("gz", None)])
def test_a_large_dump_log_is_read_by_its_head(counters_members, tmp_path, compression, version):
    """dump.log has no size bound (CRIU -v4): 20 MiB of it gave the whole archive up (read whole,
    refused past 1 MiB). Its first line gives the version; a compressed archive does not hold
    a member that large, so the version is unknown there, and the rest is read."""
    log = b"(00.000000) Version: 3.19 (gitid 0)\n" + b"(00.000001) a line of the log\n" * (20 << 15)
    assert len(log) > KEEP_MEMBER_LIMIT
    path = hostile.write_tar(str(tmp_path / ("log.tar" + (".gz" if compression else ""))),
                             counters_members + [hostile.entry("dump.log", log)], compression)
    with CheckpointArchive(path, keep=keep_metadata) as archive:
        info = describe(archive)
    assert info["criu_version"] == version and info["container"]


def test_open_files_are_capped_in_total_through_ansible(counters_members, tmp_path):
    """100 processes sharing one table of 1000 more fds (CLONE_FILES): 100k file rows, with
    max_files off, come back as max_total_files rows (its default, 10000), the first processes'
    first; the rest are counted; under 200 MB (the table's records are made once for all its
    processes; 20000 rows cost Ansible's controller 215 MB)."""
    processes, fds, total = 100, 1000, 10000
    path = h3.shared_fd_table(str(tmp_path / "shared.tar"), counters_members, processes, fds)
    before = hb.sha256(path)
    task, output, rss, secs = hb.run_module("checkpoint_analyze", {"path": path, "include": ["processes", "files"],
                                                                   "max_files": 0})
    assert not task.get("failed"), task.get("msg")
    procs, omitted = task["analysis"]["processes"], task["analysis"]["omitted"]
    assert len(procs) == processes
    listed = [len(proc["files"]) for proc in procs]
    table = listed[1]  # pid 2's: the shared table's fds and nothing else
    assert table > fds and sum(listed) == total
    assert listed[:total // table] == [listed[0]] + [table] * (total // table - 1)
    assert omitted["files"] == listed[0] + (processes - 1) * table - total
    assert any("max_total_files: %d in all" % total in warning for warning in task["warnings"])
    assert rss <= hb.RSS_LIMIT_MB, rss
    assert "Traceback" not in output and hb.sha256(path) == before and secs < 120


def test_command_lines_and_environments_are_bounded_in_total(archives, tmp_path):
    """50 processes each claiming 1 MiB of argv and 1 MiB of environ over one shared pages image of
    ``ab\\0`` (2.7 MB compressed): each block alone is within MAX_STRINGS, together they were 35M
    strings (the module did not finish in 300 s). All processes together read ARGV_ENV_BYTES and
    ARGV_ENV_STRINGS at most, in tree order, and a warning says which were cut."""
    from ansible_collections.forensic.checkpoint.plugins.module_utils.analysis import processes
    members = hostile.load_members(archives["counters"])
    path = h3.many_argv_env(str(tmp_path / "argv.tar"), members, 50)
    before = hb.sha256(path)
    task, output, rss, secs = hb.run_module("checkpoint_analyze", {"path": path, "include": ["processes"]})
    assert not task.get("failed"), task.get("msg")
    procs = task["analysis"]["processes"]
    strings = sum(len(proc.get("argv") or []) + len(proc.get("env") or {}) for proc in procs)
    assert procs[0]["argv"][:2] == ["ab", "ab"] and 0 < strings <= processes.ARGV_ENV_STRINGS
    assert any("environments of 50 processes (pid 1 first) were read in part" in warning for warning in task["warnings"])
    assert rss <= hb.RSS_LIMIT_MB, rss
    assert secs < 60 and "Traceback" not in output and hb.sha256(path) == before


def test_a_shared_fd_table_is_read_once_not_once_per_process(counters_members, tmp_path):
    """600 processes sharing one table of 3000 fds (CLONE_FILES: one fdinfo image): 1.8M rows if
    each process's copy were read (rules, stats, redaction, sockets: 1000 x 4000 took 30 s, and time
    grew with their product). Rules see the table for its first SHARED_OWNERS processes; the rest
    is counted in omitted.rule_open_files and said; stats count every descriptor."""
    from ansible_collections.forensic.checkpoint.plugins.module_utils.findings.engine import SHARED_OWNERS
    processes, fds = 600, 3000
    path = h3.shared_fd_table(str(tmp_path / "shared.tar"), counters_members, processes, fds)
    before = hb.sha256(path)
    rule = {"id": "user.last-fd", "severity": "high", "title": "last fd", "select": "open_files[?fd==`%d`]" % (fds + 2),
            "subject": "{pid}"}
    task, output, rss, secs = hb.run_module("checkpoint_analyze", {"path": path, "rules": [rule]})
    assert not task.get("failed"), task.get("msg")
    analysis = task["analysis"]
    table = fds + 4  # the shared table's fds: the counters archive's own four (0-2, a socket) and ours
    found = [finding for finding in analysis["findings"] if finding["id"] == "user.last-fd"]
    # every process shares pid 1's table; those past the first SHARED_OWNERS have no cwd/root/exe rows
    first = [proc["pid"] for proc in analysis["processes"][:SHARED_OWNERS]]  # in process tree order
    assert sorted(finding["pid"] for finding in found) == sorted(first)
    assert analysis["omitted"]["rule_open_files"] == (processes - SHARED_OWNERS) * table
    assert any("sharing an fd table" in warning for warning in task["warnings"])
    assert analysis["stats"]["open_files"] == processes * table
    assert rss <= hb.RSS_LIMIT_MB, rss
    assert secs < 40 and "Traceback" not in output and hb.sha256(path) == before
