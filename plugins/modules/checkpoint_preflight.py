#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: checkpoint_preflight
short_description: Tell, without changing anything, whether containers can be checkpointed now
version_added: 0.2.0
description:
  - Run before an incident-time checkpoint. Enabling checkpointing drains and reboots the nodes,
    and the containers lose the live state that is the evidence, so an incident run must not
    enable it. This module only reads, and tells per node that holds a target whether
    checkpointing works there now.
  - Selects the targets as M(forensic.checkpoint.container_checkpoint) does (pods a label
    selector matches that cannot be checkpointed are skipped with the reason) and records each
    container's identity (pod UID, container ID, start time, restart count) as the baseline to
    pass to M(forensic.checkpoint.container_checkpoint) O(forensic.checkpoint.container_checkpoint#module:baseline).
  - Per node it checks that the node is C(Ready) and not being updated by the Machine Config
    Operator (C(currentConfig) differs from C(desiredConfig), or its state is not C(Done)); that
    the kubelet has the C(ContainerCheckpoint) gate on; that CRI-O has CRIU support
    (C(enable_criu_support) in the C(/etc/crio/crio.conf.d) drop-ins of the node's current rendered
    config, else CRI-O's default, on from 1.30); and it notes a paused MachineConfigPool.
  - The gate is probed without side effects, with O(probe), by asking the kubelet to checkpoint a
    pod that does not exist. The kubelet registers C(/checkpoint) only when the gate is on, so an
    off gate answers a plain C(404 page not found) and an on gate C(pod does not exist); nothing
    is checkpointed. Without the probe, the node's rendered kubelet config and the Kubernetes
    version's default (on from 1.30) decide.
  - It reads the free space of the node's kubelet filesystem, where C(/var/lib/kubelet/checkpoints)
    is (C(node.fs) of the kubelet's Summary API), and refuses when the archives cannot fit. An
    archive holds every memory page of its container, so its size is estimated from the
    container's memory working set in the same answer; checkpoints taken in parallel on a node add up.
  - OpenShift objects that cannot be read (plain Kubernetes, or no RBAC for them) leave those checks
    to the probe and the versions, with a warning.
author:
  - forensic.checkpoint contributors (@forensic-checkpoint)
options:
  probe:
    description:
      - Probe each node's kubelet for its checkpoint API (a request for a pod that does not
        exist, which checkpoints nothing). Needs C(create) on C(nodes/proxy), as checkpointing does.
    type: bool
    default: true
  fail_when_not_ready:
    description:
      - Fail when checkpointing cannot work on a target's node. V(false) only reports it in
        RV(ready) and RV(nodes), for example to record the baseline before an opted-in enabling run.
    type: bool
    default: true
extends_documentation_fragment:
  - forensic.checkpoint.pod_targets
  - kubernetes.core.k8s_auth_options
  - forensic.checkpoint.cluster
notes:
  - Needs C(get)/C(list) on C(pods) in O(namespace), C(get) on C(nodes), C(create) on C(nodes/proxy)
    for the probe, and, on OpenShift, C(get) on C(machineconfigs) and C(list) on C(machineconfigpools).
    The free space needs C(get) on C(nodes/proxy) (the Summary API); without it, a warning says it is unknown.
attributes:
  check_mode:
    support: full
    description: The module only reads; it does the same in check mode.
  diff_mode:
    support: none
    description: Nothing changes.
seealso:
  - module: forensic.checkpoint.container_checkpoint
  - module: forensic.checkpoint.feature_gate
  - module: forensic.checkpoint.machine_config
"""

EXAMPLES = r"""
- name: Check, before anything changes, that the counters pods can be checkpointed now
  forensic.checkpoint.checkpoint_preflight:
    namespace: demo
    label_selectors: [app=counters]
  register: preflight

- name: Checkpoint them, tying each archive to the container the run began with
  forensic.checkpoint.container_checkpoint:
    namespace: demo
    label_selectors: [app=counters]
    baseline: "{{ preflight.targets }}"
"""

RETURN = r"""
ready:
  description: Whether checkpointing works now on every node that holds a target.
  returned: always
  type: bool
  sample: true
nodes:
  description: Per node that holds a target, the verdict and what it rests on.
  returned: always
  type: dict
  sample:
    worker-1:
      node: worker-1
      ready: false
      problems: ["the ContainerCheckpoint feature gate is off on node worker-1's kubelet (...)"]
      notes: []
      kubelet_version: v1.26.9+636f2be
      container_runtime_version: cri-o://1.26.4-3.rhaos4.13.git1a2b3c4.el9
      rendered_config: rendered-worker-5f8c
      pool: {name: worker, paused: false, updating: false}
      gate: {enabled: false, source: "the kubelet has no checkpoint API (probe: plain 404) ..."}
      criu: {enabled: false, source: "default of CRI-O 1.26 (on from 1.30)"}
      space: {available_bytes: 21474836480, capacity_bytes: 107374182400, estimated_archive_bytes: 314572800}
targets:
  description: The containers to checkpoint with their identity now, the baseline for
    M(forensic.checkpoint.container_checkpoint).
  returned: always
  type: list
  elements: dict
  sample:
    - {node: worker-1, namespace: demo, pod: counters-7d9f8b6c5d-x2x4q, container: counter,
       pod_uid: 6f1c1e4a-3b2d-4c1e-9f7a-2d3e4f5a6b7c, container_id: "cri-o://4b1f...", started_at: "2026-11-26T21:02:11Z",
       restart_count: 0}
skipped_pods:
  description: Pods the selector matched that cannot be checkpointed, each with C(namespace), C(pod) and C(reason).
  returned: always
  type: list
  elements: dict
  sample: [{namespace: demo, pod: counters-7d9f8b6c5d-zz9kq, reason: is Pending}]
msg:
  description: The verdict in one line; when not ready, why and what to do.
  returned: always
  type: str
  sample: checkpointing works on node(s) worker-1 for 1 container(s)
"""

from ansible_collections.forensic.checkpoint.plugins.module_utils.cluster import checkpoint, client, preflight


def main():
    module = client.new_module(
        argument_spec=client.argument_spec(
            probe=dict(type="bool", default=True),
            fail_when_not_ready=dict(type="bool", default=True),
            **checkpoint.TARGET_SPEC
        ),
        supports_check_mode=True,
        **checkpoint.TARGET_RULES
    )
    p = module.params
    client.run_module(module, lambda: preflight.check(lambda: client.connect(module), p["namespace"], p["pod"],
                                                      p["label_selectors"], p["containers"], p["probe"],
                                                      p["fail_when_not_ready"]))


if __name__ == "__main__":
    main()
