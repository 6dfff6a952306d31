# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""diff.py: the two lookup checkpoints, and each kind of change on small analyses."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

import pytest

from ansible_collections.forensic.checkpoint.plugins.module_utils.findings import engine as findings
from ansible_collections.forensic.checkpoint.plugins.module_utils.analysis.analyze import analyze
from ansible_collections.forensic.checkpoint.plugins.module_utils.analysis.diff import compare
from ansible_collections.forensic.checkpoint.plugins.module_utils.errors import CheckpointError


def analysed(path):
    analysis = analyze(path, checksum=True)  # the diff hashes only what the analyses hashed (issue 14)
    return analysis, findings.evaluate(analysis, path)


@pytest.fixture(scope="module")
def lookup_pair(archives):
    before, before_findings = analysed(archives["lookup"])
    after, after_findings = analysed(archives["lookup_later"])
    return compare(before, after, before_findings, after_findings)


def test_new_cron_entry_is_reported_as_persistence(lookup_pair):
    assert lookup_pair["persistence"] == ["/etc/cron.d/persist"]
    new = [(f["id"], f.get("path"), f["severity"]) for f in lookup_pair["findings"]["new"]]
    assert ("rootfs.cron", "/etc/cron.d/persist", "high") in new
    assert [entry["path"] for entry in lookup_pair["rootfs"]["added"]] == ["/etc/cron.d/persist"]
    assert lookup_pair["rootfs"]["deleted"] == [] and lookup_pair["rootfs"]["removed"] == []


def test_old_findings_are_not_new(lookup_pair):
    new_ids = set(f["id"] for f in lookup_pair["findings"]["new"])
    assert not new_ids & set(["process.netcat-from-service", "file.deleted-log", "rootfs.temp-executable",
                              "rootfs.deleted-system-file", "secret.github-token"])
    assert lookup_pair["findings"]["resolved"] == []


def test_the_audit_log_grew_and_the_service_memory_too(lookup_pair):
    log = [row for row in lookup_pair["files"]["changed"] if row.get("path") == "/var/log/lookup-audit.log"]
    assert len(log) == 1 and log[0]["pid"] == 1
    assert log[0]["changes"]["size"] == {"before": 272, "after": 402}
    assert [(row["pid"], row["delta"] > 0) for row in lookup_pair["memory"]] == [(1, True)]
    assert lookup_pair["processes"] == {"added": [], "removed": [], "changed": []}


def test_identity_and_hashes(lookup_pair):
    assert lookup_pair["container"]["container"] == "lookup"
    assert lookup_pair["before"]["sha256"] == "52704ac1b9405844ea5920c8bcba78bbd566cc57761c4d88319a33b723be5051"
    assert lookup_pair["before"]["checkpointed"] < lookup_pair["after"]["checkpointed"]
    assert lookup_pair["changed"] is True and lookup_pair["warnings"] == []


def test_different_containers_are_refused(archives):
    with pytest.raises(CheckpointError) as err:
        compare(analyze(archives["counters"]), analyze(archives["lookup"]))
    message = str(err.value)
    assert message.startswith("checkpoint_diff: before and after are checkpoints of different containers")
    assert "counter (id 3517782c6edd)" in message and "lookup (id a5df3ef4ec9b)" in message


def test_same_checkpoint_twice_has_no_changes(archives):
    analysis, result = analysed(archives["counters"])
    same = compare(analysis, copy.deepcopy(analysis), result, copy.deepcopy(result))
    assert same["changed"] is False and same["findings"]["new"] == [] and same["persistence"] == []


def proc(pid, comm, cmdline, **extra):
    item = {"pid": pid, "ppid": 1 if pid != 1 else 0, "comm": comm, "cmdline": cmdline, "exe": "/bin/" + comm,
            "state": "running", "env": {}, "memory_size": 4096, "files": [], "sockets": []}
    item.update(extra)
    return item


def container(**extra):
    item = {"container": "web", "id": "c0ffee", "engine": "CRI-O", "checkpointed": "2026-01-01T00:00:00Z"}
    item.update(extra)
    return {"container": item}


