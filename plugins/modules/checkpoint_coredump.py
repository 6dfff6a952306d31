#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: checkpoint_coredump
short_description: Write ELF core files of the processes in a container checkpoint
version_added: 0.1.0
description:
  - Converts the CRIU images of a checkpoint archive into one ELF core file per process, for
    C(gdb), C(readelf), Volatility-style tools or anything else that reads Linux core dumps.
  - "Each core has the notes a kernel core dump has: C(NT_PRPSINFO) (command name, arguments,
    process ids, uid/gid, state), per thread C(NT_PRSTATUS) with the general registers,
    C(NT_FPREGSET) and C(NT_X86_XSTATE) (x86-64) or C(NT_ARM_TLS) (aarch64), C(NT_SIGINFO),
    C(NT_AUXV) and C(NT_FILE); then one C(PT_LOAD) segment per memory area with its permissions."
  - Memory CRIU dumped is copied from the pages image. Memory it did not dump is zero, except in
    file-backed areas when O(root) is given, where it is read from the mapped file (CRIU leaves
    out file pages the process never changed).
  - Cores are written streaming, page run by page run, never held in memory. From a plain tar the
    pages are copied in the kernel at their offset in the archive; a gzip or zstd archive is
    decompressed once more and each core is written while its pages stream by (the process ids
    and threads the core's headers need come after the pages in the archive).
  - x86-64 and aarch64 processes are supported; 32-bit (compat) processes and zombies are not.
author:
  - forensic.checkpoint contributors (@forensic-checkpoint)
options:
  path:
    description:
      - The checkpoint archive (plain tar, gzip or zstd), as the kubelet, CRI-O or Podman wrote it.
    type: path
    required: true
  pid:
    description:
      - The processes to write cores for, by their PID in the checkpoint (as C(checkpoint_info)
        and C(crit show pstree.img) list them).
      - Default is every process; zombies are then skipped with a warning.
      - One task writes at most 1,000 cores holding 8,192 threads in all. By default the first ones of
        the process tree are written and a warning names the others; asking for more by O(pid) fails.
    type: list
    elements: int
  dest:
    description:
      - The directory the cores are written to, as C(core.<pid>); created (mode 0700) if missing.
      - Files are created mode 0600 under a temporary name inside O(dest), without following
        symbolic links, and renamed into place when complete.
    type: path
    required: true
  root:
    description:
      - A directory holding the container's files as the container saw them, for example an
        extracted image. File-backed memory CRIU did not dump is read from the mapped files under
        it; paths resolve as if O(root) were C(/), symbolic links included, and never leave it.
      - Without it that memory is zero in the core and a warning names the files.
    type: path
  overwrite:
    description:
      - Replace an existing C(core.<pid>). When false an existing core is left alone and
        reported unchanged.
    type: bool
    default: false
  max_bytes:
    description:
      - The most bytes of data this task writes, all cores together; holes (memory CRIU did not
        dump) are not counted. V(0) sets no bound.
      - Cores copy the memory CRIU dumped, so a crafted archive whose processes all claim one pages
        image is written once a process (a 37 MB archive made 33 GB of cores). By default the cores
        past the bound are not written and a warning names them; asking for them by O(pid) fails.
    type: int
    default: 17179869184
  checksum:
    description:
      - Compute the SHA-256 of every core while writing it (on a second thread), and of the archive
        (RV(archive_sha256), in the pass that indexes it), for chain-of-custody records. For an
        existing core that is kept, its file is hashed.
    type: bool
    default: true
requirements:
  - python >= 3.9
  - pycriu, from the distribution's criu package
  - zstandard (for zstd-compressed archives)
notes:
  - Unlike CRIU's own converter, the cores load in C(gdb) without warnings about their structure.
    gdb still warns C(Can't open file ... during file-backed mapping note processing) for mapped
    files the analysing host does not have; point C(set sysroot) at the container's files.
  - Memory in a parent checkpoint (incremental dumps) or left for lazy restore is zero, with a warning.
  - Kernel-provided areas (vsyscall, vvar), inaccessible (PROT_NONE) areas without dumped pages and
    anonymous areas CRIU found no page in (never touched, so zero) are listed as segments without
    bytes in the file, as the kernel does for areas it does not dump; gdb reads zeros there. A huge
    untouched reservation therefore costs neither disk space nor checksum time.
  - Process names and file paths that are not valid UTF-8 are written into the core as the original
    bytes, and shown escaped in the result and warnings (each invalid byte as backslash, x and two
    hex digits).
  - The notes follow the memory segments in the file, so a core is written front to back in a single
    pass; ELF does not constrain the order.
seealso:
  - module: forensic.checkpoint.checkpoint_info
attributes:
  check_mode:
    support: full
    description: In check mode nothing is written; RV(cores) reports each core's path and exact size.
  diff_mode:
    support: none
    description: Core files are binary; there is no diff to show.
"""

EXAMPLES = r"""
- name: Write a core of every process of a kubelet checkpoint
  forensic.checkpoint.checkpoint_coredump:
    path: /var/lib/kubelet/checkpoints/checkpoint-counters-7d9f8b6c5d-x2x4q_demo-counter-2026-11-26T22:20:40Z.tar
    dest: /srv/forensics/counters/cores
  register: dumped

- name: Core of PID 1 only, with file-backed pages read from the extracted container image
  forensic.checkpoint.checkpoint_coredump:
    path: /srv/forensics/lookup-compromised.tar.gz
    pid: [1]
    dest: /srv/forensics/lookup/cores
    root: /srv/forensics/lookup/rootfs
    overwrite: true

- name: Show where the registers of each core's first thread can be read
  ansible.builtin.debug:
    msg: "gdb -c {{ item.path }}  # {{ item.comm }}, {{ item.threads | length }} thread(s), sha256 {{ item.sha256 }}"
  loop: "{{ dumped.cores }}"
"""

RETURN = r"""
archive_sha256:
  description: The SHA-256 of the archive file, when O(checksum=true).
  returned: when O(checksum=true)
  type: str
cores:
  description: One entry per process, in the order of the checkpoint's process tree (or of O(pid)).
  returned: always
  type: list
  elements: dict
  contains:
    pid:
      description: The process ID inside the checkpoint.
      type: int
      sample: 1
    comm:
      description: The process's command name.
      type: str
      sample: python3
    arch:
      description: The machine the core is for.
      type: str
      choices: [x86_64, aarch64]
    path:
      description: The core file.
      type: str
      sample: /srv/forensics/counters/cores/core.1
    size:
      description: Its size in bytes (in check mode, the size it would have).
      type: int
      sample: 27597804
    threads:
      description: The thread IDs, the main thread first; each has an C(NT_PRSTATUS) note.
      type: list
      elements: int
      sample: [1]
    sha256:
      description: SHA-256 of the core file; null with O(checksum=false) and in check mode.
      type: str
      sample: ae328e14c14893393efbe4f1a43736493cbec49bcac6b221ce1b4a83c85e7c6e
    changed:
      description: Whether this core was (or in check mode would be) written.
      type: bool
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.forensic.checkpoint.plugins.module_utils.runners import coredump
from ansible_collections.forensic.checkpoint.plugins.module_utils.runners.common import execute


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            pid=dict(type="list", elements="int"),
            dest=dict(type="path", required=True),
            root=dict(type="path"),
            overwrite=dict(type="bool", default=False),
            checksum=dict(type="bool", default=True),
            max_bytes=dict(type="int", default=17179869184),
        ),
        supports_check_mode=True,
    )
    execute(module, coredump.run)


if __name__ == "__main__":
    main()
