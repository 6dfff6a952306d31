#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: checkpoint_memory
short_description: Search, read and export the process memory in a container checkpoint
version_added: 0.1.0
description:
  - Works on the memory pages CRIU dumped into a checkpoint archive (Podman, CRI-O/kubelet or
    containerd; plain tar, gzip or zstd), without extracting anything to disk.
  - Without a query, describes every process as C(checkpointctl memparse) does (memory and shared
    memory sizes) plus its VMAs (address range, permissions, kind and mapped file).
  - With O(pattern), O(hex) or O(regex), searches the memory of every process (or of O(pid)) and
    returns each match's virtual address, the VMA it lies in and the bytes around it. Matches are
    found wherever the process saw the bytes side by side, across page and pagemap-entry
    boundaries, in any bytes (not only printable ones), and never across a hole in memory.
  - With O(read), returns a hexdump of a range of a process's memory, or writes it raw to O(dest).
    With O(write), writes one VMA or every VMA of a process to O(dest). With O(strings), lists the
    printable strings of the memory as C(strings) does.
  - Plain tars are read in place; compressed archives are decompressed once, streaming, so memory
    use stays small whatever the size of the dump.
  - Pages CRIU left in a parent checkpoint (pre-dump chains) or to a lazy-pages server are reported
    as such; O(parent) names the parent checkpoint to read them from.
author:
  - forensic.checkpoint contributors (@forensic-checkpoint)
options:
  path:
    description:
      - The checkpoint archive.
    type: path
    required: true
  parent:
    description:
      - The parent checkpoint archive of O(path), for the pages O(path) marks as living in its parent.
      - Matches found there carry RV(matches[].source=parent). A match that straddles a page of
        O(path) and a page of the parent is not found.
    type: path
  pid:
    description:
      - Only this process (as in the checkpoint's process tree). Default is every process.
    type: int
  pattern:
    description:
      - Literal text to search for (UTF-8).
      - Mutually exclusive with O(hex), O(regex), O(read), O(strings) and O(write).
    type: str
  hex:
    description:
      - Bytes to search for, in hexadecimal. Spaces, colons and C(0x)/C(\x) prefixes are ignored,
        so V(de ad be ef), V(de:ad:be:ef) and V(\\xde\\xad\\xbe\\xef) are the same.
    type: str
  regex:
    description:
      - A Python regular expression over bytes (C(re) syntax; escapes such as C(\x00) work).
      - Matches are found whole up to 64 KiB long; longer ones may be cut where the search's
        windows meet. An expression that matches the empty string is refused.
      - With the C(hyperscan) Python package installed, memory is scanned by hyperscan in linear
        time and Python's C(re) only confirms the candidates it finds (for C(re)'s exact match).
        Expressions hyperscan cannot compile (for example C(.{1,65536})), and every expression
        without hyperscan, run on C(re) under a time budget of 10 seconds per stretch of memory; an
        expression that backtracks past it fails the task with one line naming it.
    type: str
  ignore_case:
    description:
      - Match ASCII letters regardless of case (O(pattern), O(hex), O(regex)).
    type: bool
    default: false
  redact_secrets:
    description:
      - Redact every credential shape (AWS keys, C(Authorization) headers, JWTs, PEM private keys,
        passwords in URLs, GitHub, GitLab, Slack, Stripe and Vault tokens, C(password=)/C(token:)
        assignments...) in
        what the module returns (match contexts, matched text, strings, hexdump text, warnings and
        error messages). The shapes are those of the C(secret.*) findings rules of
        M(forensic.checkpoint.checkpoint_analyze); a redacted value reads
        C(<first 4 characters>...sha256:<64 hex digits>) (the SHA-256 of the whole value), even when
        the context window cuts it short.
      - The same redaction also applies to this module's echo of its own arguments
        (C(invocation)), so a secret searched for is not shown in verbose output.
      - Files written with O(dest) are evidence and are never redacted.
    type: bool
    default: true
  context:
    description:
      - Bytes of context returned on each side of a match (clipped where the dumped memory stops).
    type: int
    default: 32
  max_matches:
    description:
      - Stop after this many matches (at most 100000), or once the returned matches and their
        context would take 16 MiB of text (each byte counted as the 4 characters an escaped byte
        takes, plus 256 per match); RV(truncated) then says there were more.
    type: int
    default: 100
  read:
    description:
      - Read a range of one process's memory.
      - Without O(dest) the result is a hexdump in RV(read.hexdump) (at most 1 MiB); with O(dest) the raw
        bytes are written there. Pages not in the dump read as zeros and are listed in RV(read.missing).
    type: dict
    suboptions:
      pid:
        description: The process.
        type: int
        required: true
      address:
        description: The virtual address to start at, an integer or a string such as V(0x7f5ea804e320).
        type: raw
        required: true
      length:
        description: How many bytes.
        type: int
        default: 256
  strings:
    description:
      - List the runs of printable ASCII characters (and tabs) in memory, with their addresses.
    type: dict
    suboptions:
      pid:
        description: Only this process; default O(pid), else every process.
        type: int
      min_length:
        description: The shortest run reported, as C(strings -n).
        type: int
        default: 4
      max_strings:
        description: Stop after this many strings, or once they would take 16 MiB of returned text (as for
          O(max_matches)); RV(truncated) then says there were more.
        type: int
        default: 1000
  write:
    description:
      - Write memory of one process to O(dest), for other tools (YARA, binwalk, a disassembler).
      - With O(write.vma), the one VMA holding that address is written to the file O(dest).
        Without, O(dest) is a directory (created with mode 0700 if missing) that receives one
        C(<start>-<end>.bin) file per VMA holding dumped pages.
      - Each file covers its VMA byte for byte (file offset = address - VMA start); pages not in the
        dump are holes that read as zeros.
    type: dict
    suboptions:
      pid:
        description: The process.
        type: int
        required: true
      vma:
        description: Any address inside the VMA to write (integer or V(0x...) string).
        type: raw
  dest:
    description:
      - Where O(read) or O(write) put the raw bytes. Files are created with mode 0600 and replace an
        existing file only once complete; nothing is ever written outside O(dest).
    type: path
  max_vmas:
    description:
      - The most VMAs listed for one process in RV(processes[].vmas); V(0) lists all.
      - Searches, reads and writes cover every VMA; RV(omitted.vmas) and a warning count those left
        out. A crafted mm image of a few MB can list 500,000 VMAs, a result of hundreds of MB.
    type: int
    default: 10000
  max_processes:
    description:
      - The most processes listed in RV(processes) (the first ones of the process tree); V(0) lists all.
      - Searches, reads and writes cover every process; RV(omitted.processes) and a warning count those
        left out. A crafted process tree of 65,536 entries made a result of 35 MB (240 MB RSS).
    type: int
    default: 1000
  checksum:
    description:
      - Also return the archive's SHA-256 in RV(archive_sha256), for chain-of-custody records.
    type: bool
    default: false
