# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The analysis engine: one checkpoint archive in, one plain dict out.

Reading plan: a plain tar is indexed from its headers and every image is read in place; a
compressed archive is decompressed once (the small images held in memory, rootfs-diff.tar listed
as it streams by) and once more only if process memory is wanted, capturing just the pages that
hold argv and environ. Nothing is extracted to disk. Concerns live in their own modules
(processes, files, sockets, mounts, rootfs, redact, export); this one only orchestrates.

The result is the dict checkpoint_analyze returns. Other engines add their own top-level keys
to it afterwards (the findings engine adds ``findings``); nothing here depends on them.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from ansible_collections.forensic.checkpoint.plugins.module_utils.analysis import mounts as mounts_mod
from ansible_collections.forensic.checkpoint.plugins.module_utils.analysis import processes as processes_mod
from ansible_collections.forensic.checkpoint.plugins.module_utils.criu import names
from ansible_collections.forensic.checkpoint.plugins.module_utils.criu.checkpoint import Checkpoint
from ansible_collections.forensic.checkpoint.plugins.module_utils.criu.tree import ProcessTree
from ansible_collections.forensic.checkpoint.plugins.module_utils.criu.archive import KEEP_MEMBER_LIMIT, is_pages_image
from ansible_collections.forensic.checkpoint.plugins.module_utils.errors import CheckpointError
from ansible_collections.forensic.checkpoint.plugins.module_utils.analysis.export import Exporter
from ansible_collections.forensic.checkpoint.plugins.module_utils.analysis.files import MAX_RECOVER, FileRows, FileTable
from ansible_collections.forensic.checkpoint.plugins.module_utils.criu.imageset import ImageSet, text
from ansible_collections.forensic.checkpoint.plugins.module_utils.criu.metadata import METADATA_MEMBERS, describe, load_json, network_status
from ansible_collections.forensic.checkpoint.plugins.module_utils.findings.redact import Redactor, scrub_all
from ansible_collections.forensic.checkpoint.plugins.module_utils.analysis.rootfs import DeletedFiles, RootfsDiff
from ansible_collections.forensic.checkpoint.plugins.module_utils.analysis.sockets import SocketTable
from ansible_collections.forensic.checkpoint.plugins.module_utils.memory.scan import Capture

SECTIONS = ("processes", "files", "sockets", "mounts", "rootfs", "stats")
EXPORTS = ("recovered", "rootfs")
_EXTRA_MEMBERS = frozenset(("bind.mounts",))  # deleted.files is streamed (rootfs.DeletedFiles), never held


def keep_for_analysis(name, size):
    """Members of a compressed archive worth holding in memory: CRIU images (not page data or
    tmpfs tarballs) and the small metadata files."""
    if size > KEEP_MEMBER_LIMIT:
        return False
    if name.startswith(names.IMAGE_DIR):
        return name.endswith(".img") and not is_pages_image(name) and not name.startswith(names.TMPFS_PREFIX)
    return name in METADATA_MEMBERS or name in _EXTRA_MEMBERS


def _networks(status):
    """Podman's network.status (a ``network_status`` document) as checkpointctl shows it:
    [{name, interfaces: {eth0: {ip, mac, gateway}}}]."""
    networks = []
    for name in sorted(status) if isinstance(status, dict) else ():
        interfaces = {}
        for iface, data in sorted(status[name]["interfaces"].items()):
            subnets = data["subnets"]
            interfaces[iface] = {
                "ip": (subnets[0]["ipnet"] or "").split("/")[0] or None if subnets else None,
                "gateway": subnets[0]["gateway"] if subnets else None,
                "mac": data["mac_address"],
            }
        networks.append({"name": name, "interfaces": interfaces})
    return networks


