# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""CRIU's names and numbers, defined once: image member paths, task states, remap types,
pagemap and VMA flags. Values are CRIU's own (criu/include/image.h, pagemap.h, pstree.h,
images/*.proto); an archive keeps the images under ``checkpoint/``."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

IMAGE_DIR = "checkpoint/"
PSTREE = IMAGE_DIR + "pstree.img"
INVENTORY = IMAGE_DIR + "inventory.img"
FILES = IMAGE_DIR + "files.img"
REG_FILES = IMAGE_DIR + "reg-files.img"
REMAP_FPATH = IMAGE_DIR + "remap-fpath.img"
PAGEMAP_PREFIX = IMAGE_DIR + "pagemap-"
PAGES_PREFIX = IMAGE_DIR + "pages-"
TMPFS_PREFIX = IMAGE_DIR + "tmpfs-"
PAGEMAP_RE = re.compile(r"^checkpoint/pagemap-(\d+)\.img$")


def image(name):
    """The archive member of image ``name`` (``"pstree.img"`` -> ``"checkpoint/pstree.img"``)."""
    return IMAGE_DIR + name


def core(pid):
    return "%score-%d.img" % (IMAGE_DIR, pid)


def mm(pid):
    return "%smm-%d.img" % (IMAGE_DIR, pid)


def ids(pid):
    return "%sids-%d.img" % (IMAGE_DIR, pid)


def pagemap(pid):
    return "%s%d.img" % (PAGEMAP_PREFIX, pid)


def pages(pages_id):
    return "%s%d.img" % (PAGES_PREFIX, pages_id)


def is_pages_image(name):
    return name.startswith(PAGES_PREFIX) and name.endswith(".img")


PAGE_SIZE = 4096

# Task states (criu/include/pstree.h, compel's task_state): core.tc.task_state. CRIU dumps zombies
# with TASK_DEAD and no memory; compel's separate zombie value is accepted too, should an image
# ever carry it. pycriu's own table mislabels these.
TASK_ALIVE, TASK_DEAD, TASK_STOPPED, COMPEL_TASK_ZOMBIE = 1, 2, 3, 6
TASK_STATE_NAMES = {TASK_ALIVE: "running", TASK_DEAD: "zombie", TASK_STOPPED: "stopped", COMPEL_TASK_ZOMBIE: "zombie"}
ZOMBIE_STATES = (TASK_DEAD, COMPEL_TASK_ZOMBIE)
# remap_file_path_entry types (images/remap-file-path.proto); CRIU before 1.x set bit 31 for ghosts.
REMAP_LINKED, REMAP_GHOST, REMAP_PROCFS = 0, 1, 2
OLD_REMAP_GHOST_BIT = 1 << 31
# pagemap_entry flags (criu/include/pagemap.h)
PE_PARENT, PE_LAZY, PE_PRESENT = 1, 2, 4

# VMA status bits (criu/include/image.h): the kind of a mapping without /proc/pid/maps.
VMA_AREA_STACK = 1 << 1
VMA_AREA_VSYSCALL = 1 << 2
VMA_AREA_VDSO = 1 << 3
VMA_AREA_HEAP = 1 << 5
VMA_FILE_PRIVATE = 1 << 6
VMA_FILE_SHARED = 1 << 7
VMA_ANON_SHARED = 1 << 8
VMA_ANON_PRIVATE = 1 << 9
VMA_AREA_SYSVIPC = 1 << 10
VMA_AREA_SOCKET = 1 << 11
VMA_AREA_VVAR = 1 << 12
VMA_AREA_AIORING = 1 << 13
VMA_AREA_MEMFD = 1 << 14
# mmap flags and protections as the kernel defines them (saved in vma_entry.flags/prot).
MAP_SHARED = 0x01
MAP_GROWSDOWN = 0x100
PROT_READ, PROT_WRITE, PROT_EXEC = 1, 2, 4
