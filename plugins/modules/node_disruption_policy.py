#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: node_disruption_policy
short_description: Let a MachineConfig file change restart a service instead of rebooting nodes (OpenShift)
version_added: 0.1.0
description:
  - Ensures a file policy (a path and the action for it) is present or absent in
    C(spec.nodeDisruptionPolicy.files) of the OpenShift MachineConfiguration C(cluster)
    (C(operator.openshift.io/v1)). Every other policy in it is kept as it is.
  - By default the policy covers the CRI-O drop-in of M(forensic.checkpoint.machine_config)'s
    C(crio_criu) preset, C(/etc/crio/crio.conf.d/05-enable-criu), with a C(Restart) of
    C(crio.service). The machine config daemon then writes the drop-in and restarts CRI-O instead
    of draining and rebooting each node; running containers keep running and keep their memory.
  - Node disruption policies exist from OpenShift 4.16, where they need the C(NodeDisruptionPolicy)
    feature gate (featureSet C(TechPreviewNoUpgrade), or C(CustomNoUpgrade) enabling it), and are on
    by default from 4.17. Where the cluster has none (no MachineConfiguration API, or the gate off)
    the module changes nothing and returns RV(supported=false) with the reason, unless
    O(fail_unsupported=true).
  - The daemon acts on the operator's merged policy in C(status.nodeDisruptionPolicyStatus), not on the
    spec. After a change the module waits (O(wait)) until the status shows the new policy, and returns
    what the daemon will do for a change of O(path) in RV(effective_actions).
  - A change that always reboots (kernel arguments, OS image, a changed file without a policy, such as
    the kubelet configuration a feature gate change rewrites) still reboots, whatever the policies say.
  - OpenShift 4.16 matches policies by exact file path; from 4.17 a policy for a directory covers the
    files under it (the longest matching path wins).
author:
  - forensic.checkpoint contributors (@forensic-checkpoint)
options:
  path:
    description:
      - Absolute path of the file (or, from OpenShift 4.17, directory) on the node that the policy covers.
    type: str
    default: /etc/crio/crio.conf.d/05-enable-criu
  action:
    description:
      - What the daemon does when the file changes. V(Restart) and V(Reload) act on O(service);
        V(None) does nothing; V(DaemonReload) runs C(systemctl daemon-reload); V(Drain) drains the node;
        V(Reboot) reboots it (the behaviour without a policy).
      - A CRI-O C(Reload) (SIGHUP) does not re-read C(enable_criu_support); use V(Restart) for the
        checkpointing drop-in.
    type: str
    choices: [Restart, Reload, DaemonReload, Drain, None, Reboot]
    default: Restart
  service:
    description:
      - The systemd unit to restart or reload (C(NAME.service), C(.socket), ...), for V(Restart) and
        V(Reload) only. Defaults to C(crio.service) for those.
    type: str
  state:
    description:
      - V(present) adds the policy or replaces the actions of an existing policy for O(path);
        V(absent) removes the policy for O(path).
    type: str
    choices: [present, absent]
    default: present
  fail_unsupported:
    description:
      - Fail when the cluster has no node disruption policies, instead of returning RV(supported=false).
    type: bool
    default: false
  wait:
    description:
      - After a change, wait until the operator's merged status shows the new policy.
    type: bool
    default: true
  wait_timeout:
    description: Seconds to wait for the merged status.
    type: int
    default: 120
  wait_sleep:
    description: Seconds between reads of the status.
    type: int
    default: 2
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
requirements:
  - python >= 3.9
  - kubernetes >= 24.2.0
  - PyYAML >= 5.1
notes:
  - Needs C(get) and C(patch) on C(machineconfigurations.operator.openshift.io), C(get) on
    C(featuregates.config.openshift.io) (optional, used while the status is not written yet) and on C(/version).
  - Write the policy before the MachineConfig it is for reaches the nodes (pause the pool, or apply the
    policy first), because the daemon decides with the policy in force when it updates a node.
  - The module belongs to the C(forensic.checkpoint.cluster) action group, so
    C(module_defaults) for C(group/forensic.checkpoint.cluster) can carry the auth options.
attributes:
  check_mode:
    support: full
    description: The change is sent as a server-side dry run, so the API validates it; nothing is stored and nothing waited for.
  diff_mode:
    support: full
    description: Shows C(spec.nodeDisruptionPolicy.files) before and after.
