#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: checkpoint_diff
short_description: Compare two checkpoints of the same container
version_added: 0.1.0
description:
  - Analyses two checkpoint archives of one container, taken at different times, and reports what
    changed from O(before) to O(after) - processes added, removed or changed (command line,
    environment, state), open files, sockets, memory size per process, file system changes - and
    the findings that are new in O(after), such as a cron entry written between the two.
  - Refuses two checkpoints of different containers, with a message naming both.
  - Nothing is extracted to disk and the archives are opened read-only; the only file written is
    the optional O(report).
author:
  - forensic.checkpoint contributors (@forensic-checkpoint)
options:
  before:
    description: The earlier checkpoint archive (plain tar, gzip or zstd).
    type: path
    required: true
  after:
    description: The later checkpoint archive of the same container.
    type: path
    required: true
  redact_secrets:
    description:
      - Redact secrets in the result and the report (first 4 characters and a SHA-256).
    type: bool
    default: true
  checksum:
    description:
      - Also return both archives' SHA-256 in RV(sha256), for chain-of-custody records.
      - Without it the archives are not hashed (C(checkpoint_diff.before.sha256) and
        C(checkpoint_diff.after.sha256) are null).
    type: bool
    default: false
requirements:
  - python >= 3.9
  - jmespath
  - PyYAML (for O(rules) files)
  - zstandard (for zstd-compressed archives)
  - pycriu, from the distribution's criu package
  - yara-python (optional, for O(yara_rules))
attributes:
  check_mode:
    support: full
    description: In check mode the report is not written; RV(report) says whether it would change.
  diff_mode:
    support: none
    description: The comparison is the module's result; Ansible's diff display is not used.
extends_documentation_fragment:
  - forensic.checkpoint.findings
seealso:
  - module: forensic.checkpoint.checkpoint_info
"""

EXAMPLES = r"""
- name: What changed in the container between two checkpoints
  forensic.checkpoint.checkpoint_diff:
    before: /var/lib/kubelet/checkpoints/checkpoint-lookup_demo-lookup-2026-11-26T22:21:27Z.tar
    after: /var/lib/kubelet/checkpoints/checkpoint-lookup_demo-lookup-2026-11-26T22:32:04Z.tar
    report: /srv/forensics/lookup-diff.html
    fail_on_severity: high
  register: changes

- name: Persistence set up between the two checkpoints
  ansible.builtin.debug:
    var: changes.checkpoint_diff.persistence
"""

RETURN = r"""
checkpoint_diff:
  description: The differences from O(before) to O(after).
  returned: always
  type: dict
  contains:
    container:
      description: The container both checkpoints are of (engine, namespace, pod, container, id, image).
      type: dict
    before:
      description: The earlier checkpoint (path, checkpointed, sha256, verdict of its findings).
      type: dict
    after:
      description: The later checkpoint (path, checkpointed, sha256, verdict of its findings).
      type: dict
    processes:
      description:
        - C(added) and C(removed) processes (pid, ppid, comm, cmdline, exe, state, memory_size), and
          C(changed) ones with their C(changes) (comm, cmdline, state, exe, cwd, uid, capabilities, env
          with added/removed/changed variables), each as C(before) and C(after).
        - Processes are matched by pid; a pid whose comm and exe both changed is another program,
          listed in C(removed) and C(added).
        - Every process of both checkpoints is compared; each of the three lists holds at most 1000
          of them, in pid order, and RV(checkpoint_diff.omitted.processes) counts the rest.
      type: dict
    files:
      description:
        - Open files C(opened), C(closed) and C(changed) (size, sha256 or position of the same file).
        - Every open file of both checkpoints is compared; each of the three lists holds at most 1000
          of them, in process tree and descriptor order, and RV(checkpoint_diff.omitted.files) counts
          the rest.
      type: dict
    sockets:
      description:
        - Sockets C(opened), C(closed) and C(changed), at most 1000 in each list (the rest counted in
          RV(checkpoint_diff.omitted.sockets)).
      type: dict
    omitted:
      description: What differs but is left out of the lists above; a warning says so when anything is.
      type: dict
      contains:
        processes:
          description: Processes left out of C(processes.added), C(processes.removed) and C(processes.changed) together.
          type: int
          sample: 0
        memory:
          description: Processes whose memory size changed left out of C(memory).
          type: int
          sample: 0
        files:
          description: Open files left out of C(files.opened), C(files.closed) and C(files.changed) together.
          type: int
          sample: 0
        sockets:
          description: Sockets left out of C(sockets.opened), C(sockets.closed) and C(sockets.changed) together.
          type: int
          sample: 0
    memory:
      description:
        - Processes whose dumped memory size changed (pid, comm, before, after, delta in bytes), at
          most 1000 in pid order (the rest counted in RV(checkpoint_diff.omitted.memory)).
      type: list
      elements: dict
    rootfs:
      description:
        - File system changes; C(added), C(removed), C(modified) entries of the rootfs diff (with the
          changed C(fields)), and paths newly C(deleted) or C(restored).
      type: dict
    findings:
      description: Findings C(new) in O(after) and C(resolved) since O(before) (same shape as checkpoint_analyze's).
      type: dict
    persistence:
      description: What the new persistence findings are about (paths such as C(/etc/cron.d/persist)).
      type: list
      elements: str
      sample: [/etc/cron.d/persist]
    changed:
      description: Whether anything differs between the two checkpoints.
      type: bool
    warnings:
      description: Anything odd about the pair, such as O(after) being older than O(before).
      type: list
      elements: str
report:
  description: The report written (path, format, size, sha256, changed); null without O(report).
  returned: always
  type: dict
sha256:
  description: The SHA-256 of each archive file, when O(checksum=true).
  returned: when O(checksum=true)
  type: dict
  sample: {before: 52704ac1b9405844ea5920c8bcba78bbd566cc57761c4d88319a33b723be5051, after: abb426bf...}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.forensic.checkpoint.plugins.module_utils.runners.analyze import run_diff
from ansible_collections.forensic.checkpoint.plugins.module_utils.runners.common import FINDINGS_OPTIONS, execute


def main():
    module = AnsibleModule(
        argument_spec=dict(
            before=dict(type="path", required=True),
            after=dict(type="path", required=True),
            redact_secrets=dict(type="bool", default=True),
            checksum=dict(type="bool", default=False),
            **FINDINGS_OPTIONS
        ),
        supports_check_mode=True,
    )
    execute(module, run_diff)


if __name__ == "__main__":
    main()