def test_process_changes():
    before = dict(container(), processes=[
        proc(1, "app", "app --serve", env={"MODE": "prod", "OLD": "1"}),
        proc(5, "worker", "worker", memory_size=8192),
        proc(9, "cron", "cron")])
    after = dict(container(checkpointed="2026-01-01T01:00:00Z"), processes=[
        proc(1, "app", "app --serve --debug", env={"MODE": "debug", "NEW": "x"}, state="stopped"),
        proc(5, "worker", "worker", memory_size=16384),
        proc(9, "sh", "sh -i"),  # same pid, another program
        proc(12, "nc", "nc -l 4444", sockets=[{"fd": 3, "family": "ipv4", "protocol": "tcp", "state": "LISTEN",
                                               "local_address": "0.0.0.0", "local_port": 4444}])])
    result = compare(before, after)
    assert [p["pid"] for p in result["processes"]["added"]] == [9, 12]
    assert [p["comm"] for p in result["processes"]["removed"]] == ["cron"]
    changed = result["processes"]["changed"]
    assert [p["pid"] for p in changed] == [1]
    changes = changed[0]["changes"]
    assert changes["cmdline"] == {"before": "app --serve", "after": "app --serve --debug"}
    assert changes["state"] == {"before": "running", "after": "stopped"}
    assert changes["env"] == {"added": {"NEW": "x"}, "removed": {"OLD": "1"},
                              "changed": {"MODE": {"before": "prod", "after": "debug"}}}
    assert result["memory"] == [{"pid": 5, "comm": "worker", "before": 8192, "after": 16384, "delta": 8192}]
    assert [(s["pid"], s["local_port"]) for s in result["sockets"]["opened"]] == [(12, 4444)]


def test_processes_compared_whole_and_listed_capped(monkeypatch):
    """Every process is compared by pid (digests); each of added, removed, changed and memory lists
    the first MAX_ROWS in pid order, whatever the tree order, and the rest are counted exactly in
    omitted.processes / omitted.memory and said; a comm changed under the same exe is a change, a
    comm and exe both changed another program (removed and added); env order does not count."""
    from ansible_collections.forensic.checkpoint.plugins.module_utils.analysis import diff
    monkeypatch.setattr(diff, "MAX_ROWS", 2)
    before = dict(container(), processes=[proc(1, "init", "init", env={"A": "1", "B": "2"})] + [
        proc(pid, "w", "w") for pid in (9, 8, 7, 6, 5)] + [proc(pid, "m", "m") for pid in (22, 21, 20)] + [
        proc(pid, "gone", "gone") for pid in (32, 31, 30)] + [proc(40, "old", "old")])
    after = dict(container(), processes=[proc(1, "init", "init", env={"B": "2", "A": "1"})] + [
        proc(pid, "w2", "w", exe="/bin/w") for pid in (9, 8, 7, 6, 5)] + [
        proc(pid, "m", "m", memory_size=4096 * pid) for pid in (22, 21, 20)] + [proc(40, "new", "new")] + [
        proc(pid, "came", "came") for pid in (52, 51, 50)])
    result = diff.compare(before, after)
    processes = result["processes"]
    assert [(row["pid"], row["changes"]) for row in processes["changed"]] == [
        (pid, {"comm": {"before": "w", "after": "w2"}}) for pid in (5, 6)]
    assert [row["pid"] for row in processes["removed"]] == [30, 31]
    assert [(row["pid"], row["comm"]) for row in processes["added"]] == [(40, "new"), (50, "came")]
    assert [(row["pid"], row["delta"]) for row in result["memory"]] == [(20, 4096 * 19), (21, 4096 * 20)]
    # changed 5 - 2, removed 3 + pid 40 - 2, added 3 + pid 40 - 2; memory 3 - 2
    assert result["omitted"] == {"processes": 3 + 2 + 2, "memory": 1, "files": 0, "sockets": 0}
    assert result["warnings"] == [
        "7 processes left out of checkpoint_diff.processes.added/removed/changed (2 listed in each); all were compared",
        "1 processes whose memory size changed left out of checkpoint_diff.memory (2 listed); all were compared"]