requirements:
  - python >= 3.9
  - pycriu, from the distribution's criu package
  - zstandard (for zstd-compressed archives)
notes:
  - Checkpoint archives hold every secret the processes held; so do the files this module writes.
  - A pagemap that points past its pages image, a missing pages image or a bad O(regex) fails the
    task with one line naming the image or the option.
seealso:
  - module: forensic.checkpoint.checkpoint_info
  - name: checkpointctl memparse
    description: The upstream command this module's process table and search cover.
    link: https://github.com/checkpoint-restore/checkpointctl
attributes:
  check_mode:
    support: full
    description: Searches and reads behave the same; O(read) and O(write) report what they would write to O(dest) without writing.
  diff_mode:
    support: none
    description: The checkpoint is never changed, and files written to O(dest) are raw memory.
"""

EXAMPLES = r"""
- name: Processes and their memory maps
  forensic.checkpoint.checkpoint_memory:
    path: /var/lib/kubelet/checkpoints/checkpoint-counters_demo-counter-2026-11-26T22:20:40Z.tar
  register: mem

- name: Where does the process hold the secret?
  forensic.checkpoint.checkpoint_memory:
    path: /evidence/counters.tar
    pattern: RANDOM_1432_KEY
    context: 64
  register: found

- name: Show the first match's VMA and address
  ansible.builtin.debug:
    msg: "{{ found.matches[0].address_hex }} in {{ found.matches[0].vma.kind }} {{ found.matches[0].vma.perms }}"

- name: Bytes and regular expressions
  forensic.checkpoint.checkpoint_memory:
    path: /evidence/lookup-compromised.tar.gz
    regex: 'AKIA[0-9A-Z]{16}'
    max_matches: 10

