# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The process tree of one opened checkpoint archive, loaded lazily and once.

``pstree.img`` gives the tasks (pid, parent, process group, session, threads); ``core-<pid>.img``
each one's name and state; ``mm-<pid>.img`` its memory map; ``pagemap-<pid>.img`` where its pages
are. Each image is decoded at most once per opened archive, by whoever asks first (the
Checkpoint's memory pass, the analysis, memory queries, core dumps), and shared by all of them;
so are the pagemaps built from them (memory/pagemap.py's ``PageMap.of``) and the table of regular
files that memory maps and core dumps name mappings by (``regular_files``). A missing image is not
remembered as missing: during a compressed archive's indexing pass it may still come.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.forensic.checkpoint.plugins.module_utils.criu import images as criu_images
from ansible_collections.forensic.checkpoint.plugins.module_utils.criu import names

# The tasks and thread ids read from pstree.img, in all. Every consumer holds something per task
# (an analysis about 1.5 KB with its findings; checkpoint_diff two sides of them), so the tree is
# what bounds them: a forged pstree of 300k pids took 452 MB, one entry of 30M thread ids 976 MB.
# Real containers are far below: threads count against a container's pids limit, 4,096 for a pod
# on OpenShift and 2,048 or 4,096 in Podman (docs.podman.io, --pids-limit), and 32,768 is the
# kernel's historic default pid_max. At twice this bound, an analysis of processes each with a
# core image took 194 MB. CRIU writes pstree.img depth first from the root task (criu/pstree.c
# dump_pstree, for_each_pstree_item), so the first MAX_TASKS are the root's side of the tree.
MAX_TASKS = 32768
MAX_THREAD_IDS = 1 << 20
# Decoded images are kept for the next reader up to CACHE_COST (Image.cost: their messages take
# about six times their bytes); past it each is decoded, used and let go. Every process's core, mm,
# fs and ids image kept took 423 MB for 30k processes whose images were each under every bound.
# Images read by offset (files, fdinfo) are kept whatever the cost: they are their bytes, bounded
# in total by criu/imageset.py MAX_IMAGES_TOTAL, and processes sharing an fd table must share one
# (analysis/files.py FileRows, findings/engine.py _SharedTables).
CACHE_COST = 16 << 20


def raw_text(value):
    """A protobuf string field as str keeping every byte: protobuf hands back bytes for invalid
    UTF-8, which surrogateescape round-trips (text.escape shows them as \\xNN)."""
    return value.decode("utf-8", "surrogateescape") if isinstance(value, bytes) else value


class Task(object):
    """One pstree entry; its images are read through the tree when first asked for."""

    __slots__ = ("pid", "ppid", "pgid", "sid", "threads", "thread_count", "_tree")

    def __init__(self, tree, entry, room=MAX_THREAD_IDS):
        self._tree = tree
        self.pid, self.ppid, self.pgid, self.sid = entry.pid, entry.ppid, entry.pgid, entry.sid
        self.thread_count = len(entry.threads)
        # as CRIU listed them, the first ``room`` of them; empty in some images (one shared ())
        self.threads = tuple(entry.threads[:room] if self.thread_count > room else entry.threads)

    @property
    def core(self):
        """The leader's core entry, None when the archive lacks it."""
        return self._tree.first(names.core(self.pid), "CORE")

    @property
    def state(self):
        """core.tc.task_state, None when unknown."""
        core = self.core
        return core.tc.task_state if core is not None and core.HasField("tc") else None

    @property
    def zombie(self):
        return self.state in names.ZOMBIE_STATES

    @property
    def comm(self):
        core = self.core
        if core is None:
            return None
        return raw_text(core.tc.comm if core.HasField("tc") else core.thread_core.comm)

    @property
    def mm(self):
        """The mm entry (VMAs, argv/environ addresses, auxv), None when the archive lacks it."""
        return self._tree.first(names.mm(self.pid), "MM")


class ProcessTree(object):
    """See the module docstring; ``ProcessTree.of(archive)`` is the one tree of that archive."""

    def __init__(self, archive):
        self.archive = archive
        self.memo = {}  # derived models keyed by (kind, pid): PageMap.of's pagemaps
        self._images = {}
        self._cost = 0  # of the kept images decoded into messages
        self._tasks = None
        self._by_pid = None
        self.unread = {"tasks": 0, "threads": 0}  # what pstree.img lists past MAX_TASKS and MAX_THREAD_IDS

    @classmethod
    def of(cls, archive):
        tree = archive.models.get(cls)
        if tree is None:
            tree = archive.models[cls] = cls(archive)
        return tree

    def image(self, member, expect):
        """The decoded image ``member`` (ImageError when missing or corrupt), decoded once."""
        image = self._images.get(member)
        if image is None:
            image = self.keep(member, criu_images.load(self.archive, member, expect=expect))
        return image

    def decoded(self, member):
        """``member`` if some consumer decoded it already and it was kept, else None."""
        return self._images.get(member)

    def keep(self, member, image):
        """Share ``image`` (decoded here or by another reader, the analysis' ImageSet) while the
        cache has room for it (CACHE_COST), and return it."""
        if image.magic in criu_images.BY_OFFSET:
            self._images[member] = image
        elif self._cost + image.cost <= CACHE_COST:
            self._images[member] = image
            self._cost += image.cost
        return image

    def let_go(self):
        """Drop every kept image decoded into messages once the readers that share them are done
        (checkpoint_diff holds one archive open while it analyses the other); those read by offset
        stay, for the records still to be made from them."""
        for member in [member for member, image in self._images.items() if image.magic not in criu_images.BY_OFFSET]:
            self.forget(member)

    def forget(self, member):
        """Drop a decoded image once what was built from it is kept (a pagemap's runs, say)."""
        image = self._images.pop(member, None)
        if image is not None and image.magic not in criu_images.BY_OFFSET:
            self._cost -= image.cost

    def first(self, member, expect):
        """The first entry of ``member``, None when the archive lacks it."""
        return self.image(member, expect).first() if self.archive.has(member) else None

    @property
    def tasks(self):
        """The tasks in the order CRIU wrote pstree.img (the container's first process first), the
        first MAX_TASKS of them with MAX_THREAD_IDS thread ids in all (``unread`` counts the rest)."""
        if self._tasks is None:
            entries = self.image(names.PSTREE, "PSTREE").entries
            tasks, room = [], MAX_THREAD_IDS
            for entry in entries[:MAX_TASKS]:
                task = Task(self, entry, room)
                room -= len(task.threads)
                self.unread["threads"] += task.thread_count - len(task.threads)
                tasks.append(task)
            self.unread["tasks"] = max(0, len(entries) - MAX_TASKS)
            self._tasks = tasks
        return self._tasks

    def unread_note(self):
        """What of pstree.img was not read (MAX_TASKS, MAX_THREAD_IDS), as a sentence; None when all was."""
        tasks, threads = self.unread["tasks"], self.unread["threads"]
        if not tasks and not threads:
            return None
        parts = []
        if tasks:
            parts.append("lists %d tasks: the first %d (tree order) are read" % (MAX_TASKS + tasks, MAX_TASKS))
        if threads:
            parts.append("%d thread ids past the first %d are not" % (threads, MAX_THREAD_IDS))
        return "%s %s; what is not read is left out of every analysis and finding" % (names.PSTREE, ", ".join(parts))

    def pids(self):
        return [task.pid for task in self.tasks]

    def known_pids(self, limit=20):
        """The first ``limit`` pids read and what was not read, for an error naming a pid the tree
        lacks (a forged pstree lists 32k of them: not all in one line)."""
        known = self.pids()
        note = self.unread_note()
        return ", ".join(str(pid) for pid in known[:limit]) + (", ..." if len(known) > limit else "") + \
            ("; " + note if note else "")

    def task(self, pid):
        """The task ``pid``, None when pstree.img does not list it."""
        if self._by_pid is None:
            self._by_pid = dict((task.pid, task) for task in self.tasks)
        return self._by_pid.get(pid)

    def core(self, tid):
        """The core entry of thread ``tid`` (ImageError when missing)."""
        return self.image(names.core(tid), "CORE").first()

    def pages_of(self, pid):
        """The pages image member holding the memory of ``pid``, from its pagemap's head."""
        key = ("pages", pid)
        if key not in self.memo:
            self.memo[key] = names.pages(self.image(names.pagemap(pid), "PAGEMAP").first().pages_id)
        return self.memo[key]

    def regular_files(self):
        """The regular files the dump knows, by file id (RegularFiles)."""
        key = ("files", None)
        if key not in self.memo:
            self.memo[key] = RegularFiles(self)
        return self.memo[key]


class RegularFiles(object):
    """{file id: (path, recorded size or None, deleted)}, read-only, of the regular files the dump
    knows: files.img, or reg-files.img before CRIU 3.x merged them; deleted when remap-fpath.img
    records a linked or ghost remap (the process had it open after its unlink). Entries are looked
    up by id when asked for (criu/images.py Entries.find), not copied: a dict of 300k files held
    60 MB. ``paths`` is the same, path only."""

    def __init__(self, tree):
        archive = tree.archive
        self._entries, self._legacy = (), {}
        if archive.has(names.FILES):
            self._entries = tree.image(names.FILES, "FILES").entries
        elif archive.has(names.REG_FILES):  # old CRIU: few files, one image of them
            self._legacy = dict((entry.id, entry) for entry in tree.image(names.REG_FILES, "REG_FILES").entries)
        self._deleted = set()
        if archive.has(names.REMAP_FPATH):
            self._deleted = set(remap.orig_id for remap in tree.image(names.REMAP_FPATH, "REMAP_FPATH").entries
                                if remap.remap_type in (names.REMAP_LINKED, names.REMAP_GHOST))
        self.paths = _Paths(self)

    def get(self, file_id, default=None):
        if self._entries:
            entry = self._entries.find(file_id)
            reg = entry.reg if entry is not None and entry.HasField("reg") else None
        else:
            reg = self._legacy.get(file_id)
        if reg is None:
            return default
        return raw_text(reg.name), _size(reg), file_id in self._deleted

    def __getitem__(self, file_id):
        found = self.get(file_id)
        if found is None:
            raise KeyError(file_id)
        return found

    def __contains__(self, file_id):
        return self.get(file_id) is not None


class _Paths(object):
    """{file id: path} of RegularFiles."""

    def __init__(self, files):
        self._files = files

    def get(self, file_id, default=None):
        found = self._files.get(file_id)
        return found[0] if found is not None else default


def _size(reg):
    return reg.size if reg.HasField("size") else None
