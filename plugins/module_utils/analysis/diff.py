# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What changed between two checkpoints of one container (checkpoint_diff's logic).

Works on two analyses (and their findings) and never opens an archive. Processes are matched by
pid (CRIU restores pids, so a container checkpointed twice keeps them); a pid whose program
changed counts as one process gone and another come. Findings are matched by rule id and
subject, which say what a finding is about without addresses or counts that move between dumps.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import array
import bisect
import hashlib
import os

from ansible_collections.forensic.checkpoint.plugins.module_utils.errors import CheckpointError

IDENTITY = ("engine", "namespace", "pod", "container")
# What may change in an open file or socket that stays open (same key).
MOVED = ("size", "sha256", "pos", "state", "in_queue", "out_queue")
# Rows listed in each of processes added, removed, changed, memory and files/sockets opened, closed,
# changed; the rest are counted in omitted.
MAX_ROWS = 1000
# What may change in a process that keeps its pid and program (env is compared too).
PROCESS_FIELDS = ("comm", "cmdline", "state", "exe", "exe_deleted", "cwd", "uid", "euid", "capabilities")


def _summary(proc):
    return dict((key, proc.get(key)) for key in ("pid", "ppid", "comm", "cmdline", "exe", "state", "memory_size"))


def _label(container):
    parts = [container.get(key) for key in ("namespace", "pod", "container") if container.get(key)]
    return "/".join(parts) + (" (id %s)" % container["id"][:12] if container.get("id") else "")


def same_container(before, after):
    """Refuse two checkpoints of different containers, with both named in the message."""
    one, two = before.get("container") or {}, after.get("container") or {}
    if one.get("id") and two.get("id"):
        same = one["id"] == two["id"]
    else:
        same = all(one.get(key) == two.get(key) for key in IDENTITY) and bool(one.get("container"))
    if not same:
        raise CheckpointError("checkpoint_diff", "before and after are checkpoints of different containers: "
                              "%s and %s" % (_label(one) or "unknown", _label(two) or "unknown"))


def _env_changes(old, new):
    old, new = old or {}, new or {}
    changes = {
        "added": dict((key, new[key]) for key in sorted(set(new) - set(old))),
        "removed": dict((key, old[key]) for key in sorted(set(old) - set(new))),
        "changed": dict((key, {"before": old[key], "after": new[key]})
                        for key in sorted(set(old) & set(new)) if old[key] != new[key]),
    }
    return changes if any(changes.values()) else None


def _file_key(row):
    return (row.get("pid"), str(row.get("fd")), row.get("type"), row.get("path"), bool(row.get("deleted")))


def _socket_key(row):
    return (row.get("pid"), row.get("family"), row.get("protocol"), row.get("state"), row.get("local_address"),
            row.get("local_port"), row.get("remote_address"), row.get("remote_port"), row.get("path"))


def _rows(analysis, section):
    """Every row of ``section`` with its process's pid and comm, in reading order (tree, then fd
    order), made one at a time: a process's files are FileRows (analysis/files.py) while its
    archive is open, so 300k open files are never held as rows."""
    for proc in analysis.get("processes") or []:
        for item in proc.get(section) or ():
            yield dict(item, pid=proc.get("pid"), comm=proc.get("comm"))


# A key drawn per run: 8-byte digests of attacker-chosen names could be made to collide (2**32 tries
# find a pair) if the hash were known in advance; keyed, they cannot be lined up from the archive.
_DIGEST_KEY = os.urandom(16)


def _digest(value):
    # 8 bytes of keyed BLAKE2 over the repr: one integer in an array per row instead of a row (300k
    # open files on each side held as rows and keys: 768 MB). Not Python's hash(): its ints hash to
    # themselves, so an archive could line keys up to collide.
    return int.from_bytes(hashlib.blake2b(repr(value).encode("utf-8", "backslashreplace"), digest_size=8,
                                          key=_DIGEST_KEY).digest(), "little")


def _prints(analysis, section, key):
    """(key digests, digests of the MOVED fields) of the rows of ``section``, by reading index."""
    keys, values = array.array("Q"), array.array("Q")
    for row in _rows(analysis, section):
        keys.append(_digest(key(row)))
        values.append(_digest(tuple(row.get(name) for name in MOVED)))
    return keys, values