seealso:
  - module: forensic.checkpoint.machine_config
  - module: forensic.checkpoint.machine_config_pool
  - name: OpenShift documentation, using node disruption policies to minimize disruption from machine config changes
    description: What each action does and which changes always reboot.
    link: https://docs.openshift.com/container-platform/4.16/machine_configuration/machine-config-node-disruption.html
"""

EXAMPLES = r"""
- name: Let the CRI-O checkpointing drop-in roll out with a CRI-O restart, where the cluster can
  forensic.checkpoint.node_disruption_policy:
  register: policy

- name: Say how the drop-in will roll out
  ansible.builtin.debug:
    msg: "{{ 'CRI-O restart' if policy.supported else 'drain and reboot: ' ~ policy.msg }}"

- name: Require it (fail on OpenShift 4.13-4.15, or 4.16 without the NodeDisruptionPolicy gate)
  forensic.checkpoint.node_disruption_policy:
    fail_unsupported: true

- name: No action at all for changes under a directory (OpenShift 4.17 and later)
  forensic.checkpoint.node_disruption_policy:
    path: /etc/my-app/conf.d
    action: None

- name: Remove the checkpointing policy again
  forensic.checkpoint.node_disruption_policy:
    state: absent
"""

RETURN = r"""
supported:
  description:
    - Whether the cluster has node disruption policies (the MachineConfiguration API, and the
      C(NodeDisruptionPolicy) feature gate on). When false nothing was changed.
  returned: always
  type: bool
  sample: true
path:
  description: The path of the policy.
  returned: always
  type: str
  sample: /etc/crio/crio.conf.d/05-enable-criu
actions:
  description: The actions asked for (empty for O(state=absent)).
  returned: always
  type: list
  elements: dict
  sample: [{type: Restart, restart: {serviceName: crio.service}}]
policies:
  description: C(spec.nodeDisruptionPolicy.files) after the run (in check mode, as the dry run returned it).
  returned: always
  type: list
  elements: dict
  sample: [{path: /etc/crio/crio.conf.d/05-enable-criu, actions: [{type: Restart, restart: {serviceName: crio.service}}]}]
effective_actions:
  description:
    - What the machine config daemon will do for a change of RV(path) alone, from the operator's
      merged status (the policy whose path matches best), a single C(Reboot) action when the policy says so.
    - C(null) when no policy covers it (the daemon reboots) or the status is not known.
  returned: always
  type: list
  elements: dict
  sample: [{type: Restart, restart: {serviceName: crio.service}}]
effective_from:
  description: C(status) when RV(effective_actions) was read from the merged status, C(unknown) otherwise.
  returned: always
  type: str
  sample: status
kubernetes_version:
  description: The API server's Kubernetes version, C(major.minor) (1.29 is OpenShift 4.16).
  returned: always
  type: str
  sample: "1.29"
msg:
  description: What was done, in one line.
  returned: always
  type: str
  sample: >-
    file policy for /etc/crio/crio.conf.d/05-enable-criu (Restart crio.service) added to MachineConfiguration
    cluster; the daemon's merged policy for it: Restart crio.service
"""

from ansible_collections.forensic.checkpoint.plugins.module_utils.cluster import client
from ansible_collections.forensic.checkpoint.plugins.module_utils.cluster import disruption_policy
from ansible_collections.forensic.checkpoint.plugins.module_utils.errors import CheckpointError


def main():
    module = client.new_module(
        argument_spec=client.argument_spec(
            path=dict(type="str", default="/etc/crio/crio.conf.d/05-enable-criu"),
            action=dict(type="str", choices=list(disruption_policy.ACTIONS), default="Restart"),
            service=dict(type="str"),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            fail_unsupported=dict(type="bool", default=False),
            wait=dict(type="bool", default=True),
            wait_timeout=dict(type="int", default=120),
            wait_sleep=dict(type="int", default=2),
        ),
        supports_check_mode=True,
    )
    params = module.params
    try:
        service = params["service"]
        if service is None and params["action"] in disruption_policy.WITH_SERVICE:
            service = "crio.service"
        actions = disruption_policy.wanted_actions(params["action"], service)
        result = disruption_policy.ensure(
            client.connect(module), params["path"], actions, params["state"], params["fail_unsupported"],
            params["wait"], params["wait_timeout"], params["wait_sleep"], module.check_mode)
    except CheckpointError as err:
        module.fail_json(msg=str(err))
    client.exit_module(module, result)


if __name__ == "__main__":
    main()
