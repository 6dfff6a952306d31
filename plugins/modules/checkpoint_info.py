#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: checkpoint_info
short_description: Describe container checkpoint archives
version_added: 0.1.0
description:
  - Reads the metadata of container checkpoint archives made by Podman, CRI-O (the kubelet's
    checkpoint API) or containerd, as C(checkpointctl show) and C(checkpointctl list) print it,
    plus CRIU's dump statistics.
  - Plain tar archives are indexed from their headers and only the small metadata members are read;
    gzip and zstd archives are decompressed once, streaming. Nothing is extracted to disk and the
    archive is opened read-only.
  - Runs wherever the archives are, on the controller or in the analyser pod on the node.
author:
  - forensic.checkpoint contributors (@forensic-checkpoint)
options:
  path:
    description:
      - A checkpoint archive, or a directory such as C(/var/lib/kubelet/checkpoints).
      - For a directory, every regular file directly inside it is tried; files that are not
        checkpoint archives are returned in RV(not_checkpoints) with the reason, not as failures.
    type: path
    required: true
  checksum:
    description:
      - Also compute the SHA-256 of each archive file, for chain-of-custody records.
      - For a compressed archive this costs nothing extra; for a plain tar it reads the whole file.
    type: bool
    default: false
requirements:
  - python >= 3.9
  - zstandard (for zstd-compressed archives)
  - pycriu, from the distribution's criu package (only for RV(checkpoints[].stats))
notes:
  - A single O(path) that cannot be read (missing, not a tar, truncated, without C(checkpoint/))
    fails the task with one line naming the file and the problem.
seealso:
  - name: checkpointctl
    description: The upstream command-line tool whose C(show) and C(list) output this module covers.
    link: https://github.com/checkpoint-restore/checkpointctl
attributes:
  check_mode:
    support: full
    description: The module only reads; it behaves the same in check mode.
  diff_mode:
    support: none
    description: Nothing changes, so there is nothing to show.
"""

EXAMPLES = r"""
- name: Describe one checkpoint archive
  forensic.checkpoint.checkpoint_info:
    path: /var/lib/kubelet/checkpoints/checkpoint-counters-7d9f8b6c5d-x2x4q_demo-counter-2026-11-26T22:20:40Z.tar
  register: info

- name: List every checkpoint on the node, with archive hashes
  forensic.checkpoint.checkpoint_info:
    path: /var/lib/kubelet/checkpoints
    checksum: true
  register: node_checkpoints

- name: Show pod, container and memory size of each
  ansible.builtin.debug:
    msg: "{{ item.namespace }}/{{ item.pod }}/{{ item.container }}: {{ item.sizes.memory_pages | human_readable }}"
  loop: "{{ node_checkpoints.checkpoints }}"
"""

RETURN = r"""
checkpoints:
  description: One entry per checkpoint archive, sorted by file name for a directory.
  returned: always
  type: list
  elements: dict
  contains:
    path:
      description: The archive's path.
      type: str
      sample: /var/lib/kubelet/checkpoints/checkpoint-counters-7d9f8b6c5d-x2x4q_demo-counter-2026-11-26T22:20:40Z.tar
    name:
      description: The archive's file name.
      type: str
    engine:
      description: The container engine that wrote it, from the C(io.container.manager) annotation; null if unknown.
      type: str
      choices: [Podman, CRI-O, containerd]
      sample: CRI-O
    container:
      description: Container name (CRI-O from C(io.kubernetes.cri-o.Metadata), Podman from C(config.dump)).
      type: str
      sample: counter
    pod:
      description: Pod name for Kubernetes engines (Podman pod ID when in a pod); null otherwise.
      type: str
      sample: counters-7d9f8b6c5d-x2x4q
    namespace:
      description: Kubernetes namespace; null for Podman.
      type: str
      sample: demo
    image:
      description: The container's image name.
      type: str
      sample: quay.io/example/counters-app:main
    image_id:
      description: The image ID or reference the engine recorded.
      type: str
    id:
      description: The container ID.
      type: str
    runtime:
      description: The OCI runtime (runc, crun...).
      type: str
      sample: runc
    created:
      description: When the container was created (RFC 3339, as recorded).
      type: str
      sample: "2026-11-26T22:20:27.076411227Z"
    checkpointed:
      description:
        - When the checkpoint was taken (RFC 3339). From C(config.dump) where the engine records it,
          otherwise from the tar header time of C(checkpoint/inventory.img).
      type: str
      sample: "2026-11-26T22:20:40.11853Z"
    ip:
      description: The container's IP address (Podman C(network.status), CRI-O C(io.kubernetes.cri-o.IP.0)).
      type: str
      sample: 10.130.2.99
    criu_version:
      description: The CRIU version from C(dump.log) when the archive carries it.
      type: str
      sample: "4.2"
    sizes:
      description: Sizes in bytes, as checkpointctl computes them.
      type: dict
      contains:
        checkpoint:
          description: Sum of the regular files under C(checkpoint/).
          type: int
        memory_pages:
          description: Sum of the C(checkpoint/pages-*.img) files.
          type: int
        rootfs_diff:
          description: Size of C(rootfs-diff.tar) (0 when absent).
          type: int
    archive:
      description: The archive file itself.
      type: dict
      contains:
        size:
          description: File size in bytes.
          type: int
        compression:
          description: How the tar is compressed.
          type: str
          choices: [none, gzip, zstd]
        sha256:
          description: SHA-256 of the file when O(checksum=true), else null.
          type: str
    stats:
      description: CRIU dump statistics from C(stats-dump) (times in microseconds, page counts); null when absent.
      type: dict
      sample: {freezing_time: 2490, frozen_time: 190483, memdump_time: 10122, pages_written: 2868}
    warnings:
      description: What could not be read or looked suspicious, without failing.
      type: list
      elements: str
not_checkpoints:
  description:
    - Files in a directory O(path) that are not readable checkpoint archives.
    - Named so that Ansible does not read it as the task's own C(skipped) status.
  returned: always
  type: list
  elements: dict
  contains:
    path:
      description: The file.
      type: str
    reason:
      description: Why it is not listed as a checkpoint.
      type: str
      sample: "not a tar archive (invalid header)"
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.forensic.checkpoint.plugins.module_utils.runners import info
from ansible_collections.forensic.checkpoint.plugins.module_utils.runners.common import execute


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            checksum=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    execute(module, info.run)


if __name__ == "__main__":
    main()