def test_rootfs_changes_and_backwards_warning():
    before = dict(container(checkpointed="2026-01-02T00:00:00Z"), rootfs={
        "changed": [{"path": "/app/a", "size": 1, "mode": "0644"}, {"path": "/app/b", "size": 1, "mode": "0644"}],
        "deleted": ["/etc/motd"]})
    after = dict(container(checkpointed="2026-01-01T00:00:00Z"), rootfs={
        "changed": [{"path": "/app/a", "size": 2, "mode": "0755"}, {"path": "/app/c", "size": 1, "mode": "0644"}],
        "deleted": ["/etc/issue"]})
    result = compare(before, after)
    rootfs = result["rootfs"]
    assert [e["path"] for e in rootfs["added"]] == ["/app/c"] and [e["path"] for e in rootfs["removed"]] == ["/app/b"]
    assert [(e["path"], e["fields"]) for e in rootfs["modified"]] == [("/app/a", ["size", "mode"])]
    assert rootfs["deleted"] == ["/etc/issue"] and rootfs["restored"] == ["/etc/motd"]
    assert "reads backwards" in result["warnings"][0]


def test_containers_without_ids_compare_by_name():
    one = {"container": {"container": "web", "pod": "web-1", "namespace": "demo", "engine": "CRI-O"}}
    compare(one, copy.deepcopy(one))
    other = {"container": {"container": "web", "pod": "web-2", "namespace": "demo", "engine": "CRI-O"}}
    with pytest.raises(CheckpointError, match="demo/web-1/web and demo/web-2/web"):
        compare(one, other)


def _files(pid, rows):
    return [dict({"type": "REG", "deleted": False, "size": None, "sha256": None, "pos": 0}, fd=fd, path=path, **extra)
            for fd, path, extra in rows]


def test_open_files_compared_whole_and_listed_capped(monkeypatch):
    """Every row is compared (by digests); each list holds the first MAX_ROWS in reading order (tree,
    then fd), the rest counted in omitted and said; rows that stayed open are in no list, wherever
    they are (cwd/root/exe past every fd included), and the last of equal keys is the one kept."""
    from ansible_collections.forensic.checkpoint.plugins.module_utils.analysis import diff
    monkeypatch.setattr(diff, "MAX_ROWS", 2)
    kept = [(fd, "/data/%d" % fd, {}) for fd in range(10)] + [("cwd", "/", {}), ("exe", "/bin/app", {})]
    before = dict(container(), processes=[proc(1, "app", "app", files=_files(1, kept + [
        (20, "/gone/a", {}), (21, "/gone/b", {}), (22, "/gone/c", {}), (30, "/log", {"pos": 1}),
        (31, "/log2", {"pos": 5})]))])
    after = dict(container(), processes=[proc(1, "app", "app", files=_files(1, [
        (40, "/new/a", {}), (41, "/new/b", {}), (42, "/new/c", {}), (43, "/new/d", {}), (30, "/log", {"pos": 7}),
        (31, "/log2", {"pos": 2}), (31, "/log2", {"pos": 5})] + kept))])
    result = diff.compare(before, after)
    files = result["files"]
    assert [row["path"] for row in files["opened"]] == ["/new/a", "/new/b"]
    assert [row["path"] for row in files["closed"]] == ["/gone/a", "/gone/b"]
    assert [(row["path"], row["changes"]) for row in files["changed"]] == [("/log", {"pos": {"before": 1, "after": 7}})]
    assert result["omitted"] == {"processes": 0, "memory": 0, "files": 2 + 1, "sockets": 0}
    assert result["warnings"] == ["3 open files left out of checkpoint_diff.files.opened/closed/changed (2 listed in "
                                  "each); all were compared"]
    assert result["changed"] is True


def test_processes_made_again_as_the_analysis_made_them(archives):
    """checkpoint_diff lets each side's processes go and makes the listed ones again from the open
    archive (AnalysisPlan.reread): each as the analysis made it, its secrets redacted alike, and
    the analysis' warnings not repeated."""
    from ansible_collections.forensic.checkpoint.plugins.module_utils.analysis.analyze import (
        SECTIONS, AnalysisPlan, materialize, open_checkpoint)
    plan = AnalysisPlan(archives["lookup"], list(SECTIONS))
    with open_checkpoint(archives["lookup"], [plan]) as checkpoint:
        analysis = plan.run(checkpoint)
        warnings = list(analysis["warnings"])
        positions = list(range(1, len(analysis["processes"]), 2))
        again = plan.reread(checkpoint, positions)
        made = materialize({"processes": [again[at] for at in positions]})["processes"]
        assert made == materialize(analysis)["processes"][1::2] and len(made) >= 2
    assert any("sha256:" in value for proc in made for value in list(proc["env"].values()) + proc["argv"])
    assert analysis["warnings"] == warnings
