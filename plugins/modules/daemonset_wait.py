#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: daemonset_wait
short_description: Wait for a DaemonSet's pods on the nodes that matter, failing fast when they cannot run
version_added: 0.2.0
description:
  - Waits until the DaemonSet has a ready pod of its current template on each of O(nodes), the
    nodes that hold checkpoint targets. A node that is NotReady or unschedulable elsewhere does
    not hold the run up.
  - Fails within seconds, with the cluster's own message, when waiting cannot help. A pod's
    container waits with C(ErrImagePull), C(ImagePullBackOff), C(InvalidImageName),
    C(ErrImageNeverPull) or C(CreateContainerConfigError) (the kubelet's message says why), or
    the DaemonSet controller cannot create the pods (a C(FailedCreate) event, such as an SCC or a
    PodSecurity refusal).
  - Rides out API outages as M(forensic.checkpoint.machine_config_pool) does. Reports progress.
author:
  - forensic.checkpoint contributors (@forensic-checkpoint)
options:
  namespace:
    description: Namespace of the DaemonSet.
    type: str
    required: true
  name:
    description: Name of the DaemonSet.
    type: str
    required: true
  nodes:
    description:
      - Nodes that need a ready pod. Empty means every node the DaemonSet has a pod on.
    type: list
    elements: str
    default: []
  wait_timeout:
    description: Seconds to wait.
    type: int
    default: 600
  wait_sleep:
    description: Seconds between checks.
    type: int
    default: 3
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
  - forensic.checkpoint.cluster
notes:
  - Needs C(get) on C(daemonsets), C(list) on C(pods) and C(events) in O(namespace).
attributes:
  check_mode:
    support: full
    description: Only reads; the same in check mode.
  diff_mode:
    support: none
    description: Nothing changes.
seealso:
  - module: forensic.checkpoint.checkpoint_preflight
"""

EXAMPLES = r"""
- name: Wait for the analyser on the nodes that hold the targets
  forensic.checkpoint.daemonset_wait:
    namespace: forensic-checkpoint
    name: checkpoint-analyser
    nodes: [worker-0, worker-2]
"""

RETURN = r"""
nodes:
  description: Per node, the pod there and whether it is ready.
  returned: always
  type: dict
  sample: {worker-0: {pod: checkpoint-analyser-x7k2p, ready: true}}
progress:
  description: Each change seen, with C(elapsed) seconds and the C(ready) and C(waiting) nodes.
  returned: always
  type: list
  elements: dict
  sample: [{elapsed: 0.0, ready: [], waiting: [worker-0]}, {elapsed: 6.1, ready: [worker-0], waiting: []}]
outages:
  description: API outages ridden out while waiting.
  returned: always
  type: list
  elements: dict
msg:
  description: The outcome in one line; on failure the pod's or the event's own message.
  returned: always
  type: str
  sample: "DaemonSet forensic-checkpoint/checkpoint-analyser: pod checkpoint-analyser-x7k2p on node worker-0: ImagePullBackOff: Back-off pulling image ..."
"""

from ansible_collections.forensic.checkpoint.plugins.module_utils.cluster import client, daemonset


def main():
    module = client.new_module(
        argument_spec=client.argument_spec(
            namespace=dict(type="str", required=True),
            name=dict(type="str", required=True),
            nodes=dict(type="list", elements="str", default=[]),
            wait_timeout=dict(type="int", default=600),
            wait_sleep=dict(type="int", default=3),
        ),
        supports_check_mode=True,
    )
    p = module.params
    client.run_module(module, lambda: daemonset.wait(client.connect(module), p["namespace"], p["name"], p["nodes"],
                                                     p["wait_timeout"], p["wait_sleep"]))


if __name__ == "__main__":
    main()