def _by_key(keys):
    """Reading indexes sorted by key digest, the last one of equal keys only (as a dict keeps)."""
    order = sorted(range(len(keys)), key=keys.__getitem__)
    return array.array("q", (index for at, index in enumerate(order)
                             if at + 1 == len(order) or keys[order[at + 1]] != keys[index]))


def _matched(old, new):
    """(closed old indexes, opened new indexes, new and old indexes of the same key with other MOVED
    fields) of two _prints, each in reading order, by a merge of the key-sorted indexes."""
    (old_keys, old_values), (new_keys, new_values) = old, new
    one, two = _by_key(old_keys), _by_key(new_keys)
    # changed: new index << 32 | old index, one integer a pair (an archive's entries are fewer than 2**32)
    closed, opened, changed = array.array("q"), array.array("q"), array.array("q")
    i = j = 0
    while i < len(one) or j < len(two):
        left = old_keys[one[i]] if i < len(one) else None
        right = new_keys[two[j]] if j < len(two) else None
        if right is None or (left is not None and left < right):
            closed.append(one[i])
            i += 1
        elif left is None or right < left:
            opened.append(two[j])
            j += 1
        else:
            if old_values[one[i]] != new_values[two[j]]:
                changed.append(two[j] << 32 | one[i])
            i += 1
            j += 1
    return [array.array("q", sorted(found)) for found in (closed, opened, changed)]


def _picked(side, section, wanted):
    """{reading index: row} of the rows at ``wanted`` (at most MAX_ROWS indexes), each made by
    itself from its process made again (FileRows makes one record from its fd entry by position)."""
    starts, owners = side.starts[section]
    at = dict((index, bisect.bisect_right(starts, index) - 1) for index in wanted)
    procs = side.reread(sorted(set(owners[where] for where in at.values())))
    picked = {}
    for index, where in at.items():
        proc = procs[owners[where]]
        picked[index] = dict(proc[section][index - starts[where]], pid=proc.get("pid"), comm=proc.get("comm"))
    return picked


def _opened_closed(before, after, section, fields, omitted):
    """Rows opened, closed and changed from Side ``before`` to ``after``: every row compared by
    digests, rows made again only for the first MAX_ROWS of each list (reading order); the rest are
    counted in ``omitted[section]``."""
    closed, opened, changed = _matched(before.prints[section], after.prints[section])
    omitted[section] = sum(max(0, len(rows) - MAX_ROWS) for rows in (closed, opened, changed))
    closed, opened = closed[:MAX_ROWS], opened[:MAX_ROWS]
    changed = [(pair >> 32, pair & 0xffffffff) for pair in changed[:MAX_ROWS]]
    old = _picked(before, section, set(closed) | set(pair[1] for pair in changed))
    new = _picked(after, section, set(opened) | set(pair[0] for pair in changed))

    def slim(row):
        return dict((name, row.get(name)) for name in fields if name in row)
    moved = []
    for index, old_index in changed:
        one, two = old[old_index], new[index]
        moved.append(dict(slim(two), changes=dict((name, {"before": one.get(name), "after": two.get(name)})
                                                  for name in MOVED if one.get(name) != two.get(name))))
    return {"opened": [slim(new[index]) for index in opened],
            "closed": [slim(old[index]) for index in closed],
            "changed": moved}


def _program_digests(proc):
    """(comm, exe, compared fields) digests, memory size and a digest of all of them, of ``proc``;
    env as sorted items, so that the order its variables were read in does not count."""
    fields = _digest(tuple(proc.get(key) for key in PROCESS_FIELDS) + (sorted((proc.get("env") or {}).items()),))
    size = proc.get("memory_size") or 0
    return _digest(proc.get("comm")), _digest(proc.get("exe")), fields, size, _digest((fields, size))