- name: The same keys in clear text (keep this output off shared logs)
  forensic.checkpoint.checkpoint_memory:
    path: /evidence/lookup-compromised.tar.gz
    regex: 'AKIA[0-9A-Z]{16}'
    redact_secrets: false
  no_log: true

- name: Hexdump 256 bytes around the match
  forensic.checkpoint.checkpoint_memory:
    path: /evidence/counters.tar
    read:
      pid: "{{ found.matches[0].pid }}"
      address: "{{ found.matches[0].address - 64 }}"
      length: 256

- name: Export the whole heap VMA for YARA
  forensic.checkpoint.checkpoint_memory:
    path: /evidence/counters.tar
    write:
      pid: 1
      vma: "{{ (mem.processes[0].vmas | selectattr('kind', 'equalto', 'heap') | first).start }}"
    dest: /evidence/out/counters-heap.bin

- name: Every VMA of process 1, one file each
  forensic.checkpoint.checkpoint_memory:
    path: /evidence/counters.tar
    write:
      pid: 1
    dest: /evidence/out/counters-pid1
"""

RETURN = r"""
archive_sha256:
  description: The SHA-256 of the archive file, when O(checksum=true).
  returned: when O(checksum=true)
  type: str
omitted:
  description: What the result leaves out to stay small (see O(max_vmas) and O(max_processes)).
  returned: always
  type: dict
  contains:
    vmas:
      description: VMAs not listed in RV(processes[].vmas), all listed processes together.
      type: int
      sample: 0
    processes:
      description: Processes not listed in RV(processes).
      type: int
      sample: 0