def _container(archive, images, spec):
    """checkpoint_info's metadata plus annotations, networks/MAC and the container's hostname."""
    container = describe(archive)
    warnings = container.pop("warnings")
    annotations = spec.get("annotations") if isinstance(spec, dict) else None
    container["annotations"] = {}
    for key, value in sorted(annotations.items()) if isinstance(annotations, dict) else ():
        if not isinstance(value, str):  # the OCI spec has string values only: shown, but said
            warnings.append("spec.dump annotation %s is a JSON %s, not a string" % (key, type(value).__name__))
            value = json.dumps(value, sort_keys=True)
        container["annotations"][key] = value
    container["networks"] = _networks(network_status(load_json(archive, "network.status"), warnings))
    macs = [i["mac"] for n in container["networks"] for i in n["interfaces"].values() if i["mac"]]
    container["mac"] = macs[0] if macs else None
    uts = images.names("utsns-")[:1]  # the first, not all of them decoded (a crafted archive holds 150k)
    uts = images.first(uts[0], "UTSNS") if uts else None
    container["hostname"] = text(uts.nodename) if uts is not None else None
    return container, warnings


def _unless_same(new, old):
    return old if new == old else new


def _redact_processes(procs, redactor):
    """Redact secret-named env values first, then scrub their values from env, argv and cmdline."""
    for proc in procs:
        if proc.get("env"):
            proc["env"] = _unless_same(redactor.redact_env(proc["env"]), proc["env"])
    for proc in procs:
        if "env" in proc:
            # The same objects when nothing changed: 50k processes' empty env and argv, not copies.
            if proc["env"]:
                proc["env"] = _unless_same(dict((name, redactor.scrub(value)) for name, value in proc["env"].items()),
                                           proc["env"])
            if proc["argv"]:
                proc["argv"] = _unless_same([redactor.scrub(arg) for arg in proc["argv"]], proc["argv"])
            proc["cmdline"] = redactor.scrub(proc["cmdline"])


def _redact(analysis, redactor):
    """Redact secret-named env values everywhere first, then scrub their values from the rest."""
    _redact_processes(analysis.get("processes") or [], redactor)
    annotations = analysis["container"]["annotations"]
    for key in annotations:
        annotations[key] = redactor.scrub(annotations[key])
    # then every string (file names in rootfs, argv, sockets, warnings...): known values and shapes
    for key in list(analysis):
        analysis[key] = scrub_all(analysis[key], redactor.secrets)


def _export_recovered(files, exporter):
    for file_id, path, ghost in files.ghosts_to_recover():
        source = path or "file-%d" % file_id
        if ghost.size > MAX_RECOVER:
            exporter.skip("recovered", source, "%d bytes, more than the %d this exporter holds" % (ghost.size, MAX_RECOVER))
            continue
        if ghost.entry.mode & 0o6000:
            # Refused like setuid files of the rootfs; its size and sha256 are in the files list.
            exporter.skip("recovered", source, "setuid/setgid file")
            continue
        relpath = exporter.unique("recovered/" + source.lstrip("/"), ".ghost-%d" % file_id)
        exporter.export("recovered", source, relpath, ghost.stream())


def _stats(analysis, archive, container):
    procs = analysis.get("processes") or []
    listed = any("files" in proc for proc in procs)
    files = deleted = 0
    tables = {}  # a shared fd table (CLONE_FILES) counted once, not once per process
    for proc in procs:
        rows = proc.get("files", ())
        if isinstance(rows, FileRows):  # counted from the fd table, its records not made
            if id(rows.fds) not in tables:
                tables[id(rows.fds)] = rows.counts()
            opened, gone = tables[id(rows.fds)]
        else:
            described = [row for row in rows if not isinstance(row["fd"], str)]
            opened, gone = len(described), len([row for row in described if row["deleted"]])
        files += opened
        deleted += gone
    rootfs = analysis.get("rootfs") or {}
    unread = ProcessTree.of(archive).unread
    return {
        "dump": container["stats"],
        # every task and thread id pstree.img lists, those past criu/tree.py's bounds too
        "processes": len(procs) + unread["tasks"],
        "threads": sum(len(proc["threads"]) for proc in procs) + unread["threads"],
        "open_files": files if listed else None,
        "deleted_open_files": deleted if listed else None,
        "sockets": sum(len(proc["sockets"]) for proc in procs) if any("sockets" in p for p in procs) else None,
        "memory_size": sum(proc.get("memory_size", 0) for proc in procs),
        "images": len([m for m in archive.files(names.IMAGE_DIR) if m.name.endswith(".img")]),
        "rootfs_changed": len(rootfs["changed"]) if "changed" in rootfs else None,
        "rootfs_deleted": len(rootfs["deleted"]) if "deleted" in rootfs else None,
    }