class Side(object):
    """One checkpoint as compare needs it: each process (by tree position) and each open file and
    socket (by reading index) as digests, made while its analysis holds them, so that its processes
    can be let go before the other side is analysed (100k pids a side held as dicts: 90 MB each).
    ``reread`` ({tree position: process} of sorted positions) makes again those listed; without
    it they are taken from the analysis."""

    def __init__(self, analysis, reread=None):
        procs = analysis.get("processes") or []
        self.analysis = analysis
        self.reread = reread or (lambda positions: dict((at, procs[at]) for at in positions))
        self.pids = array.array("q")
        # _program_digests: one integer each per process
        self.digests = tuple(array.array("Q") for column in range(5))
        for proc in procs:
            self.pids.append(proc.get("pid") if proc.get("pid") is not None else -1)
            for column, value in zip(self.digests, _program_digests(proc)):
                column.append(value)
        self.prints = {"files": _prints(analysis, "files", _file_key),
                       "sockets": _prints(analysis, "sockets", _socket_key)}
        self.starts = {}
        for section in self.prints:  # where each process's rows begin in reading order, for _picked
            starts, owners, total = array.array("q"), array.array("q"), 0
            for at, proc in enumerate(procs):
                if proc.get(section):
                    starts.append(total)
                    owners.append(at)
                    total += len(proc[section])
            self.starts[section] = (starts, owners)


def _processes(before, after, omitted):
    """Processes added, removed and changed and memory size changes from Side ``before`` to
    ``after``, matched by pid: every process compared by digests (a pid whose comm and exe both
    changed is another program: one removed, one added), rows made again only for the first
    MAX_ROWS of each list (pid order); the rest are counted in ``omitted``."""
    gone, came, pairs = _matched((before.pids, before.digests[4]), (after.pids, after.digests[4]))
    removed, added, changed, memory = list(gone), list(came), [], []
    (comm, exe, fields, size), (comm2, exe2, fields2, size2) = before.digests[:4], after.digests[:4]
    for pair in pairs:
        new, old = pair >> 32, pair & 0xffffffff
        if comm[old] != comm2[new] and exe[old] != exe2[new]:
            removed.append(old)
            added.append(new)
            continue
        if fields[old] != fields2[new]:
            changed.append((new, old))
        if size[old] != size2[new]:
            memory.append((new, old))
    removed.sort(key=before.pids.__getitem__)
    added.sort(key=after.pids.__getitem__)
    for rows in (changed, memory):
        rows.sort(key=lambda pair: after.pids[pair[0]])
    omitted["processes"] = sum(max(0, len(rows) - MAX_ROWS) for rows in (added, removed, changed))
    omitted["memory"] = max(0, len(memory) - MAX_ROWS)
    removed, added, changed, memory = (rows[:MAX_ROWS] for rows in (removed, added, changed, memory))
    old = before.reread(sorted(set(removed) | set(pair[1] for pair in changed + memory)))
    new = after.reread(sorted(set(added) | set(pair[0] for pair in changed + memory)))
    moved = []
    for at, old_at in changed:
        one, two = old[old_at], new[at]
        changes = dict((key, {"before": one.get(key), "after": two.get(key)})
                       for key in PROCESS_FIELDS if one.get(key) != two.get(key))
        env = _env_changes(one.get("env"), two.get("env"))
        if env:
            changes["env"] = env
        moved.append({"pid": two.get("pid"), "comm": two.get("comm"), "cmdline": two.get("cmdline"),
                      "changes": changes})
    sizes = []
    for at, old_at in memory:
        one, two = old[old_at], new[at]
        size_one, size_two = one.get("memory_size") or 0, two.get("memory_size") or 0
        sizes.append({"pid": two.get("pid"), "comm": two.get("comm"), "before": size_one, "after": size_two,
                      "delta": size_two - size_one})
    return {"added": [_summary(new[at]) for at in added], "removed": [_summary(old[at]) for at in removed],
            "changed": moved}, sizes


