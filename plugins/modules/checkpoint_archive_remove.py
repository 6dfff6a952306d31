#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: checkpoint_archive_remove
short_description: Remove checkpoint archives from their nodes once they were fetched and verified
version_added: 0.2.0
description:
  - Archives are as large as the containers' memory and fill the node's kubelet filesystem. This
    removes from C(/var/lib/kubelet/checkpoints) on each node the archives given in O(archives),
    each only when the file there still has the SHA-256 verified on the controller's copy.
  - The kubelet serves no way to delete them, so the removal runs through the analyser pod on that
    node (one exec of its Python per node), which must mount the checkpoint directory writable.
    The file is opened without following links and hashed before it is unlinked; anything that is
    not a regular C(checkpoint-*.tar) directly in that directory is refused.
  - An archive already gone counts as removed before (idempotent). One whose content differs, or
    that cannot be removed (a read-only mount, say), is kept and the module fails naming it.
author:
  - forensic.checkpoint contributors (@forensic-checkpoint)
options:
  archives:
    description:
      - The archives to remove, as fetched and verified. Each is a dict with C(node), C(path) (in
        the node's checkpoint directory) and C(sha256) (of the verified copy).
    type: list
    elements: dict
    required: true
  analyser:
    description: The analyser pods to run the removal in.
    type: dict
    required: true
    suboptions:
      namespace:
        description: Namespace of the analyser pods (role forensic.checkpoint.checkpoint_analyser).
        type: str
        required: true
      label_selectors:
        description: Labels selecting them; the one running on the archive's node is used.
        type: list
        elements: str
        default: [app.kubernetes.io/name=checkpoint-analyser]
      container:
        description: The container of the pod to exec in.
        type: str
        default: analyser
      python:
        description: The Python interpreter in that container.
        type: str
        default: /usr/bin/python3
      checkpoint_dir:
        description: Where the pod mounts the kubelet's checkpoint directory (writable).
        type: str
        default: /var/lib/kubelet/checkpoints
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
  - forensic.checkpoint.cluster
notes:
  - Needs C(list) on C(pods) and C(create) on C(pods/exec) in O(analyser.namespace).
attributes:
  check_mode:
    support: full
    description: Each archive is hashed and compared; nothing is removed, RV(removed) lists what would be.
  diff_mode:
    support: none
    description: No diff is reported.
seealso:
  - module: forensic.checkpoint.container_checkpoint
"""

EXAMPLES = r"""
- name: Free the nodes' disks once the archives were fetched and verified
  forensic.checkpoint.checkpoint_archive_remove:
    archives:
      - node: worker-1
        path: /var/lib/kubelet/checkpoints/checkpoint-counters-7d9f8b6c5d-x2x4q_demo-counter-2026-11-26T22:20:40Z.tar
        sha256: 5f0c8f3a0a3d6e0c8e1b7c1f9c2d4b6a8e0f1a3c5e7092b4d6f8a0c2e4f6a8b0
    analyser:
      namespace: forensic-checkpoint
"""

RETURN = r"""
removed:
  description: The archives removed (in check mode, that would be), each with C(node) and C(path).
  returned: always
  type: list
  elements: dict
absent:
  description: The archives no longer on their node.
  returned: always
  type: list
  elements: dict
kept:
  description: The archives not removed, each with C(node), C(path) and C(reason).
  returned: always
  type: list
  elements: dict
  sample: [{node: worker-1, path: /var/lib/kubelet/checkpoints/checkpoint-x.tar, reason: Read-only file system}]
msg:
  description: The outcome in one line.
  returned: always
  type: str
  sample: removed 2 archive(s)
"""

from ansible_collections.forensic.checkpoint.plugins.module_utils.cluster import client, node_archives


def main():
    module = client.new_module(
        argument_spec=client.argument_spec(
            archives=dict(type="list", elements="dict", required=True),
            analyser=dict(type="dict", required=True, options=node_archives.REMOVE_SPEC),
        ),
        supports_check_mode=True,
    )
    p = module.params
    client.run_module(module, lambda: node_archives.remove(
        node_archives.AnalyserLister(client.connect(module), p["analyser"]), p["archives"], module.check_mode),
        partial=dict(removed=[], absent=[], kept=[]))


if __name__ == "__main__":
    main()
