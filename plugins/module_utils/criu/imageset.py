# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The CRIU images of one opened archive, each decoded once while the cache has room for it.

The analysis distinguishes two kinds of trouble on purpose: an image that is *missing* makes the
result partial (a warning says what is unknown because of it), an image that is *present but
corrupt* fails the whole analysis with one line naming it (criu_images raises ImageError).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.forensic.checkpoint.plugins.module_utils.criu import images as criu_images
from ansible_collections.forensic.checkpoint.plugins.module_utils.criu import names
from ansible_collections.forensic.checkpoint.plugins.module_utils.criu.archive import KEEP_MEMBER_LIMIT
from ansible_collections.forensic.checkpoint.plugins.module_utils.criu.tree import ProcessTree

IMAGE_DIR = names.IMAGE_DIR
# Images are decoded in memory; only ghost files (deleted files' content) can legitimately be big
# (CRIU's default --ghost-limit is 1 MiB). The bound holds per image and in total per run, so that
# many images each under the first cannot add up to gigabytes: past it, an image is skipped with a
# warning (what it would tell is then unknown, as for a missing image).
MAX_IMAGE = criu_images.MAX_IMAGE
MAX_IMAGES_TOTAL = 64 * 1024 * 1024
# Warnings that differ only in their numbers (one per pid of a 100k-pid tree) are one kind: the
# first FOLD_AFTER are listed, the rest counted in one warning naming the latest of them.
FOLD_AFTER = 10
_NUMBERS = re.compile(r"[0-9]+")


def text(value):
    """A protobuf string field as text: protobuf hands back bytes when an image holds invalid UTF-8
    (a hostile or corrupt image), which must neither crash sorting nor reach the JSON output."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "backslashreplace")
    return value


class ImageSet(object):
    """Decoded images of ``archive`` by file name (``core-1.img``), kept by its process tree
    (criu/tree.py CACHE_COST); warnings collected."""

    def __init__(self, archive, warnings):
        self.archive = archive
        self.warnings = warnings
        self._counted = set()  # members whose size counts in _decoded
        self._decoded = 0
        self._warned = set(warnings)  # a set: tens of thousands of pids can each warn
        self._kinds = {}  # kind: [listed, index of its summary, folded, summary, last folded]

    def has(self, name):
        return self.archive.has(IMAGE_DIR + name)

    def names(self, prefix):
        """Image file names under checkpoint/ starting with ``prefix``."""
        return [member.name[len(IMAGE_DIR):] for member in self.archive.files(IMAGE_DIR + prefix)]

    def get(self, name, expect, missing=None):
        """The decoded image, or None when the archive lacks it.

        ``missing`` says what is unknown without the image; when given, its absence is warned about.
        """
        member = IMAGE_DIR + name
        tree = ProcessTree.of(self.archive)  # images decoded once per archive while its tree keeps them
        image = tree.decoded(member)
        if image is not None:
            return image
        if not self.archive.has(member):
            if missing:
                self.warn("%s is missing: %s" % (member, missing))
            return None  # not remembered: 100k pids each lacking four images made 400k entries
        size, limit = self.archive.member(member).size, criu_images.size_limit(member)
        if size > limit and limit != MAX_IMAGE:
            self.warn("%s is %d bytes, more than the %d this reader decodes of such an image" % (member, size, limit))
        elif size > (KEEP_MEMBER_LIMIT if self.archive.compression != "none" else MAX_IMAGE):
            self.warn("%s is %d bytes, too large to decode from this %s archive%s" % (
                member, size, self.archive.compression,
                "; decompress it to a plain tar" if self.archive.compression != "none" else ""))
        elif member not in self._counted and self._decoded + size > MAX_IMAGES_TOTAL:
            self.warn("%s (%d bytes) not decoded: the images of this archive would take more than %d MiB"
                      % (member, size, MAX_IMAGES_TOTAL >> 20))
        else:
            if member not in self._counted:  # decoded again when the tree's cache had no room: counted once
                self._counted.add(member)
                self._decoded += size
            image = tree.keep(member, criu_images.decode(member, self.archive.read(member, limit=MAX_IMAGE),
                                                         expect=expect))
        return image

    def entries(self, name, expect, missing=None):
        image = self.get(name, expect, missing)
        return image.entries if image is not None else []

    def first(self, name, expect, missing=None):
        image = self.get(name, expect, missing)
        return image.first() if image is not None else None

    @property
    def folded(self):
        """How many warnings are only counted (in a summary naming one of them)."""
        return sum(kind[2] - 1 for kind in self._kinds.values() if kind[2])

    def warn(self, message):
        if message in self._warned:
            return
        kind = self._kinds.setdefault(_NUMBERS.sub("#", message), [0, None, 0, None, None])
        if kind[0] < FOLD_AFTER:
            kind[0] += 1
            self._warned.add(message)
            self.warnings.append(message)
            return
        if message == kind[4]:
            return
        # Counted, not kept (400k warnings of a 100k-pid tree took 55 MB): a repeat of a folded
        # warning is counted again unless it follows itself (none of the analysis' repeats).
        kind[2] += 1
        kind[4] = message
        summary = "%s (and %d more like it with other numbers)" % (message, kind[2] - 1)
        if kind[1] is None or kind[1] >= len(self.warnings) or self.warnings[kind[1]] != kind[3]:
            # first fold, or the list was shifted since (its owner inserted before it)
            kind[1] = self.warnings.index(kind[3]) if kind[1] is not None else len(self.warnings)
            if kind[1] == len(self.warnings):
                self.warnings.append(None)
        self.warnings[kind[1]] = kind[3] = summary