def _rootfs(before, after):
    old = dict((entry.get("path"), entry) for entry in (before.get("rootfs") or {}).get("changed") or [])
    new = dict((entry.get("path"), entry) for entry in (after.get("rootfs") or {}).get("changed") or [])
    modified = []
    for path in sorted(set(old) & set(new)):
        fields = [key for key in ("type", "size", "mode", "uid", "gid", "mtime", "link_target")
                  if old[path].get(key) != new[path].get(key)]
        if fields:
            modified.append({"path": path, "fields": fields, "before": old[path], "after": new[path]})
    deleted_old = set((before.get("rootfs") or {}).get("deleted") or [])
    deleted_new = set((after.get("rootfs") or {}).get("deleted") or [])
    return {
        "added": [new[path] for path in sorted(set(new) - set(old))],
        "removed": [old[path] for path in sorted(set(old) - set(new))],
        "modified": modified,
        "deleted": sorted(deleted_new - deleted_old),
        "restored": sorted(deleted_old - deleted_new),
    }


def finding_key(finding):
    return (finding.get("id"), finding.get("subject"))


def _findings(before, after):
    old = set(finding_key(item) for item in before or [])
    new = set(finding_key(item) for item in after or [])
    return {"new": [item for item in after or [] if finding_key(item) not in old],
            "resolved": [item for item in before or [] if finding_key(item) not in new]}


def file_sha256(path):
    """SHA-256 of an archive file, for the chain of custody (None when it cannot be read)."""
    if not path or not os.path.isfile(path):
        return None
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    except (IOError, OSError):
        return None
    return digest.hexdigest()


def _side(analysis, result):
    container = analysis.get("container") or {}
    return {"path": analysis.get("path"), "checkpointed": container.get("checkpointed"),
            # Only what the analysis hashed (checksum: true): never a second read of the archive.
            "sha256": (container.get("archive") or {}).get("sha256"),
            "verdict": (result or {}).get("summary", {}).get("verdict")}


def compare(before, after, before_findings=None, after_findings=None):
    """The differences from ``before`` to ``after`` (analyses or their Sides, and evaluate()
    results or None)."""
    before, after = [side if isinstance(side, Side) else Side(side) for side in (before, after)]
    sides, before, after = (before, after), before.analysis, after.analysis
    same_container(before, after)
    warnings = []
    one, two = _side(before, before_findings), _side(after, after_findings)
    if one["checkpointed"] and two["checkpointed"] and two["checkpointed"] < one["checkpointed"]:
        warnings.append("after (%s) was taken before before (%s): the diff reads backwards"
                        % (two["checkpointed"], one["checkpointed"]))
    omitted = {}
    processes, memory = _processes(sides[0], sides[1], omitted)
    findings = _findings((before_findings or {}).get("findings"), (after_findings or {}).get("findings"))
    result = {
        "container": dict((key, (after.get("container") or {}).get(key)) for key in IDENTITY + ("id", "image")),
        "before": one,
        "after": two,
        "processes": processes,
        "files": _opened_closed(sides[0], sides[1], "files",
                                ("pid", "comm", "fd", "type", "path", "deleted", "size", "sha256"), omitted),
        "sockets": _opened_closed(sides[0], sides[1], "sockets",
                                  ("pid", "comm", "fd", "family", "protocol", "state", "local_address", "local_port",
                                   "remote_address", "remote_port", "path"), omitted),
        "memory": memory,
        "rootfs": _rootfs(before, after),
        "findings": findings,
        "warnings": warnings,
        "omitted": omitted,
    }
    for key, what, lists in (("processes", "processes", "processes.added/removed/changed (%d listed in each)"),
                             ("memory", "processes whose memory size changed", "memory (%d listed)"),
                             ("files", "open files", "files.opened/closed/changed (%d listed in each)"),
                             ("sockets", "sockets", "sockets.opened/closed/changed (%d listed in each)")):
        if omitted[key]:
            warnings.append("%d %s left out of checkpoint_diff.%s; all were compared"
                            % (omitted[key], what, lists % MAX_ROWS))
    result["persistence"] = [item.get("path") or item.get("subject") for item in findings["new"]
                             if item.get("tactic") == "persistence"]
    result["changed"] = any([processes["added"], processes["removed"], processes["changed"], result["memory"]]
                            + list(result["files"].values()) + list(result["sockets"].values())
                            + list(result["rootfs"].values()))
    return result
