# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One checkpoint archive, opened once, read-only, serving every consumer of its content.

A ``Checkpoint`` indexes the archive (plain tar by member offset; gzip or zstd in ONE streaming
pass) and, during that same pass, hands each member to the ``visitors`` that asked for it
(rootfs-diff.tar readers, say) and each pages image to the memory ``consumers`` (the findings'
memory scan, argv/environ capture), while the archive's SHA-256 is computed from the same bytes.
Afterwards it owns the index, the decoded-image cache (``images``) and the file table, so the
analysis and the findings share one model of the checkpoint.

A pages image can only be fed when its pagemap (and what a consumer needs to place its ranges,
e.g. the mm image) went by before it: Podman writes images in name order, so ``pagemap-N`` and
``mm-N`` precede ``pages-N``. Archives in another order (the kubelet's CRI-O archives put pages
first) get one more pass for those pages images only, because holding decompressed pages until
their pagemap arrives would not keep memory bounded. ``passes`` counts the streaming passes.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.forensic.checkpoint.plugins.module_utils.criu import names
from ansible_collections.forensic.checkpoint.plugins.module_utils.criu.archive import CheckpointArchive, default_keep
from ansible_collections.forensic.checkpoint.plugins.module_utils.criu.imageset import ImageSet
from ansible_collections.forensic.checkpoint.plugins.module_utils.criu.tree import ProcessTree
from ansible_collections.forensic.checkpoint.plugins.module_utils.errors import ImageError
from ansible_collections.forensic.checkpoint.plugins.module_utils.memory import scan as scan_mod
from ansible_collections.forensic.checkpoint.plugins.module_utils.memory.pagemap import PageMap


class _Stream(CheckpointArchive):
    """The archive of a Checkpoint, whose indexing pass feeds the Checkpoint's consumers."""

    def __init__(self, owner, path, keep, checksum):
        owner.building = self  # the callbacks of the indexing pass need the index as it grows
        super(_Stream, self).__init__(path, keep=keep, visit=owner.visit_member, checksum=checksum)


class Checkpoint(object):
    """See the module docstring. ``visitors``: callables ``(member, fileobj)`` seeing every regular
    member once; ``consumers``: memory consumers (memory/scan.py) fed the pages of every process
    (of ``pids`` when given; ``clip``, {pid: [(start, end)]}, limits the memory looked at)."""

    def __init__(self, path, keep=default_keep, visitors=(), consumers=(), checksum=False, pids=None, clip=None):
        self.path, self.pids, self.clip = path, pids, clip
        self.visitors = list(visitors)
        self.consumers = list(consumers)
        self.passes = 0
        self._fed = set()
        self._images = None
        self._models = {}
        self.memory_error = None
        self.building = None
        self.archive = _Stream(self, path, keep, checksum)
        try:
            if self.archive.compression != "none":
                self.passes += 1
            self._feed_the_rest()
        except BaseException:
            self.archive.close()
            raise

    # -- the pass -------------------------------------------------------------------------------

    def visit_member(self, member, fileobj):
        for visitor in self.visitors:
            visitor(member, fileobj)
        index = self.building
        if self.consumers and index.compression != "none" and names.is_pages_image(member.name):
            try:
                pagemaps = self._pagemaps_of(index, member.name)
                ready = pagemaps and all(getattr(consumer, "ready", _ready)(index, [pm.pid for pm in pagemaps])
                                         for consumer in self.consumers)
            except ImageError as exc:
                self.memory_error, self.consumers = exc, []
                return
            if ready:
                self._fed.add(member.name)
                self._feed(scan_mod.stream_reader(fileobj, member.name), pagemaps, member.name)

    def _feed(self, read_into, pagemaps, pages):
        """Feed the consumers; a memory image that cannot be read stops the memory work, not the
        indexing (``memory_error`` says why, for the consumers' owners to report)."""
        if not self.consumers:
            return
        try:
            pieces = scan_mod.plan(pagemaps, self.consumers, self.clip)
            scan_mod.announce(self.consumers, pieces)
            scan_mod.feed(read_into, pieces, self.consumers, pages)
        except ImageError as exc:
            self.memory_error, self.consumers = exc, []

    def _pagemaps_of(self, index, pages):
        """The pagemaps indexed so far whose pages image is ``pages``."""
        tree = ProcessTree.of(index)
        return [PageMap.of(index, pid) for pid in scan_mod.pagemap_pids(index, self.pids) if tree.pages_of(pid) == pages]

    def _feed_the_rest(self):
        if not self.consumers:
            return
        index = self.archive
        if index.compression == "none":
            for consumer in self.consumers:
                getattr(consumer, "ready", _ready)(index, scan_mod.pagemap_pids(index, self.pids), True)
            try:
                scan_mod.scan_plain(index, self.consumers, self.pids, self.clip)
            except ImageError as exc:
                self.memory_error, self.consumers = exc, []
            return
        late = {}
        try:
            for pid in scan_mod.pagemap_pids(index, self.pids):
                pagemap = PageMap.of(index, pid)
                if pagemap.pages not in self._fed:
                    late.setdefault(pagemap.pages, []).append(pagemap)
        except ImageError as exc:
            self.memory_error, self.consumers = exc, []
            return
        if not late:
            return
        for consumer in self.consumers:
            getattr(consumer, "ready", _ready)(index, [pm.pid for pms in late.values() for pm in pms], True)

        def on_late(member, fileobj):
            if member.name in late:
                self._feed(scan_mod.stream_reader(fileobj, member.name), late[member.name], member.name)

        self.another_pass(on_late)

    def another_pass(self, visit):
        """One more streaming pass over the compressed archive, ``visit(member, fileobj)`` seeing
        every regular member, nothing kept; for pages that went by before what places them."""
        self.passes += 1
        CheckpointArchive(self.path, keep=_keep_nothing, visit=visit).close()

    # -- the model ------------------------------------------------------------------------------

    def images(self, warnings):
        """The decoded-image cache, created once; its warnings go to the first caller's list."""
        if self._images is None:
            self._images = ImageSet(self.archive, warnings)
        return self._images

    @property
    def tree(self):
        """The process tree (criu/tree.py), loaded lazily and once, shared by every consumer."""
        return ProcessTree.of(self.archive)

    def cached(self, key, make):
        """One shared model per ``key`` (the file table, say), made on first use."""
        if key not in self._models:
            self._models[key] = make()
        return self._models[key]

    def close(self):
        self.archive.close()

    def __enter__(self):
        return self

    def __exit__(self, *_exc):
        self.close()


def _keep_nothing(_name, _size):
    return False


def _ready(_index, _pids, _final=False):
    return True


def scan(path, consumers=(), pids=None, clip=None, checksum=False):
    """Run ``consumers`` over the dumped memory of ``pids`` (every process when None) of the
    checkpoint archive ``path`` in its one pass, and return its CheckpointArchive (the caller closes
    it; its ``sha256`` is the archive's with ``checksum``, from that same pass). ``clip``
    ({pid: [(start, end)]}) limits the memory looked at (parent passes). A memory image that cannot
    be read fails the scan with its one-line error."""
    consumers = list(consumers)
    if not consumers:
        return CheckpointArchive(path, checksum=checksum)
    checkpoint = Checkpoint(path, consumers=consumers, pids=pids, clip=clip, checksum=checksum)
    if checkpoint.memory_error is not None:
        checkpoint.close()
        raise checkpoint.memory_error
    return checkpoint.archive
