# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Findings: rules over a checkpoint's analysis, its memory and its files, sorted by severity.

Built-in rules (findings/rules.py) are data in the shape users write in YAML: ``id``, ``severity``, ``title``,
``description``, ``attack`` (an ATT&CK technique id), ``tactic`` (its ATT&CK tactic), ``select`` (a JMESPath expression over the
facts below, giving the matching items) and ``evidence``/``subject`` templates (``{expr}`` is a
JMESPath expression evaluated on the matched item). Rules that need more than a query name a
``check`` instead: ``secret`` (a ``pattern`` over environments, memory and files, or ``names`` of
environment variables), ``indicators`` and ``yara``. User rules extend or override built-ins by id
(``enabled: false`` switches one off).

The facts are the analysis (issue 3's schema) with derived fields so that rules stay one line:

- ``processes[]`` gain ``program`` (the applet of busybox-like multi-call binaries, else argv[0]'s
  base name), ``command``, ``tool`` (``shell``, ``netcat``, ``download`` or null), ``parent``
  (``{pid, comm, program, tool, command}`` or null), ``is_root`` (the container's first process),
  ``listening``/``established`` (its inet sockets in those states; RULE_PROCESS_SOCKETS in all
  processes) and ``new_listeners`` (listening sockets its parent does not hold: opened at run time,
  not inherited).
- ``open_files[]``: every process's files with the owner's ``pid``, ``comm``, ``program``, ``tool``,
  ``command``, and ``content_head`` (first bytes, as text) of a recovered deleted file. A select
  that filters or projects it reads every row, a piece at a time; any other sees its first
  RULE_OPEN_FILES rows (see _query_rules). A rule gives at most RULE_FINDINGS findings.
- ``connections[]``: every process's inet sockets with the same owner fields and ``local``/``remote``
  as ``address:port``, read as open_files is (RULE_CONNECTIONS rows for a select that is not a
  filter or projection).
- ``rootfs.changed[]`` gain ``regular``, ``executable`` and ``head`` (first bytes of the file, as text).

Memory is scanned in one memory_search pass (plain tars in place, compressed archives streamed
once more) with every secret pattern, indicator and YARA rule at once; matches keep their virtual
address and the kind of VMA (heap, stack, anon, file...) holding it. Secrets are redacted in
everything returned unless ``redact_secrets`` is false.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import ipaddress
import itertools
import json
import os
import posixpath
import re
import tarfile
import traceback

from ansible_collections.forensic.checkpoint.plugins.module_utils.analysis.files import FileTable
from ansible_collections.forensic.checkpoint.plugins.module_utils.criu.archive import CheckpointArchive, MemberReader, open_tar
from ansible_collections.forensic.checkpoint.plugins.module_utils.criu.imageset import ImageSet
from ansible_collections.forensic.checkpoint.plugins.module_utils import dependencies
from ansible_collections.forensic.checkpoint.plugins.module_utils.text import escape as printable
from ansible_collections.forensic.checkpoint.plugins.module_utils.errors import (
    CheckpointError,
    ImageError,
)
from ansible_collections.forensic.checkpoint.plugins.module_utils.memory.pagemap import load_processes
from ansible_collections.forensic.checkpoint.plugins.module_utils.memory import multiscan
from ansible_collections.forensic.checkpoint.plugins.module_utils.criu.checkpoint import scan
from ansible_collections.forensic.checkpoint.plugins.module_utils.memory.scan import Consumer
from ansible_collections.forensic.checkpoint.plugins.module_utils.findings.redact import redact_value, scrub_all, seen_secrets
from ansible_collections.forensic.checkpoint.plugins.module_utils.findings.rules import BUILTIN_RULES

try:
    import jmespath

    HAS_JMESPATH = True
    JMESPATH_IMPORT_ERROR = None
except ImportError:
    HAS_JMESPATH = False
    JMESPATH_IMPORT_ERROR = traceback.format_exc()

try:
    import yaml

    HAS_YAML = True
except ImportError:
    HAS_YAML = False

try:
    import yara

    HAS_YARA = True
except ImportError:
    HAS_YARA = False

SEVERITIES = ("info", "low", "medium", "high", "critical")
RANK = dict((name, index) for index, name in enumerate(SEVERITIES))

SHELLS = frozenset(("sh", "ash", "bash", "dash", "ksh", "mksh", "zsh", "csh", "tcsh", "fish", "rbash", "hush"))
NETCATS = frozenset(("nc", "ncat", "netcat", "nc.openbsd", "nc.traditional", "socat", "telnet", "pwncat"))
DOWNLOADERS = frozenset(("curl", "wget", "tftp", "ftp", "lftp", "aria2c", "axel", "fetch"))
MULTICALL = frozenset(("busybox", "toybox"))

# Matches up to SPAN bytes long are found whole (memory windows look that far ahead); evidence
# shows up to CONTEXT bytes either side.
SPAN = 64 * 1024
CONTEXT = 60
FILE_SCAN_LIMIT = 16 * 1024 * 1024
HEAD_BYTES = 400
MAX_ADDRESSES = 16
# Open files and connections are read by rules ROWS_PIECE rows at a time; a rule that is not a filter
# of them sees the first RULE_OPEN_FILES / RULE_CONNECTIONS; a rule lists at most RULE_FINDINGS
# findings (300k deleted files open would be 300k findings, 400 MB); the processes' listening and
# established lists hold at most RULE_PROCESS_SOCKETS sockets in all (300k TCP sockets as dicts:
# 500 MB). The rest are counted in the result's ``omitted``.
ROWS_PIECE = 4096
RULE_OPEN_FILES = 10000
RULE_CONNECTIONS = 10000
RULE_FINDINGS = 1000
RULE_PROCESS_SOCKETS = 10000
# Processes sharing one fd table (CLONE_FILES: one fdinfo image for all) hold the same descriptors:
# rules see a table's rows for its first SHARED_OWNERS processes, not N x M rows (1,000 processes on
# 10,000 fds would be 10M rows, minutes).
SHARED_OWNERS = 8
INET = ("ipv4", "ipv6")

RULE_KEYS = frozenset(("id", "severity", "title", "description", "attack", "tactic", "select", "evidence", "subject",
                       "check", "pattern", "names", "scope", "enabled", "triggers", "silence", "shape", "literals"))
SCOPES = ("env", "memory", "files")
CHECKS = ("secret", "indicators", "yara")


# -- severities and redaction -------------------------------------------------------------------

def severity_rank(name):
    return RANK.get(name, -1)


def at_or_above(findings, threshold):
    """The findings whose severity is at least ``threshold`` (a severity name)."""
    if threshold not in RANK:
        raise CheckpointError("fail_on_severity", "must be one of %s, not %r" % (", ".join(SEVERITIES), threshold))
    return [item for item in findings if RANK.get(item["severity"], -1) >= RANK[threshold]]


def redact(secret):
    """What a report may show of a secret: its first 4 characters and the sha256 of the whole
    (the analysis engine's format, so one secret reads the same everywhere)."""
    return redact_value(secret)


def summarize(findings):
    counts = dict((name, 0) for name in SEVERITIES)
    for item in findings:
        counts[item["severity"]] = counts.get(item["severity"], 0) + 1
    highest = max([RANK[item["severity"]] for item in findings] or [-1])
    if highest >= RANK["high"]:
        verdict, text = "compromised", "Signs of compromise: at least one finding of high or critical severity."
    elif highest >= RANK["medium"]:
        verdict, text = "suspicious", "Suspicious: findings of medium severity, none high or critical."
    else:
        verdict, text = "clean", "No finding of medium severity or higher."
    return {"verdict": verdict, "text": text, "counts": counts,
            "highest": SEVERITIES[highest] if highest >= 0 else None, "total": len(findings)}


# -- rules ------------------------------------------------------------------------------------

def _require_jmespath(subject):
    """The built-in rules are JMESPath data rules too: name what needs it, not "rules" always."""
    if not HAS_JMESPATH:
        raise dependencies.missing(subject, "evaluating findings rules", "jmespath")


def _validate(rule, where):
    if not isinstance(rule, dict):
        raise CheckpointError(where, "each rule must be a mapping, not %s" % type(rule).__name__)
    rid = rule.get("id")
    if not isinstance(rid, str) or not rid.strip():
        raise CheckpointError(where, "a rule has no id")
    where = "%s: rule %s" % (where, rid)
    unknown = sorted(set(rule) - RULE_KEYS)
    if unknown:
        raise CheckpointError(where, "unknown keys %s (known: %s)" % (", ".join(unknown), ", ".join(sorted(RULE_KEYS))))
    if rule.get("severity") not in RANK:
        raise CheckpointError(where, "severity must be one of %s, not %r" % (", ".join(SEVERITIES), rule.get("severity")))
    if rule.get("enabled", True) is False:
        return
    check = rule.get("check")
    if check is None:
        if not rule.get("select"):
            raise CheckpointError(where, "needs a select expression (or a check)")
        _require_jmespath(where)
        try:
            jmespath.compile(rule["select"])
        except jmespath.exceptions.JMESPathError as exc:
            raise CheckpointError(where, "bad select expression (%s)" % str(exc).replace("\n", " "))
    elif check not in CHECKS:
        raise CheckpointError(where, "check must be one of %s, not %r" % (", ".join(CHECKS), check))
    elif check == "secret":
        if not rule.get("pattern") and not rule.get("names"):
            raise CheckpointError(where, "a secret check needs a pattern or names")
        if not set(rule.get("scope") or SCOPES) <= set(SCOPES):
            raise CheckpointError(where, "scope must be a list of %s" % ", ".join(SCOPES))
        for key in ("pattern", "names"):
            if rule.get(key):
                try:
                    re.compile(rule[key])
                except re.error as exc:
                    raise CheckpointError(where, "bad %s regex (%s)" % (key, exc))


def _rules_from(source):
    """(where, [rule]) from a YAML file path or an inline rule mapping."""
    if isinstance(source, dict):
        return "rules", [source]
    if not isinstance(source, str):
        raise CheckpointError("rules", "each entry must be a YAML file path or a rule mapping")
    if not HAS_YAML:
        raise dependencies.missing(source, "reading rule files", "yaml")
    try:
        with open(source, "rb") as handle:
            data = yaml.safe_load(handle)
    except (OSError, IOError) as exc:
        raise CheckpointError(source, "cannot read rules (%s)" % (exc.strerror or exc))
    except yaml.YAMLError as exc:
        raise CheckpointError(source, "not valid YAML (%s)" % str(exc).replace("\n", " "))
    if isinstance(data, dict) and "rules" in data:
        data = data["rules"]
    if data is None:
        data = []
    if not isinstance(data, list):
        raise CheckpointError(source, "expected a list of rules (or a mapping with a rules list)")
    return source, data


def load_rules(sources=None):
    """Built-in rules, extended or overridden (by id, key by key) by the user's rule files or mappings."""
    rules = [dict(rule) for rule in BUILTIN_RULES]
    index = dict((rule["id"], position) for position, rule in enumerate(rules))
    for source in sources or []:
        where, items = _rules_from(source)
        for item in items:
            if isinstance(item, dict) and item.get("id") in index:
                merged = dict(rules[index[item["id"]]])
                merged.update(item)
                _validate(merged, where)
                rules[index[item["id"]]] = merged
            else:
                if isinstance(item, dict):
                    item = dict(item)
                    item.setdefault("title", item.get("id"))
                _validate(item, where)
                index[item["id"]] = len(rules)
                rules.append(item)
    return [rule for rule in rules if rule.get("enabled", True) is not False]


# -- facts ------------------------------------------------------------------------------------

def program_of(argv, comm):
    """The program a process runs as users name it: busybox's applet, or argv[0]'s base name."""
    argv = [arg for arg in (argv or []) if isinstance(arg, str)]
    if argv:
        name = posixpath.basename(argv[0]).lstrip("-")
        if name in MULTICALL and len(argv) > 1:
            return posixpath.basename(argv[1])
        if name:
            return name
    return comm


def tool_of(program):
    if program in SHELLS:
        return "shell"
    if program in NETCATS:
        return "netcat"
    if program in DOWNLOADERS:
        return "download"
    return None


def endpoint(address, port):
    if address is None:
        return None
    text = "[%s]" % address if ":" in str(address) else str(address)
    return "%s:%s" % (text, port) if port is not None else text


def _mode_bits(mode):
    if isinstance(mode, int):
        return mode
    if isinstance(mode, str):
        try:
            return int(mode, 8)
        except ValueError:
            return None
    return None


def _argv(proc):
    argv = proc.get("argv")
    if isinstance(argv, list):
        return argv
    cmdline = proc.get("cmdline")
    if isinstance(cmdline, list):
        return cmdline
    return cmdline.split() if isinstance(cmdline, str) else []


def _command(proc, argv):
    cmdline = proc.get("cmdline")
    if isinstance(cmdline, str) and cmdline:
        return cmdline
    return " ".join(argv) if argv else "[%s]" % (proc.get("comm") or "?")


def _sock_key(sock):
    return sock.get("inode") or (sock.get("local_address"), sock.get("local_port"), sock.get("protocol"))


class _SharedTables(object):
    """Counts the owners of each shared fd table (the ``fds`` a FileRows or SocketRows reads) as
    processes come: ``repeat(rows)`` is true past its SHARED_OWNERS-th owner."""

    def __init__(self):
        self._owners = {}

    def repeat(self, rows):
        table = getattr(rows, "fds", None)
        if table is None:
            return False
        seen = self._owners.get(id(table), 0)
        self._owners[id(table)] = seen + 1
        return seen >= SHARED_OWNERS


class _OwnedRows(object):
    """Rows of every process's ``field`` entries (a list, or analysis' FileRows / SocketRows) with
    their owner's fields, each row a dict made as it is read (``_row``, None to skip an entry):
    300k open files held as rows cost 90 MB more, 300k sockets 500 MB. Rules read them through
    _query_rules, a bounded piece at a time."""

    field = None

    def __init__(self, procs, owner_keys):
        self.procs, self.owner_keys = procs, owner_keys
        self.repeated = 0  # rows of shared fd tables not made again (see SHARED_OWNERS), in the last pass

    def __iter__(self):
        shared, self.repeated = _SharedTables(), 0
        for item in self.procs:
            entries = item.get(self.field)
            if not entries:
                continue
            if shared.repeat(entries):
                self.repeated += len(entries)
                continue
            owner = dict((key, item.get(key)) for key in self.owner_keys)
            for entry in entries:
                row = self._row(entry, owner)
                if row is not None:
                    yield row

    def head(self, count):
        """The first ``count`` rows, a list."""
        return list(itertools.islice(self, count))


class OpenFiles(_OwnedRows):
    """``facts["open_files"]``: every process's files, a deleted one with its recovered head."""

    field = "files"

    def __init__(self, procs, owner_keys, recovered):
        super(OpenFiles, self).__init__(procs, owner_keys)
        self.recovered = recovered

    def __len__(self):
        return sum(len(item.get("files") or ()) for item in self.procs)

    def _row(self, entry, owner):
        row = dict(entry, **owner)
        if entry.get("deleted") and entry.get("path") in self.recovered:
            row["content_head"] = text_head(self.recovered[entry["path"]])
        return row


class Connections(_OwnedRows):
    """``facts["connections"]``: every process's inet sockets, ``local``/``remote`` as address:port;
    ``count`` of them (build_facts counts them as it reads the sockets)."""

    field = "sockets"

    def __init__(self, procs, owner_keys, count):
        super(Connections, self).__init__(procs, owner_keys)
        self.count = count

    def __len__(self):
        return self.count

    @staticmethod
    def _row(sock, owner):
        if sock.get("family") not in INET:
            return None
        row = dict(sock, **owner)
        row["fd"] = sock.get("fd")
        row["local"] = endpoint(sock.get("local_address"), sock.get("local_port"))
        row["remote"] = endpoint(sock.get("remote_address"), sock.get("remote_port"))
        row["state"] = (sock.get("state") or "").upper() or None
        return row


class _ProcessSockets(object):
    """The processes' ``listening`` and ``established`` lists, RULE_PROCESS_SOCKETS sockets in all
    (``unlisted`` counts the rest); ``inet`` counts every inet socket, ``cut`` the processes whose
    listening list lacks some."""

    def __init__(self):
        self.room, self.unlisted, self.inet, self.cut = RULE_PROCESS_SOCKETS, 0, 0, set()
        self.shared = _SharedTables()

    def lists(self, item, sockets):
        """(listening, established) of one process, whose ``sockets`` are read once (none past a
        shared fd table's SHARED_OWNERS-th process: the same sockets)."""
        listening, established = [], []
        if sockets and self.shared.repeat(sockets):
            return _NONE, _NONE
        for sock in sockets or ():
            if sock.get("family") not in INET:
                continue
            self.inet += 1
            state = (sock.get("state") or "").upper()
            if state not in ("LISTEN", "ESTABLISHED"):
                continue
            if not self.room:
                self.unlisted += 1
                if state == "LISTEN":
                    self.cut.add(id(item))
                continue
            self.room -= 1
            if state == "LISTEN":
                listening.append(dict(sock, local=endpoint(sock.get("local_address"), sock.get("local_port"))))
            else:
                established.append(sock)
        # Facts are read, never changed: processes without such sockets share one empty list (50k of them).
        return listening or _NONE, established or _NONE

    def held(self, parent, wanted):
        """The keys of ``parent``'s listening sockets; of a parent whose list was cut, those among
        ``wanted`` (the listed listeners' keys), its sockets read once more."""
        if id(parent) not in self.cut:
            return set(_sock_key(sock) for sock in parent["listening"])
        return set(key for key in (_sock_key(sock) for sock in parent.get("sockets") or ()
                                   if sock.get("family") in INET and (sock.get("state") or "").upper() == "LISTEN")
                   if key in wanted)


# What build_facts adds to each process of the analysis (restored afterwards: see lend_facts).
DERIVED = ("argv", "command", "program", "tool", "listening", "established", "is_root", "parent", "new_listeners")
_NONE = []


def build_facts(analysis, contents=None, loans=None, omitted=None):
    """The analysis plus the derived fields rules query (see the module docstring).

    The processes are the analysis' own dicts, lent: their derived fields are added in place (a
    copy of 50k processes cost 40 MB more than the analysis itself), and ``loans`` (a list) records
    what to restore with ``repay``; without ``loans`` the processes are copied. ``omitted`` (a dict)
    gets ``process_sockets``: the sockets left out of the listening/established lists."""
    contents = contents or {}
    recovered = contents.get("recovered", {})
    heads = contents.get("heads", {})
    facts = dict(analysis or {})
    procs, sockets = [], _ProcessSockets()
    for proc in (analysis or {}).get("processes") or []:
        if loans is not None and isinstance(proc, dict):
            item = proc
            # What to put back: nothing but an argv list, which _argv returns as is, is the usual case.
            held = tuple((key, proc[key]) for key in DERIVED if key in proc)
            loans.append((proc, None if held == (("argv", proc.get("argv")),) and isinstance(held[0][1], list)
                          else held))
        else:
            item = dict(proc)
        argv = _argv(proc)
        item["argv"] = argv
        item["command"] = _command(proc, argv)
        item["program"] = program_of(argv, proc.get("comm"))
        item["tool"] = tool_of(item["program"])
        item["listening"], item["established"] = sockets.lists(item, proc.get("sockets"))
        procs.append(item)
    by_pid = dict((item.get("pid"), item) for item in procs)
    summaries = {}  # one summary per parent, shared by its children (read only): 50k children, one dict
    held, wanted = {}, None  # listening keys per parent, made once: 50k children of one parent stay linear
    for item in procs:
        parent = by_pid.get(item.get("ppid"))
        item["is_root"] = parent is None or parent is item
        if item["is_root"]:
            item["parent"] = None
        else:
            if id(parent) not in summaries:
                summaries[id(parent)] = dict((key, parent.get(key)) for key in ("pid", "comm", "program", "tool", "command"))
            item["parent"] = summaries[id(parent)]
        if not item["listening"]:
            item["new_listeners"] = _NONE
            continue
        if parent is not None and id(parent) not in held:
            if wanted is None and id(parent) in sockets.cut:
                wanted = set(_sock_key(sock) for other in procs for sock in other["listening"])
            held[id(parent)] = sockets.held(parent, wanted)
        keys = held[id(parent)] if parent is not None else ()
        item["new_listeners"] = [sock for sock in item["listening"] if _sock_key(sock) not in keys]
    facts["processes"] = procs
    owner_keys = ("pid", "comm", "program", "tool", "command")
    facts["open_files"] = OpenFiles(procs, owner_keys, recovered)
    facts["connections"] = Connections(procs, owner_keys, sockets.inet)
    if omitted is not None:
        omitted["process_sockets"] = sockets.unlisted
    rootfs = dict((analysis or {}).get("rootfs") or {})
    changed = []
    for entry in rootfs.get("changed") or []:
        row = dict(entry)
        path = "/" + str(entry.get("path") or "").lstrip("/")
        row["path"] = path
        kind = str(entry.get("type") or "file").lower()
        fmt = (_mode_bits(entry.get("mode")) or 0) & 0o170000
        row["regular"] = kind in ("file", "reg", "regular") and fmt in (0, 0o100000)
        row["executable"] = bool(row["regular"] and (_mode_bits(entry.get("mode")) or 0) & 0o111)
        row["head"] = heads.get(path)
        changed.append(row)
    rootfs["changed"] = changed
    rootfs["deleted"] = ["/" + str(path).lstrip("/") for path in rootfs.get("deleted") or []]
    facts["rootfs"] = rootfs
    return facts


def repay(loans):
    """Give the analysis its processes back as they were before build_facts lent them."""
    for proc, held in loans:
        held = dict(held or (("argv", proc["argv"]),))
        for key in DERIVED:
            if key in held:
                proc[key] = held[key]
            else:
                proc.pop(key, None)
    del loans[:]


# -- templates and text -----------------------------------------------------------------------

_TEMPLATE = re.compile(r"\{([^{}]+)\}")
TEXT_FIELDS = ("content_head", "head")


def text_head(data, limit=HEAD_BYTES):
    """The first bytes of a file as readable text (binary content said as such)."""
    if data is None:
        return None
    head = bytes(data[:limit])
    if b"\0" in head:
        return "(binary, %d bytes)" % len(data)
    text = printable(head.decode("utf-8", "backslashreplace"), keep_newlines=True)
    return text + ("..." if len(data) > limit else "")


def _render_value(value):
    if value is None:
        return "-"
    if isinstance(value, list):
        return ", ".join(_render_value(item) for item in value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True, default=str)
    if isinstance(value, str):
        return value
    return str(value)


def render(template, item):
    """``{expr}`` replaced by the JMESPath expression's value on ``item`` (strings stand for themselves)."""
    if not template:
        return ""
    context = item if isinstance(item, dict) else {"path": item, "value": item}

    def one(match):
        expr = match.group(1).strip()
        try:
            # Archive text cannot add lines to evidence; file heads keep theirs (already escaped).
            return printable(_render_value(jmespath.search(expr, context)), keep_newlines=expr in TEXT_FIELDS)
        except jmespath.exceptions.JMESPathError:
            return match.group()
    return _TEMPLATE.sub(one, template)


# -- archive contents: recovered files, rootfs heads, memory ------------------------------------

def _recovered_files(archive, warnings, checkpoint=None):
    """{path: bytes} of deleted files CRIU kept (ghost files), through the analysis engine's tables
    (the Checkpoint's own file table when the analysis made one)."""
    found = {}
    try:
        if checkpoint is not None:
            table = checkpoint.cached("files", lambda: FileTable(ImageSet(archive, warnings)))
        else:
            table = FileTable(ImageSet(archive, warnings))
        for _file_id, path, ghost in table.ghosts_to_recover():
            if path and ghost.size <= FILE_SCAN_LIMIT:
                found[path] = ghost.content()
    except CheckpointError as exc:
        warnings.append("deleted files not recovered for findings: %s" % exc)
    return found


def _rootfs_file(heads, on_file):
    """A callback ``(tar info, first bytes)`` for each regular file of rootfs-diff.tar: its head
    into ``heads``, its data to ``on_file(path, data)``."""
    def one(info, data):
        path = "/" + posixpath.normpath("/" + info.name).lstrip("/")
        heads[path] = text_head(data)
        on_file(path, data)
    return one


def _rootfs_visitor(heads, on_file):
    """A CheckpointArchive ``visit`` callback reading rootfs-diff.tar: see _rootfs_file."""
    one = _rootfs_file(heads, on_file)

    def visit(member, fileobj):
        if member.name != "rootfs-diff.tar":
            return
        try:
            inner = open_tar(fileobj, stream=not isinstance(fileobj, MemberReader))
            for info in inner:
                inner.members = []
                if info.isfile():
                    one(info, inner.extractfile(info).read(min(info.size, FILE_SCAN_LIMIT)))
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise CheckpointError("rootfs-diff.tar", "cannot be read (%s)" % exc)
    return visit


def collect(archive, pids, scanner, scan_memory=True, warnings=None):
    """Recovered files and rootfs-diff heads of ``archive`` (a path or an open CheckpointArchive),
    every file and (when ``scan_memory``) the memory of ``pids`` run through ``scanner``.

    A compressed archive opened here has rootfs-diff.tar read during its indexing pass; memory is
    one more pass (memory_search's, in place for a plain tar).
    """
    warnings = warnings if warnings is not None else []
    heads = {}
    visit = _rootfs_visitor(heads, scanner.file)
    if isinstance(archive, CheckpointArchive):
        opened = archive
        if archive.has("rootfs-diff.tar"):
            CheckpointArchive(archive.path, keep=lambda name, size: False, visit=visit).close()
    else:
        opened = CheckpointArchive(archive, visit=visit)
    try:
        recovered = _recovered_files(opened, warnings)
        for path, data in sorted(recovered.items()):
            scanner.file(path, data)
        if scan_memory and pids:
            scanner.scan_memory(opened.path, pids, warnings)
    finally:
        if opened is not archive:
            opened.close()
    return {"recovered": recovered, "heads": heads}


# -- code checks ------------------------------------------------------------------------------

def _context(data, start, end, limit):
    """The printable run around data[start:end], at most CONTEXT bytes either side, within data[:limit]."""
    left = start
    while left > 0 and start - left < CONTEXT and 0x20 <= data[left - 1] < 0x7f:
        left -= 1
    right = end
    while right < limit and right - end < CONTEXT and 0x20 <= data[right] < 0x7f:
        right += 1
    return printable(bytes(data[left:right]).decode("ascii", "backslashreplace"))


class _Hits(object):
    """Matches grouped by what they are about; keeps the first addresses and a count."""

    def __init__(self):
        self.items = {}

    def add(self, key, hit, address):
        entry = self.items.get(key)
        if entry is None:
            entry = self.items[key] = dict(hit, addresses=[], occurrences=0)
        entry["occurrences"] += 1
        if len(entry["addresses"]) < MAX_ADDRESSES:
            entry["addresses"].append(address)


def _indicator_specs(indicators):
    specs = []
    for raw in indicators or []:
        spec = dict(raw) if isinstance(raw, dict) else {"value": raw}
        value = spec.get("value")
        if not isinstance(value, str) or not value:
            raise CheckpointError("indicators", "each indicator needs a non-empty string value")
        kind = spec.get("type") or "auto"
        if kind == "auto":
            kind = "string"
            try:
                ipaddress.ip_address(value)
                kind = "ip"
            except ValueError:
                if re.match(r"^(?=.{4,253}$)([A-Za-z0-9-]{1,63}\.)+[A-Za-z]{2,63}$", value):
                    kind = "domain"
        escaped = re.escape(value.encode("utf-8"))
        if kind == "string":
            pattern = re.compile(escaped)
        elif kind == "regex":
            try:
                pattern = re.compile(value.encode("utf-8"))
            except re.error as exc:
                raise CheckpointError("indicators", "bad regex %r (%s)" % (value, exc))
        elif kind == "ip":
            pattern = re.compile(br"(?<![0-9A-Fa-f.:])" + escaped + br"(?![0-9])")
        elif kind == "domain":
            pattern = re.compile(br"(?<![A-Za-z0-9-])" + escaped + br"(?![A-Za-z0-9-])", re.IGNORECASE)
        else:
            raise CheckpointError("indicators", "type must be string, regex, ip or domain, not %r" % kind)
        severity = spec.get("severity", None)
        if severity is not None and severity not in RANK:
            raise CheckpointError("indicators", "%s: severity must be one of %s" % (value, ", ".join(SEVERITIES)))
        specs.append({"value": value, "type": kind, "name": spec.get("name") or value, "severity": severity,
                      "pattern": pattern})
    return specs


def _load_yara(paths, warnings):
    if not paths:
        return None
    if not HAS_YARA:
        warnings.append("yara_rules given but yara-python is not installed: YARA rules were skipped")
        return None
    files = {}
    for path in ([paths] if isinstance(paths, str) else paths):
        if os.path.isdir(path):
            for name in sorted(os.listdir(path)):
                if name.endswith((".yar", ".yara")):
                    files["%s/%s" % (os.path.basename(path.rstrip("/")), name)] = os.path.join(path, name)
        elif os.path.isfile(path):
            files[os.path.basename(path)] = path
        else:
            raise CheckpointError(path, "no such YARA rules file or directory")
    if not files:
        warnings.append("yara_rules: no .yar or .yara files found")
        return None
    try:
        return yara.compile(filepaths=files)
    except yara.Error as exc:
        raise CheckpointError("yara_rules", "do not compile (%s)" % str(exc).splitlines()[0])


def _yara_offsets(match):
    """Offsets of a yara Match's strings for yara-python before and after 4.3."""
    offsets = []
    for item in getattr(match, "strings", None) or []:
        if isinstance(item, tuple):
            offsets.append(item[0])
        else:
            offsets.extend(instance.offset for instance in getattr(item, "instances", []))
    return sorted(offsets)


def _multiscanner(patterns, where=None):
    """One multiscan Scanner for those of [(rule, spec, compiled regex, wheres)] that apply ``where``
    (all when None), pattern ids their indexes in ``patterns``."""
    chosen = [(index, pattern) for index, (_rule, _spec, pattern, wheres) in enumerate(patterns)
              if where is None or where in wheres]
    if not chosen:
        return None
    return multiscan.compile_patterns([
        multiscan.Pattern(index, regex=pattern.pattern, ignore_case=bool(pattern.flags & re.IGNORECASE))
        for index, pattern in chosen], max_width=SPAN)


class _Scanner(Consumer):
    """Every secret pattern, indicator and YARA rule over files and, as a memory scan consumer,
    over windows of memory: one pass over memory serves them all, and in each window one
    multi-pattern scan (memory/multiscan.py: hyperscan when installed) finds every pattern's matches."""

    before = max(CONTEXT, multiscan.LOOKBEHIND)  # look-behind: the context shown, and lookbehind assertions
    after = SPAN

    def __init__(self, secret_rules, indicators, yara_rules):
        # One scanner for memory and files (compiling a hyperscan database is the costly part);
        # each pattern says where it applies: secret rules by their scope, indicators everywhere.
        self.patterns = [(rule, None, re.compile(rule["pattern"].encode("utf-8")),
                          set(where for where, scope in (("memory", "memory"), ("file", "files"))
                              if scope in (rule.get("scope") or SCOPES)))
                         for rule in secret_rules if rule.get("pattern")
                         if set(("memory", "files")) & set(rule.get("scope") or SCOPES)] + \
            [(None, spec, spec["pattern"], set(("memory", "file"))) for spec in indicators]
        # Memory and files each get their own: a files-only rule (password assignments, common
        # words in memory) costs the memory scan nothing.
        self.scanners = {"memory": _multiscanner(self.patterns, "memory"), "file": _multiscanner(self.patterns, "file")}
        self.yara = yara_rules
        self.memory_bytes = 0  # announced by the Checkpoint: lets multiscan compile hyperscan at once
        self.secrets = _Hits()
        self.matches = _Hits()
        self.yara_hits = _Hits()
        self.processes = {}
        self._segment, self._resume = None, {}

    def scan_memory(self, path, pids, warnings):
        """One pass over the memory of ``pids``, then their VMAs to say what memory each hit is in."""
        try:
            index = scan(path, [self], pids)
        except ImageError as exc:
            warnings.append("process memory not fully scanned: %s" % exc)
            return
        try:
            self.processes = dict((proc.pid, proc) for proc in load_processes(index, pids))
        except CheckpointError as exc:
            warnings.append("memory regions not named: %s" % exc)
        finally:
            index.close()

    def expect(self, size):
        self.memory_bytes += size

    def feed(self, window):
        if (window.pid, window.segment) != self._segment:
            self._segment, self._resume = (window.pid, window.segment), {}
        self._scan(("memory", window.pid), window.data, window.start, window.stop, window.end, window.address)

    def file(self, path, data):
        self._segment, self._resume = None, {}
        self._scan(("file", path), data, 0, len(data), len(data), 0)

    def _scan(self, where, data, start, stop, end, base):
        """Matches starting in data[start:stop] (at address ``base`` + offset), each pattern's as
        finditer gives them over the whole segment: one that began in the previous window is not
        found again inside this one."""
        scanner = self.scanners[where[0]]
        if scanner is not None:
            # The run starts at the look-behind (for lookbehind assertions); hits must start in
            # data[start:stop], and after the previous window's last match of the same pattern.
            low = max(0, start - multiscan.LOOKBEHIND)
            # The whole buffer when it is the run (the usual window): scanned in place, not copied.
            run = data if low == 0 and end == len(data) and isinstance(data, (bytes, bytearray)) \
                else memoryview(data)[low:end]
            hint = self.memory_bytes if where[0] == "memory" else None
            for found in scanner.scan([(base + low, [run])], size_hint=hint or None):
                first, last = found.start - base, found.end - base
                rule, spec, _pattern, _wheres = self.patterns[found.pattern]
                if not start <= first < stop or base + first < self._resume.get(found.pattern, 0):
                    continue
                self._resume[found.pattern] = found.end
                hit = {"where": where, "context": _context(data, first, last, end)}
                if spec is not None:
                    self.matches.add((spec["value"], where), dict(hit, spec=spec), found.start)
                    continue
                group = found.group or (found.start, found.end)
                value = bytes(memoryview(data)[group[0] - base:group[1] - base]).decode("latin-1").strip()
                if len(value) >= 8:
                    self.secrets.add((rule["id"], where, value), dict(hit, rule=rule, value=value), group[0])
        if self.yara is not None:
            for match in self.yara.match(data=bytes(memoryview(data)[:end])):
                offsets = _yara_offsets(match)
                owned = [offset for offset in offsets if start <= offset < stop]
                if offsets and not owned:
                    continue  # another window's
                offset = owned[0] if owned else start
                hit = {"match": match, "where": where, "context": _context(data, offset, offset, end)}
                self.yara_hits.add((match.rule, where), hit, base + offset)

    def address_fields(self, hit):
        """Where a memory hit is: its first address, all those kept, and the kind of VMA each is in."""
        addresses = hit["addresses"]
        proc = self.processes.get(hit["where"][1])
        kinds = [getattr(proc.vma_at(address) if proc else None, "kind", None) for address in addresses]
        return {"address": addresses[0], "address_hex": "0x%x" % addresses[0], "vma": kinds[0],
                "addresses": ["0x%x" % address for address in addresses], "vmas": kinds,
                "occurrences": hit["occurrences"]}


def _where_text(where, procs):
    kind, what = where
    if kind == "memory":
        proc = procs.get(what) or {}
        return "pid %s (%s) memory" % (what, proc.get("program") or proc.get("comm") or "?")
    return "file %s" % what


def _at(fields):
    """`` at 0x7f... (heap)``: where in memory a hit is, if it is in memory."""
    if "address_hex" not in fields:
        return ""
    return " at %s%s" % (fields["address_hex"], " (%s)" % fields["vma"] if fields.get("vma") else "")


def _finding(rule, **fields):
    item = {"id": rule["id"], "severity": rule["severity"], "title": rule.get("title") or rule["id"],
            "description": rule.get("description") or "", "attack": rule.get("attack"),
            "tactic": rule.get("tactic"), "pid": None,
            "subject": None, "evidence": ""}
    item.update(fields)
    return item


_REDACTED = re.compile(r"^.{0,4}\.\.\.sha256:([0-9a-f]{64})$")
_EMBEDDED = re.compile(r"\.\.\.sha256:([0-9a-f]{64})")


def _digest(secret):
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def _env_candidates(facts, secret_rules, memory_hits):
    """(rule, proc, "env", secret, digest, extra, context) for each secret in an environment.

    Values the analysis already redacted (``abcd...sha256:<hex>``) are matched to the memory hits
    of the same process by hash, so a redacted analysis loses nothing but the cleartext."""
    patterns = [(rule, re.compile(rule["pattern"])) for rule in secret_rules
                if rule.get("pattern") and "env" in (rule.get("scope") or SCOPES)]
    names = [(rule, re.compile(rule["names"])) for rule in secret_rules if rule.get("names")]
    found = []
    for proc in facts["processes"]:
        for key, value in sorted((proc.get("env") or {}).items()):
            if not isinstance(value, str) or not value:
                continue
            text = "%s=%s" % (key, value)
            redacted = _REDACTED.match(value)
            embedded = [hit for hit in (memory_hits.get((proc.get("pid"), digest)) for digest in _EMBEDDED.findall(value))
                        if hit is not None]
            if embedded:
                found.extend((hit["rule"], proc, "env", hit["value"], _digest(hit["value"]), {"variable": key}, text)
                             for hit in embedded)
                continue
            matched = False
            for rule, pattern in patterns:
                for match in pattern.finditer(text):
                    secret = match.group(1 if pattern.groups else 0).strip()
                    if len(secret) >= 8:
                        matched = True
                        found.append((rule, proc, "env", secret, _digest(secret), {"variable": key}, text))
            if matched or value.startswith("/") or len(value) < 6:
                continue  # a path is where a secret is, not the secret (FOO_PASSWORD_FILE)
            for rule, pattern in names:
                if pattern.search(key):
                    secret = None if redacted else value
                    found.append((rule, proc, "env", secret, redacted.group(1) if redacted else _digest(value),
                                  {"variable": key}, text))
    return found


def _secret_findings(facts, secret_rules, scanner, procs):
    """Secrets in environments (by pattern, or by variable name), in memory and in files.

    One finding per secret and place. A variable a child inherited is reported once, on the
    topmost process, with ``inherited_by``; a secret both in a process's environment and
    elsewhere in its memory is reported as the environment's, with its memory address."""
    memory = []
    for hit in (scanner.secrets.items.values() if scanner is not None else []):
        kind, what = hit["where"]
        if kind == "memory":
            # a pid the process facts lack (a forged pstree) still names the memory it was found in
            memory.append((hit["rule"], procs.get(what) or {"pid": what}, "memory", hit["value"], _digest(hit["value"]),
                           scanner.address_fields(hit), hit["context"]))
        else:
            memory.append((hit["rule"], None, "file", hit["value"], _digest(hit["value"]),
                           {"path": what, "occurrences": hit["occurrences"]}, hit["context"]))
    by_pid_digest = {}
    for cand in memory:
        if cand[2] == "memory" and cand[1] is not None:
            by_pid_digest.setdefault((cand[1].get("pid"), cand[4]), {"rule": cand[0], "value": cand[3]})
    tree = dict((proc.get("pid"), index) for index, proc in enumerate(facts["processes"]))
    order = {"env": 0, "memory": 1, "file": 2}
    candidates = _env_candidates(facts, secret_rules, by_pid_digest) + memory
    candidates.sort(key=lambda c: (-RANK[c[0]["severity"]], order[c[2]], tree.get((c[1] or {}).get("pid"), 0)))
    kept, in_env, findings, inheritors = {}, {}, [], {}
    for rule, proc, source, secret, digest, extra, context in candidates:
        pid = proc.get("pid") if proc else None
        if source == "env":
            key = ("env", extra["variable"], digest)
            if key in kept:
                if pid not in inheritors[key] and pid != kept[key]["pid"]:  # a set: 100k pids share an env
                    inheritors[key].add(pid)
                    kept[key]["inherited_by"].append(pid)
                in_env.setdefault((pid, digest), kept[key])
                continue
        elif source == "memory":
            owner = in_env.get((pid, digest))
            if owner is not None:
                if owner["pid"] == pid and "address" not in owner:
                    owner.update(extra)
                continue
            key = ("memory", pid, digest)
        else:
            key = ("file", extra["path"], digest)
        if key in kept:
            continue
        if source == "env":
            place = "pid %s (%s) environment" % (pid, proc.get("program"))
        elif source == "memory":
            place = _where_text(("memory", pid), procs) + _at(extra)
        else:
            place = "file %s" % extra["path"]
        count = extra.get("occurrences") or 1
        evidence = "%s: %s%s" % (place, context, " (%d occurrences)" % count if count > 1 else "")
        redacted = redact(secret) if secret is not None else context.partition("=")[2]
        finding = _finding(rule, pid=pid, source=source, evidence=evidence,
                           subject="%s %s in %s" % (rule.get("title"), digest[:12],
                                                    "pid %s %s" % (pid, source) if proc else extra["path"]),
                           secret={"value": secret, "redacted": redacted, "sha256": digest,
                                   "length": len(secret) if secret is not None else None},
                           **extra)
        if source == "env":
            finding["inherited_by"] = []
            inheritors[key] = set()
            in_env[(pid, digest)] = finding
        kept[key] = finding
        findings.append(finding)
    return findings


class _ConnectionIndicators(object):
    """The indicators (ip, string, regex specs) in the connections, found as the rules' pass over
    them reads each piece (``read``): no walk of its own. ``hits``: (spec, pid, evidence) of the first
    connection of a process matching a spec (as many as specs x processes at most)."""

    def __init__(self, specs):
        self.specs = [spec for spec in specs if spec["type"] in ("ip", "string", "regex")]
        self.hits, self._seen = [], set()

    def read(self, piece):
        for conn in piece:
            text = ("%s %s" % (conn.get("remote_address"), conn.get("local_address"))).encode("utf-8")
            for spec in self.specs:
                if (spec["value"], conn["pid"]) not in self._seen and spec["pattern"].search(text):
                    self._seen.add((spec["value"], conn["pid"]))
                    self.hits.append((spec, conn["pid"], "pid %s `%s`: %s %s <-> %s" % (
                        conn["pid"], conn["command"], conn.get("protocol"), conn["local"], conn["remote"])))


def _indicator_findings(rule, facts, specs, scanner, procs, connection_hits):
    findings, seen = [], set()

    def add(spec, pid, place, evidence, **extra):
        key = (spec["value"], pid if pid is not None else place)
        if key in seen:
            return
        seen.add(key)
        findings.append(_finding(rule, severity=spec["severity"] or rule["severity"], pid=pid,
                                 title="%s: %s" % (rule.get("title"), spec["name"]),
                                 subject="%s %s in %s" % (spec["type"], spec["value"], place),
                                 evidence=evidence, indicator={"value": spec["value"], "type": spec["type"]},
                                 **extra))
    for spec, pid, evidence in connection_hits:
        add(spec, pid, "connections", evidence)
    # One walk over the processes, each string tested against every spec.
    for proc in facts["processes"] if specs else ():
        for text in [proc["command"]] + ["%s=%s" % item for item in sorted((proc.get("env") or {}).items())]:
            data = text.encode("utf-8", "surrogateescape")
            for spec in specs:
                if spec["pattern"].search(data):
                    add(spec, proc.get("pid"), "process", "pid %s `%s`: %s" % (
                        proc.get("pid"), proc["command"], printable(text)[:300]))
    for hit in (scanner.matches.items.values() if scanner is not None else []):
        kind, what = hit["where"]
        spec = hit["spec"]
        if kind == "memory":
            fields = scanner.address_fields(hit)
            add(spec, what, "memory", "%s%s: %s (%d occurrences)" % (
                _where_text(hit["where"], procs), _at(fields), hit["context"], hit["occurrences"]), **fields)
        else:
            add(spec, None, what, "%s: %s" % (_where_text(hit["where"], procs), hit["context"]), path=what)
    return findings


def _yara_findings(rule, scanner, procs):
    findings = []
    for hit in (scanner.yara_hits.items.values() if scanner is not None else []):
        match = hit["match"]
        meta = getattr(match, "meta", None) or {}
        kind, what = hit["where"]
        severity = meta.get("severity") if meta.get("severity") in RANK else rule["severity"]
        fields = scanner.address_fields(hit) if kind == "memory" else {"path": what}
        findings.append(_finding(rule, severity=severity, pid=what if kind == "memory" else None,
                                 attack=meta.get("attack") or meta.get("mitre_attack") or rule.get("attack"),
                                 title="%s: %s" % (rule.get("title"), match.rule),
                                 subject="%s in %s" % (match.rule, _where_text(hit["where"], procs)),
                                 evidence="%s%s: %s" % (_where_text(hit["where"], procs), _at(fields),
                                                        hit["context"]),
                                 yara_rule=match.rule, **fields))
    return findings


# -- evaluation -------------------------------------------------------------------------------

# The facts rules read a piece at a time (rows made as read): what a warning calls their rows, and
# how many of them a select that is not a filter or projection of them sees.
STREAMED = (("open_files", "open files", RULE_OPEN_FILES), ("connections", "connections", RULE_CONNECTIONS))
STREAMED_KEYS = tuple(key for key, _what, _limit in STREAMED)


def _streamed_over(parsed):
    """The streamed fact a compiled select filters or projects (``open_files[?...]``,
    ``connections[*].remote``), else None: such a select judges each row alone, so it can read
    them a piece at a time (a filter's condition and a projection's right side see only the
    element: JMESPath has no way back to the root)."""
    if parsed.get("type") in ("filter_projection", "projection"):
        first = parsed["children"][0]
        if first.get("type") == "field" and not first["children"] and first.get("value") in STREAMED_KEYS:
            return first["value"]
    return None


def _streamed_read(parsed):
    """The streamed facts a compiled select reads (by name, or all through ``*`` over the facts)."""
    names, stack = set(), [parsed]
    while stack:
        node = stack.pop()
        if node.get("type") == "value_projection":
            return frozenset(STREAMED_KEYS)
        if node.get("type") == "field" and node.get("value") in STREAMED_KEYS:
            names.add(node["value"])
        stack.extend(child for child in node.get("children", ()) if isinstance(child, dict))
    return frozenset(names)


def _search(rule, expression, data):
    try:
        return expression.search(data)
    except jmespath.exceptions.JMESPathError as exc:
        raise CheckpointError("rule %s" % rule["id"], "select failed (%s)" % str(exc).replace("\n", " "))


def _query_rules(rules, facts, warnings, omitted, readers):
    """The findings of the select rules. Filters and projections of a streamed fact (STREAMED) read
    every row of it together, in one pass, ROWS_PIECE rows at a time (rows made as read: memory
    stays bounded whatever the archive holds), with ``readers`` (streamed key: [called with each
    piece]); any other select that reads one sees its first rows (_Bounded counts what such rules
    did not see)."""
    bounded, collectors, streamed = _Bounded(facts, warnings), [], dict((key, []) for key in STREAMED_KEYS)
    for rule in rules:
        collector = _RuleFindings(rule)
        collectors.append(collector)
        expression = jmespath.compile(rule["select"])
        key = _streamed_over(expression.parsed)
        if key is not None:
            streamed[key].append((expression, collector))
            continue
        selected = _search(rule, expression, bounded.facts(rule, expression.parsed))
        if selected not in (None, False, [], {}):
            collector.add(selected if isinstance(selected, list) else [selected])
    for key in STREAMED_KEYS:
        rows = iter(facts[key]) if streamed[key] or readers.get(key) else iter(())
        piece = list(itertools.islice(rows, ROWS_PIECE))
        while piece:
            for expression, collector in streamed[key]:
                collector.add(_search(collector.rule, expression, {key: piece}) or ())
            for read in readers.get(key, ()):
                read(piece)
            piece = list(itertools.islice(rows, ROWS_PIECE))
    findings = []
    for collector in collectors:
        findings.extend(collector.findings)
        if collector.more:
            omitted["findings"] += collector.more
            warnings.append("rule %s: %d more matches than the %d findings listed" % (
                collector.rule["id"], collector.more, RULE_FINDINGS))
    omitted.update(bounded.unseen)
    for key, what, _limit in STREAMED:
        repeated = facts[key].repeated if streamed[key] or readers.get(key) else 0
        if repeated:
            omitted[key] = max(omitted[key], repeated)
            warnings.append("%d %s of processes sharing an fd table with %d others before them were not shown to "
                            "rules again (the same descriptors)" % (repeated, what, SHARED_OWNERS))
    return findings


class _Bounded(object):
    """The facts rules see when they do not read a streamed fact row by row: each streamed fact the
    rule reads cut to its first rows (made once, for the rules that read it: ``unseen`` counts, for
    each, the most rows a rule did not see, a warning names each rule), the others empty."""

    def __init__(self, facts, warnings):
        self._facts, self._warnings, self._made, self._heads = facts, warnings, {}, {}
        self.unseen = dict((key, 0) for key in STREAMED_KEYS)

    def facts(self, rule, parsed):
        reads = _streamed_read(parsed)
        if reads not in self._made:
            self._made[reads] = dict(self._facts, **dict((key, self._head(key, limit) if key in reads else [])
                                                         for key, _what, limit in STREAMED))
        for key, what, limit in STREAMED:
            total = len(self._facts[key]) if key in reads else 0
            if total > limit:
                self.unseen[key] = max(self.unseen[key], total - limit)
                self._warnings.append("rule %s saw the first %d of %d %s: only a filter or projection of %s (%s[?...]) "
                                      "reads them all" % (rule["id"], limit, total, what, key, key))
        return self._made[reads]

    def _head(self, key, limit):
        if key not in self._heads:
            self._heads[key] = self._facts[key].head(limit)
        return self._heads[key]


class _RuleFindings(object):
    """One finding per matched item and subject, at most RULE_FINDINGS (``more`` counts the
    matches past them)."""

    def __init__(self, rule):
        self.rule, self.findings, self.more, self._seen = rule, [], 0, set()

    def add(self, items):
        rule = self.rule
        for item in items:
            if len(self.findings) >= RULE_FINDINGS:
                self.more += 1
                continue
            pid = item.get("pid") if isinstance(item, dict) else None
            evidence = render(rule.get("evidence") or "", item) if rule.get("evidence") else _render_value(item)
            subject = render(rule["subject"], item) if rule.get("subject") else evidence.split("\n")[0]
            extra = {}
            if isinstance(item, dict) and isinstance(item.get("path"), str):
                extra["path"] = item["path"]
            elif isinstance(item, str):
                extra["path"] = item
            if (pid, subject) in self._seen:
                continue  # one socket on fds 0 and 1, say: one finding
            self._seen.add((pid, subject))
            self.findings.append(_finding(rule, pid=pid if isinstance(pid, int) else None, subject=subject,
                                          evidence=evidence, **extra))


def _redact_all(findings, recovered, secrets):
    """Findings and recovered files with every secret seen (whole, or cut by a context window's
    edge) and every credential shape redacted; a finding keeps only the redacted form of its own."""
    for finding in findings:
        if "secret" in finding:
            finding["secret"].pop("value", None)
    return scrub_all([findings, recovered], secrets)


class FindingsPass(object):
    """The findings of one checkpoint, prepared before the checkpoint is opened: ``visitors`` and
    ``consumers`` go to its Checkpoint (criu/checkpoint.py), so that the rootfs-diff heads, the file
    and the memory scans ride the Checkpoint's one pass; ``evaluate`` then needs no other read.

    ``options`` as for ``evaluate``; bad rules, indicators or YARA files fail here, before any read.
    """

    def __init__(self, options=None, archive=True):
        _require_jmespath("findings")
        self.options = options = options or {}
        self.warnings = []
        self.rules = load_rules(options.get("rules"))
        self.secret_rules = [rule for rule in self.rules if rule.get("check") == "secret"]
        self.specs = _indicator_specs(options.get("indicators"))
        self.scanner, self.heads, self.visitors, self.consumers = None, {}, [], []
        if archive:
            yara_rules = _load_yara(options.get("yara_rules"), self.warnings) if any(
                rule.get("check") == "yara" for rule in self.rules) else None
            self.scanner = _Scanner(self.secret_rules, self.specs, yara_rules)
            self.visitors = [_rootfs_visitor(self.heads, self.scanner.file)]
            self.rootfs_file = (FILE_SCAN_LIMIT, _rootfs_file(self.heads, self.scanner.file))
            self.consumers = [self.scanner] if options.get("scan_memory", True) else []

    def evaluate(self, analysis, checkpoint=None):
        """Findings for ``analysis``, made from ``checkpoint`` (a Checkpoint opened with this pass's
        visitors and consumers), or from the analysis alone when None."""
        options, warnings = self.options, self.warnings
        contents, scanner = {}, self.scanner
        if checkpoint is not None:
            if checkpoint.memory_error is not None:
                warnings.append("process memory not fully scanned: %s" % checkpoint.memory_error)
            recovered = _recovered_files(checkpoint.archive, warnings, checkpoint)
            for path, data in sorted(recovered.items()):
                scanner.file(path, data)
            contents = {"recovered": recovered, "heads": self.heads}
            pids = _scanned_pids(analysis)
            if self.consumers and pids:
                try:
                    # Only processes with memory can hold a hit: 100k memoryless ones need no record here.
                    scanner.processes = dict((proc.pid, proc) for proc in load_processes(checkpoint.archive, pids)
                                             if proc.pagemap is not None)
                except CheckpointError as exc:
                    warnings.append("memory regions not named: %s" % exc)
        elif options.get("yara_rules") or self.specs:
            warnings.append("no archive given: indicators and YARA rules were only matched against the analysis")
        result = _conclude(analysis, self.rules, self.secret_rules, self.specs, scanner, contents, options, warnings)
        self.secrets = result.pop("secrets")  # kept out of the result: for the caller's final redaction pass
        return result


def _scanned_pids(analysis):
    return [proc.get("pid") for proc in (analysis or {}).get("processes") or []
            if isinstance(proc.get("pid"), int) and proc.get("state") != "zombie"]


def evaluate(analysis, archive=None, options=None):
    """Findings for one analysed checkpoint.

    ``archive``: the checkpoint archive the analysis came from (its path, or an open
    CheckpointArchive, read once more), or None (then only the analysis facts are used: no memory,
    recovered content or rootfs file heads). Modules prepare a FindingsPass instead, so that the
    findings share the analysis's one pass.
    ``options``: ``redact_secrets`` (default true), ``rules`` (YAML file paths or rule mappings),
    ``indicators`` (strings, or mappings with value/type/severity/name), ``yara_rules`` (file or
    directory paths), ``scan_memory`` (default true).
    Returns ``{"findings": [...], "summary": {...}, "recovered": [...], "warnings": [...]}``: findings
    sorted by severity, and the deleted files CRIU kept (path, size, sha256, head as text).
    """
    pending = FindingsPass(options, archive=archive is not None)
    if archive is None:
        return pending.evaluate(analysis)
    options, warnings = pending.options, pending.warnings
    contents = collect(archive, _scanned_pids(analysis), pending.scanner, options.get("scan_memory", True), warnings)
    result = _conclude(analysis, pending.rules, pending.secret_rules, pending.specs, pending.scanner, contents, options,
                       warnings)
    result.pop("secrets")
    return result


def _conclude(analysis, rules, secret_rules, specs, scanner, contents, options, warnings):
    loans, omitted = [], {"findings": 0}
    try:
        return _conclude_on(build_facts(analysis, contents, loans, omitted), rules, secret_rules, specs, scanner,
                            contents, options, warnings, omitted)
    finally:
        repay(loans)


def _conclude_on(facts, rules, secret_rules, specs, scanner, contents, options, warnings, omitted):
    procs = dict((proc.get("pid"), proc) for proc in facts["processes"])
    if omitted["process_sockets"]:
        warnings.append("%d inet sockets listening or established left out of the processes' listening/established "
                        "lists (%d in all): connections[] holds them all" % (omitted["process_sockets"],
                                                                             RULE_PROCESS_SOCKETS))
    indicators = _ConnectionIndicators(specs if any(rule.get("check") == "indicators" for rule in rules) else [])
    findings = _query_rules([rule for rule in rules if rule.get("check") is None], facts, warnings, omitted,
                            {"connections": [indicators.read]} if indicators.specs else {})
    for rule in rules:
        check = rule.get("check")
        if check == "indicators":
            findings.extend(_indicator_findings(rule, facts, specs, scanner, procs, indicators.hits))
        elif check == "yara":
            findings.extend(_yara_findings(rule, scanner, procs))
    findings.extend(_secret_findings(facts, secret_rules, scanner, procs))
    recovered = [{"path": path, "size": len(data), "sha256": hashlib.sha256(data).hexdigest(),
                  "head": text_head(data)} for path, data in sorted(contents.get("recovered", {}).items())]
    secrets = set(item["secret"]["value"] for item in findings if item.get("secret", {}).get("value"))
    if options.get("redact_secrets", True):
        secrets = seen_secrets([findings, recovered], secrets)  # shaped values too: the caller redacts them anywhere
        findings, recovered = _redact_all(findings, recovered, secrets)
    findings.sort(key=lambda item: (-RANK[item["severity"]], item["id"], item.get("pid") or 0, item.get("subject") or ""))
    # ``secrets``: the values seen, for the caller's final redaction pass over what it returns
    return {"findings": findings, "summary": summarize(findings), "recovered": recovered, "warnings": warnings,
            "secrets": sorted(secrets), "omitted": omitted}
