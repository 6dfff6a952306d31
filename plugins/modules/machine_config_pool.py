#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: machine_config_pool
short_description: Pause and unpause MachineConfigPools and wait for their rollout
version_added: 0.1.0
description:
  - Sets C(spec.paused) of OpenShift MachineConfigPools (C(machineconfiguration.openshift.io/v1))
    and optionally waits until they have rolled out their configuration to every node.
  - Pausing the pools first lets a FeatureGate change and a MachineConfig roll out together, in one
    reboot per node. A paused pool also holds back kubelet certificate rotation and fires an
    alert, so never leave a pool paused; O(state) defaults to V(unpaused).
  - The wait follows the Machine Config Operator's own rule. First the pool's rendered config must
    have caught up with its MachineConfigs, that is every MachineConfig the pool selects is listed
    in C(spec.configuration.source), and the files and units of each of O(machine_configs) are in
    the rendered config. Then C(status.configuration.name) must equal C(spec.configuration.name),
    with condition C(Updated=True) and every machine updated. Right after a MachineConfig changes,
    a pool still reports C(Updated=True) for the old config, so waiting for that alone would race.
  - The wait reads the pools and, when its name changes, each pool's rendered config; the
    MachineConfigs are listed once, not on every check (long-lived clusters have hundreds of
    rendered configs).
  - The wait fails at once when a pool turns C(Degraded), C(NodeDegraded) or C(RenderDegraded) or
    counts a degraded machine, with the degraded node's own reason from the Machine Config Daemon.
  - Each pool's counts and conditions are returned, and RV(progress) records every change seen while waiting.
  - In check mode the patch is a server-side dry run and the module does not wait.
author:
  - forensic.checkpoint contributors (@forensic-checkpoint)
options:
  names:
    description:
      - The MachineConfigPools.
    type: list
    elements: str
    default: [master, worker]
  state:
    description:
      - V(paused) sets C(spec.paused=true), V(unpaused) sets it to false.
    type: str
    choices: [paused, unpaused]
    default: unpaused
  wait:
    description:
      - Wait until every pool in O(names) has rolled out. Needs O(state=unpaused).
    type: bool
    default: false
  machine_configs:
    description:
      - MachineConfigs the rollout must include. The wait does not end until each one that a pool
        selects is part of that pool's rendered config, which also catches a MachineConfig whose
        name did not change but whose contents did.
    type: list
    elements: str
    default: []
  wait_timeout:
    description:
      - How long to wait, in seconds. Each node is drained and rebooted in turn, so allow several
        minutes per node.
    type: int
    default: 3600
  wait_sleep:
    description:
      - Seconds between checks.
    type: int
    default: 10
  feature_gates:
    description:
      - Kubelet feature gates the rollout must carry. The wait does not end until each pool's
        rendered config has them enabled in C(/etc/kubernetes/kubelet.conf). A gate change
        updates C(98-<pool>-generated-kubelet), which exists from install, so no new
        MachineConfig name appears and only the rendered content tells.
    type: list
    elements: str
    default: []
  outage_budget:
    description:
      - While waiting, seconds one API outage may last. Connection refusals and resets,
        timeouts, 429 (after its C(Retry-After)), 500, 502, 503 and 504 are retried with backoff
        meanwhile; a FeatureGate change rolls new kube-apiserver revisions, and single-node
        OpenShift loses its API while the master reboots. RV(outages) lists what was ridden out.
    type: int
    default: 900
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
  - forensic.checkpoint.cluster
notes:
  - Needs C(get) and C(patch) on C(machineconfigpools.machineconfiguration.openshift.io), C(list)
    and C(get) on C(machineconfigs), and C(list) on C(nodes) for the degraded node's reason.
  - The kubernetes client itself retries only some connection errors; this module's wait rides out
    longer outages within O(outage_budget).
attributes:
  check_mode:
    support: full
    description: Patches as a server-side dry run and does not wait.
  diff_mode:
    support: full
    description: Shows C(spec.paused) of each pool before and after.
seealso:
  - module: forensic.checkpoint.machine_config
  - module: forensic.checkpoint.feature_gate
