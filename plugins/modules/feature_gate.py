#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: feature_gate
short_description: Enable Kubernetes feature gates such as ContainerCheckpoint on OpenShift
version_added: 0.1.0
description:
  - Ensures feature gates are enabled (or disabled) in the OpenShift FeatureGate C(cluster)
    (C(config.openshift.io/v1)), by naming them under C(spec.customNoUpgrade).
  - Gate names are validated before anything is written, because a kubelet given an unknown gate
    name refuses to start. Names are checked against a built-in list, the FeatureGate's own status
    (OpenShift 4.14 and later) and, if still unknown, the C(kubernetes_feature_enabled) metric of a
    kubelet (read through the node proxy).
  - Naming individual gates requires C(featureSet=CustomNoUpgrade). Switching to it is irreversible,
    the API refuses to change it back or remove it, and it blocks minor-version upgrades of the
    cluster, so the module only does it with O(accept_irreversible=true).
  - A cluster on C(TechPreviewNoUpgrade) or C(DevPreviewNoUpgrade) is never switched to
    C(CustomNoUpgrade), because that would silently drop every preview gate. The module fails and says so.
  - C(ContainerCheckpoint) is enabled by default from Kubernetes 1.30 (OpenShift 4.17). On such
    clusters the module reports it in RV(default_on) and changes nothing, unless O(force=true).
  - The new gates reach the nodes only when the MachineConfigPools roll out; use
    M(forensic.checkpoint.machine_config_pool) with O(forensic.checkpoint.machine_config_pool#module:wait=true).
  - In check mode the change is sent as a server-side dry run, so the API's own validation runs.
author:
  - forensic.checkpoint contributors (@forensic-checkpoint)
options:
  gates:
    description:
      - Feature gate names, case-sensitive.
    type: list
    elements: str
    default: [ContainerCheckpoint]
  state:
    description:
      - V(enabled) adds the gates to C(customNoUpgrade.enabled) and removes them from C(disabled);
        V(disabled) does the opposite.
    type: str
    choices: [enabled, disabled]
    default: enabled
  allow_unknown:
    description:
      - Write gate names even if the cluster does not know them. An unknown name stops every
        kubelet from starting; only use this for a gate newer than the checks can see.
    type: bool
    default: false
  accept_irreversible:
    description:
      - Allow changing C(featureSet) to C(CustomNoUpgrade). This can never be undone and blocks
        minor-version upgrades of the cluster.
    type: bool
    default: false
  force:
    description:
      - Write the gates even when the cluster's Kubernetes version enables them by default.
    type: bool
    default: false
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
  - forensic.checkpoint.cluster
notes:
  - Needs C(get) and C(patch) on C(featuregates.config.openshift.io), C(get) on C(/version) and, for
    the kubelet check, C(list) on C(nodes) and C(get) on C(nodes/proxy) and C(nodes/metrics).
attributes:
  check_mode:
    support: full
    description: The change is sent as a server-side dry run, so the API validates it; nothing is stored.
  diff_mode:
    support: full
    description: Shows the FeatureGate spec before and after.
seealso:
  - module: forensic.checkpoint.machine_config
  - module: forensic.checkpoint.machine_config_pool
  - module: forensic.checkpoint.container_checkpoint
  - name: OpenShift documentation, enabling features using feature gates
    description: What FeatureGate featureSets mean and why CustomNoUpgrade cannot be undone.
    link: https://docs.openshift.com/container-platform/4.13/nodes/clusters/nodes-cluster-enabling-features.html
"""

EXAMPLES = r"""
- name: Enable ContainerCheckpoint, the first time irreversibly (it blocks upgrades)
  forensic.checkpoint.feature_gate:
    accept_irreversible: true

- name: See what would change, with the API server validating it
  forensic.checkpoint.feature_gate:
    gates: [ContainerCheckpoint]
    accept_irreversible: true
  check_mode: true
  diff: true

- name: Enable it with credentials from a kubeconfig and context
  forensic.checkpoint.feature_gate:
    kubeconfig: /home/responder/.kube/config
    context: admin
    accept_irreversible: true
  register: gate

- name: Say when nothing was needed
  ansible.builtin.debug:
    msg: "{{ gate.default_on | join(', ') }} on by default on Kubernetes {{ gate.kubernetes_version }}"
  when: gate.default_on | length > 0
"""

RETURN = r"""
feature_set:
  description: The FeatureGate's C(spec.featureSet) after the run (C("") is Default).
  returned: success
  type: str
  sample: CustomNoUpgrade
enabled:
  description: C(spec.customNoUpgrade.enabled) after the run.
  returned: success
  type: list
  elements: str
  sample: [ContainerCheckpoint]
disabled:
  description: C(spec.customNoUpgrade.disabled) after the run.
  returned: success
  type: list
  elements: str
  sample: []
default_on:
  description: The requested gates that the cluster's Kubernetes version enables by default.
  returned: success
  type: list
  elements: str
  sample: []
kubernetes_version:
  description: The API server's Kubernetes version, C(major.minor).
  returned: success
  type: str
  sample: "1.26"
result:
  description: The FeatureGate C(cluster) after the run (in check mode, as the dry run returned it).
  returned: success
  type: dict
  sample:
    apiVersion: config.openshift.io/v1
    kind: FeatureGate
    metadata: {name: cluster}
    spec: {featureSet: CustomNoUpgrade, customNoUpgrade: {enabled: [ContainerCheckpoint]}}
msg:
  description: What was done, in one line.
  returned: always
  type: str
  sample: ContainerCheckpoint enabled in FeatureGate cluster (featureSet changed from Default to CustomNoUpgrade)
"""

from ansible_collections.forensic.checkpoint.plugins.module_utils.cluster import client
from ansible_collections.forensic.checkpoint.plugins.module_utils.cluster.feature_gate import ensure


def main():
    module = client.new_module(
        argument_spec=client.argument_spec(
            gates=dict(type="list", elements="str", default=["ContainerCheckpoint"]),
            state=dict(type="str", choices=["enabled", "disabled"], default="enabled"),
            allow_unknown=dict(type="bool", default=False),
            accept_irreversible=dict(type="bool", default=False),
            force=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    params = module.params
    client.run_module(module, lambda: ensure(client.connect(module), params["gates"], params["state"],
                                             params["allow_unknown"], params["accept_irreversible"], params["force"],
                                             module.check_mode))


if __name__ == "__main__":
    main()