class AnalysisPlan(object):
    """What an analysis of one checkpoint needs, decided before the checkpoint is opened:
    ``visitors`` (rootfs-diff.tar, listed and exported as it goes by) and ``consumers`` (the pages
    holding argv and environ, captured) go to its Checkpoint; ``run`` then builds the analysis.

    ``export`` (a subset of EXPORTS) writes recovered deleted files and/or the rootfs-diff files
    below ``export_dir`` (in ``check_mode`` only what would change is computed); the records are in
    ``exported`` (each with ``changed``) and the refusals in ``export_skipped``.
    """

    def __init__(self, path, include=SECTIONS, redact_secrets=True, export_dir=None, export=(), check_mode=False,
                 export_limit=None):
        include = set(include)
        unknown = sorted(include.difference(SECTIONS)) + sorted(set(export).difference(EXPORTS))
        if unknown:
            raise CheckpointError("checkpoint_analyze", "unknown section or export kind: %s" % ", ".join(unknown))
        self.path, self.include, self.export, self.redact_secrets = path, include, export, redact_secrets
        self.redactor = Redactor()
        self.exporter = Exporter(export_dir, check_mode, protect=[path], limit=export_limit) if export_dir and export else None
        self.rootfs = None
        if "rootfs" in include or (self.exporter and "rootfs" in export):
            self.rootfs = RootfsDiff(path, self.exporter if self.exporter and "rootfs" in export else None)
        self.deleted = DeletedFiles() if "rootfs" in include else None
        self.visitors = [plan.visit for plan in (self.rootfs, self.deleted) if plan is not None]
        self.capture = Capture(processes_mod.argv_env_ranges, processes_mod.ARGV_ENV_BYTES) if "processes" in include else None
        self.consumers = [self.capture] if self.capture else []

    @property
    def has_processes(self):
        """Whether the analysis lists processes (then their memory is worth scanning)."""
        return bool(self.include & set(("processes", "files", "sockets")))

    def run(self, checkpoint):
        include, exporter, rootfs = self.include, self.exporter, self.rootfs
        archive = checkpoint.archive
        spec = load_json(archive, "spec.dump") or {}
        warnings = []
        images = checkpoint.images(warnings)
        container, container_warnings = _container(archive, images, spec)
        warnings[:0] = container_warnings
        analysis = {"path": self.path, "include": [s for s in SECTIONS if s in include],
                    "redacted": bool(self.redact_secrets), "container": container}

        wants_tree = self.has_processes
        files = checkpoint.cached("files", lambda: FileTable(images)) if wants_tree or (exporter and "recovered" in self.export) else None
        if wants_tree:
            # The tree's tasks (pid, ppid, pgid, sid, threads), not a second set of pstree entries:
            # 100k of those held as protobuf objects cost 20 MB more.
            tree = ProcessTree.of(archive)
            entries = tree.tasks if images.get("pstree.img", "PSTREE", missing="no process data") else []
            note = tree.unread_note()
            if note:
                warnings.append(note)
            ordered, children = processes_mod.tree_order(entries, images.warn)
            self._tree = (ordered, children, files, SocketTable(images, files) if "sockets" in include else None)
            analysis["processes"] = self._described(images, ordered)
        if "mounts" in include:
            criu_mounts, more_mounts = mounts_mod.criu_mounts(images)
            if more_mounts:
                warnings.append("analysis.mounts.criu lists the first %d of %d mounts of the mountpoints images"
                                % (len(criu_mounts), len(criu_mounts) + more_mounts))
            analysis["mounts"] = {"spec": mounts_mod.spec_mounts(spec), "criu": criu_mounts,
                                  "bind": mounts_mod.bind_mounts(load_json(archive, "bind.mounts"))}
        if "rootfs" in include:
            if rootfs.changed is None:
                warnings.append("rootfs-diff.tar is missing: file system changes are unknown")
            elif rootfs.truncated:
                warnings.append("rootfs-diff.tar has more entries than listed (%d)" % len(rootfs.changed))
            warnings.extend(self.deleted.warnings)
            analysis["rootfs"] = {"changed": rootfs.changed or [], "deleted": self.deleted.paths or []}
        if self.redact_secrets:
            _redact(analysis, self.redactor)
        if "stats" in include:
            analysis["stats"] = _stats(analysis, archive, container)
        if exporter is not None:
            if "recovered" in self.export:
                _export_recovered(files, exporter)
            exporter.close()  # every export is done: the rootfs ones rode the pass, the recovered ones just now
            analysis["exported"] = exporter.exported
            analysis["export_skipped"] = exporter.skipped
        analysis["warnings"] = warnings
        # What the analysis itself left out: warnings only counted in a summary (ImageSet.warn), and
        # deleted paths past rootfs.MAX_ENTRIES (runners/analyze.py's capped adds what it cuts).
        unread = ProcessTree.of(archive).unread  # tasks and thread ids past criu/tree.py's bounds
        omitted = {"warnings": images.folded, "rootfs": self.deleted.omitted if self.deleted else 0,
                   "processes": unread["tasks"], "threads": unread["threads"],
                   "mounts": more_mounts if "mounts" in include else 0}
        if any(omitted.values()):
            analysis["omitted"] = omitted
        return analysis

    def _described(self, images, entries):
        children, files, sockets = self._tree[1:]
        procs = [processes_mod.describe(images, entry, children, files, sockets, detail="processes" in self.include,
                                        list_files="files" in self.include) for entry in entries]
        if "processes" in self.include:
            processes_mod.read_memory(images, procs, self.capture.readers())
        return procs

    def reread(self, checkpoint, positions):
        """{tree position: process} of ``positions`` made again as ``run`` made them (redacted alike),
        from the still open ``checkpoint``: checkpoint_diff lets the processes go once they are
        compared and makes only those it lists again. Their warnings were given the first time."""
        ordered = self._tree[0]
        procs = self._described(ImageSet(checkpoint.archive, []), [ordered[at] for at in positions])
        if self.redact_secrets:
            _redact_processes(procs, self.redactor)
            procs = scrub_all(procs, self.redactor.secrets)
        return dict(zip(positions, procs))


def open_checkpoint(path, plans, checksum=False):
    """The Checkpoint of ``path`` opened once for every plan (AnalysisPlan, FindingsPass...): their
    visitors and consumers all ride its one pass."""
    return Checkpoint(path, keep=keep_for_analysis, checksum=checksum,
                      visitors=[visitor for plan in plans for visitor in plan.visitors],
                      consumers=[consumer for plan in plans for consumer in plan.consumers])


def analyze(path, include=SECTIONS, redact_secrets=True, export_dir=None, export=(), check_mode=False, checksum=False):
    """The analysis of one checkpoint archive (see checkpoint_analyze's RETURN for its shape, and
    AnalysisPlan for the options)."""
    plan = AnalysisPlan(path, include, redact_secrets, export_dir, export, check_mode)
    with open_checkpoint(path, [plan], checksum) as checkpoint:
        return materialize(plan.run(checkpoint))


def materialize(analysis):
    """``analysis`` with every process's open-file and socket records made, as lists (the modules
    list only max_total_files of each: see runners/analyze.py capped)."""
    for proc in analysis.get("processes") or []:
        for key in ("files", "sockets"):
            if key in proc:
                proc[key] = list(proc[key])
    return analysis