"""

EXAMPLES = r"""
- name: Pause both pools so the gate and the CRI-O drop-in roll out together
  forensic.checkpoint.machine_config_pool:
    state: paused

- name: Enable the gate and the drop-in while paused
  block:
    - forensic.checkpoint.feature_gate:
        accept_irreversible: true
    - forensic.checkpoint.machine_config:
        preset: crio_criu
  always:
    - name: Unpause and wait for every node to run the new configuration
      forensic.checkpoint.machine_config_pool:
        state: unpaused
        wait: true
        machine_configs: [05-worker-enable-criu]
        wait_timeout: 5400
      register: rollout

- name: Show how the rollout went
  ansible.builtin.debug:
    msg: "{{ rollout.pools | map(attribute='updated_machine_count') | list }}"
"""

RETURN = r"""
pools:
  description: Each pool after the run.
  returned: success
  type: list
  elements: dict
  contains:
    name:
      description: Pool name.
      type: str
      sample: worker
    paused:
      description: C(spec.paused).
      type: bool
      sample: false
    machine_count:
      description: C(status.machineCount).
      type: int
      sample: 3
    updated_machine_count:
      description: C(status.updatedMachineCount).
      type: int
      sample: 3
    ready_machine_count:
      description: C(status.readyMachineCount).
      type: int
      sample: 3
    unavailable_machine_count:
      description: C(status.unavailableMachineCount).
      type: int
      sample: 0
    degraded_machine_count:
      description: C(status.degradedMachineCount).
      type: int
      sample: 0
    configuration:
      description: Rendered config names, C(desired) from the spec and C(current) from the status.
      type: dict
      sample: {desired: rendered-worker-5f8c, current: rendered-worker-5f8c}
    conditions:
      description: Condition type to status.
      type: dict
      sample: {Updated: "True", Updating: "False", Degraded: "False"}
changed_pools:
  description: Pools whose C(spec.paused) was changed.
  returned: always
  type: list
  elements: str
  sample: [master, worker]
progress:
  description: While waiting, one entry each time a pool's state, updated count or desired config
    changed. Also returned when the wait fails.
  returned: always
  type: list
  elements: dict
  sample:
    - {elapsed: 0.0, pool: worker, state: rendering, updated: 3, machines: 3, desired: rendered-worker-5f8c}
    - {elapsed: 12.1, pool: worker, state: updating, updated: 0, machines: 3, desired: rendered-worker-91ab}
    - {elapsed: 410.7, pool: worker, state: updated, updated: 3, machines: 3, desired: rendered-worker-91ab}
outages:
  description: API outages ridden out, each with when it began (C(started), seconds after the
    module started), how long it lasted (C(seconds)), C(retries) and the last C(error).
  returned: always
  type: list
  elements: dict
  sample:
    - {started: 312.4, seconds: 63.0, retries: 7, error: "MachineConfigPool worker: cannot reach the API server ..."}
msg:
  description: What was done, in one line.
  returned: always
  type: str
  sample: master, worker unpaused; rolled out
"""

from ansible_collections.forensic.checkpoint.plugins.module_utils.cluster import client
from ansible_collections.forensic.checkpoint.plugins.module_utils.cluster.pools import ensure


def main():
    module = client.new_module(
        argument_spec=client.argument_spec(
            names=dict(type="list", elements="str", default=["master", "worker"]),
            state=dict(type="str", choices=["paused", "unpaused"], default="unpaused"),
            wait=dict(type="bool", default=False),
            machine_configs=dict(type="list", elements="str", default=[]),
            wait_timeout=dict(type="int", default=3600),
            wait_sleep=dict(type="int", default=10),
            feature_gates=dict(type="list", elements="str", default=[]),
            outage_budget=dict(type="int", default=900),
        ),
        supports_check_mode=True,
    )
    p = module.params
    client.run_module(module, lambda: ensure(client.connect(module), p["names"], p["state"], p["wait"], p["machine_configs"],
                                             p["wait_timeout"], p["wait_sleep"], module.check_mode,
                                             feature_gates=p["feature_gates"], outage_budget=p["outage_budget"]))


if __name__ == "__main__":
    main()