processes:
  description: The processes looked at, in process-tree order.
  returned: always
  type: list
  elements: dict
  contains:
    pid:
      description: Process id inside the container.
      type: int
      sample: 1
    comm:
      description: The process name (from its core image); null if unknown.
      type: str
      sample: python3
    memory_size:
      description: Bytes of every page in the pagemap, dumped or not (checkpointctl memparse's memory size).
      type: int
      sample: 11747328
    shared_size:
      description: Bytes of MAP_SHARED mappings (checkpointctl memparse's shared memory size).
      type: int
      sample: 28672
    dumped_size:
      description: Bytes of pages in this checkpoint's pages image.
      type: int
    parent_size:
      description: Bytes of pages left in the parent checkpoint.
      type: int
    lazy_size:
      description: Bytes of lazy pages (served by a page server, in no image).
      type: int
    pages:
      description: The archive member holding the process's pages; null for a process without memory.
      type: str
      sample: checkpoint/pages-1.img
    vmas:
      description: The virtual memory areas, by address.
      type: list
      elements: dict
      contains:
        start:
          description: First address.
          type: int
        end:
          description: Address after the last byte.
          type: int
        start_hex:
          description: RV(processes[].vmas[].start) in hex.
          type: str
          sample: "0x6d10000"
        end_hex:
          description: RV(processes[].vmas[].end) in hex.
          type: str
        size:
          description: Bytes mapped.
          type: int
        perms:
          description: Permissions as /proc/<pid>/maps shows them (p private, s shared).
          type: str
          sample: rw-p
        kind:
          description: What the mapping is, from CRIU's VMA status (stacks also from the stack pointer).
          type: str
          choices: [heap, stack, anon, shared, file, vdso, vvar, vsyscall, sysvipc, socket, aio, memfd, other]
        path:
          description: The mapped file for file mappings; null otherwise.
          type: str
          sample: /usr/lib/x86_64-linux-gnu/libc.so.6
        dumped_size:
          description: Bytes of the VMA in the pages image.
          type: int
        parent_size:
          description: Bytes of the VMA in the parent checkpoint.
          type: int
        lazy_size:
          description: Bytes of the VMA left to lazy restore.
          type: int
matches:
  description: Search matches, by process and address.
  returned: when O(pattern), O(hex) or O(regex) is given
  type: list
  elements: dict
  contains:
    pid:
      description: The process.
      type: int
    address:
      description: Virtual address of the first byte.
      type: int
      sample: 140044190491424
    address_hex:
      description: The address in hex.
      type: str
      sample: "0x7f5ea804e320"
    length:
      description: Bytes matched.
      type: int
    match:
      description:
        - The bytes matched, printable ASCII as is and anything else as C(\xNN).
        - With O(redact_secrets), a credential shape in it reads C(<first 4 characters>...sha256:<hex>).
      type: str
      sample: RANDOM_1432_KEY
    context:
      description:
        - The match with up to O(context) bytes on each side, escaped the same way.
        - With O(redact_secrets), every credential shape in it is redacted, also one cut short by the window's edge.
      type: str
    context_address:
      description: Address of the first byte of RV(matches[].context).
      type: int
    vma:
      description: The VMA holding the match (start, end, start_hex, end_hex, perms, kind, path); null if none.
      type: dict
    image:
      description: The pages image the bytes came from.
      type: str
      sample: checkpoint/pages-1.img
    image_offset:
      description: Offset of the match in that pages image (for C(dd) or a hex editor).
      type: int
    source:
      description: V(dump) for this checkpoint, V(parent) for pages read from O(parent).
      type: str
      choices: [dump, parent]
truncated:
  description: Whether O(max_matches), O(strings.max_strings) or the 16 MiB budget on returned text cut the results short.
  returned: when searching or listing strings
  type: bool
read:
  description: The range read with O(read).
  returned: when O(read) is given
  type: dict
  contains:
    pid:
      description: The process.
      type: int
    address:
      description: First address read.
      type: int
    address_hex:
      description: The address in hex.
      type: str
    length:
      description: Bytes read.
      type: int
    vma:
      description: The VMA holding the first address; null if none.
      type: dict
    hexdump:
      description: C(hexdump -C) lines, the address column being the virtual address. Only without O(dest).
      type: list
      elements: str
      sample: ["00007f5ea804e320  52 41 4e 44 4f 4d 5f 31  34 33 32 5f 4b 45 59 00  |RANDOM_1432_KEY.|"]
    missing:
      description: Parts of the range not in the dump (read as zeros), with their state (unmapped, parent, lazy).
      type: list
      elements: dict
    dest:
      description: Where the bytes were written, with O(dest).
      type: str
strings:
  description: Printable strings, by process and address.
  returned: when O(strings) is given
  type: list
  elements: dict
  contains:
    pid:
      description: The process.
      type: int
    address:
      description: Address of the first character.
      type: int
    address_hex:
      description: The address in hex.
      type: str
    string:
      description: The text (with O(redact_secrets), its credential shapes redacted).
      type: str
written:
  description: The files written (or, in check mode, that would be written) by O(write).
  returned: when O(write) is given
  type: list
  elements: dict
  contains:
    file:
      description: The file.
      type: str
    start:
      description: The VMA's first address (file offset 0).
      type: int
    end:
      description: The VMA's end address.
      type: int
    kind:
      description: The VMA's kind.
      type: str
    path:
      description: The VMA's mapped file, if any.
      type: str
    size:
      description: File size (the VMA's size).
      type: int
    dumped_size:
      description: Bytes of dumped pages in it; the rest are holes.
      type: int
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.forensic.checkpoint.plugins.module_utils.runners import memory
from ansible_collections.forensic.checkpoint.plugins.module_utils.runners.common import execute


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            parent=dict(type="path"),
            pid=dict(type="int"),
            pattern=dict(type="str"),
            hex=dict(type="str"),
            regex=dict(type="str"),
            ignore_case=dict(type="bool", default=False),
            redact_secrets=dict(type="bool", default=True),
            max_vmas=dict(type="int", default=10000),
            max_processes=dict(type="int", default=1000),
            context=dict(type="int", default=32),
            max_matches=dict(type="int", default=100),
            read=dict(type="dict", options=dict(
                pid=dict(type="int", required=True),
                address=dict(type="raw", required=True),
                length=dict(type="int", default=256),
            )),
            strings=dict(type="dict", options=dict(
                pid=dict(type="int"),
                min_length=dict(type="int", default=4),
                max_strings=dict(type="int", default=1000),
            )),
            write=dict(type="dict", options=dict(
                pid=dict(type="int", required=True),
                vma=dict(type="raw"),
            )),
            dest=dict(type="path"),
            checksum=dict(type="bool", default=False),
        ),
        mutually_exclusive=[("pattern", "hex", "regex", "read", "strings", "write")],
        required_by={"write": "dest"},
        supports_check_mode=True,
    )
    execute(module, memory.run)


if __name__ == "__main__":
    main()
