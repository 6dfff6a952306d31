#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: machine_config
short_description: Apply a MachineConfig rendered from a butane config, byte-for-byte as butane renders it
version_added: 0.1.0
description:
  - Renders a butane config of variant C(openshift) to a MachineConfig exactly as the C(butane) tool
    does (see the P(forensic.checkpoint.butane#filter) filter for the rules), and makes it present
    in the cluster, or removes a MachineConfig.
  - O(preset=crio_criu) is the CRI-O drop-in of the OpenShift checkpointing procedure,
    C(/etc/crio/crio.conf.d/05-enable-criu) with C([crio.runtime]) C(enable_criu_support = true),
    named C(05-<role>-enable-criu). CRI-O enables CRIU support by default from 1.30 (Kubernetes
    1.30, OpenShift 4.17); there the preset reports it and changes nothing unless O(force=true).
  - Every change to a MachineConfig makes the Machine Config Operator roll out a new rendered
    config, which drains and reboots each node of the pool. The module therefore compares what the
    nodes would get, file contents decoded, and leaves alone a MachineConfig that only encodes the
    same contents differently. Pause the pools first to roll several changes out at once, see
    M(forensic.checkpoint.machine_config_pool).
  - MachineConfigs the Machine Config Operator generates itself are never modified or deleted.
  - In check mode the create, replace or delete is a server-side dry run. With C(--diff) the diff
    shows labels and spec with file contents decoded.
author:
  - forensic.checkpoint contributors (@forensic-checkpoint)
options:
  name:
    description:
      - Name of the MachineConfig. With O(butane), fills in or must match the config's C(metadata.name);
        with O(preset), defaults to C(05-<role>-enable-criu). Required on its own for O(state=absent).
    type: str
  role:
    description:
      - The pool the MachineConfig is for, its C(machineconfiguration.openshift.io/role) label.
        With O(butane), fills in or must match the config's label. With O(preset), defaults to V(worker).
    type: str
  state:
    description:
      - V(present) creates or updates the MachineConfig, V(absent) deletes it.
    type: str
    choices: [present, absent]
    default: present
  preset:
    description:
      - A built-in config instead of O(butane). V(crio_criu) writes the CRI-O drop-in enabling CRIU support.
    type: str
    choices: [crio_criu]
  butane:
    description:
      - The butane config, as YAML text or as a dict.
      - Read a C(.bu) file with C(lookup('file', 'x.bu', rstrip=false)); the lookup's default
        stripping of trailing whitespace would take the final newline off the last inline contents.
      - Only variant C(openshift) is accepted, spec versions 4.8.0 to 4.21.0. Supported are
        C(storage.files) with C(inline), C(local) or C(data:) C(source) contents, C(systemd.units)
        with drop-ins, C(passwd.users) for C(core), and the C(openshift) section. Anything butane
        refuses for MachineConfigs is refused with butane's message; unknown keys are errors.
    type: raw
  files_dir:
    description:
      - Directory that C(local) and C(contents_local) paths of O(butane) are relative to, butane's
        C(--files-dir). Paths may not leave it.
    type: path
  spec_version:
    description:
      - The butane spec version O(preset) is rendered with. C(4.8.0)-C(4.13.0) give Ignition 3.2.0,
        C(4.14.0)-C(4.18.0) Ignition 3.4.0, C(4.19.0) and later Ignition 3.5.0.
    type: str
    default: 4.13.0
  force:
    description:
      - With O(preset=crio_criu), write the drop-in even when CRI-O enables CRIU support by default.
    type: bool
    default: false
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
  - forensic.checkpoint.cluster
notes:
  - Needs C(get), C(create), C(update) and C(delete) on C(machineconfigs.machineconfiguration.openshift.io).
attributes:
  check_mode:
    support: full
    description: Creates, replaces or deletes as a server-side dry run; nothing is stored.
  diff_mode:
    support: full
    description: Shows labels and spec before and after, file contents decoded.
seealso:
  - module: forensic.checkpoint.machine_config_pool
  - module: forensic.checkpoint.feature_gate
  - plugin: forensic.checkpoint.butane
    plugin_type: filter
  - name: butane, OpenShift specification
    description: The config format O(butane) takes.
    link: https://coreos.github.io/butane/config-openshift-v4_13/
"""

EXAMPLES = r"""
- name: Enable CRIU support in CRI-O on the workers (the documented drop-in)
  forensic.checkpoint.machine_config:
    preset: crio_criu
    role: worker

- name: Apply a butane file kept next to the playbook
  forensic.checkpoint.machine_config:
    butane: "{{ lookup('ansible.builtin.file', '05-worker-enable-criu.bu', rstrip=false) }}"
    files_dir: "{{ playbook_dir }}/files"

- name: Apply an inline butane config, name and role filled in by the module
  forensic.checkpoint.machine_config:
    name: 99-worker-checkpoint-gc
    role: worker
    butane:
      variant: openshift
      version: 4.13.0
      systemd:
        units:
          - name: checkpoint-gc.service
            enabled: true
            contents: |
              [Service]
              Type=oneshot
              ExecStart=/usr/bin/find /var/lib/kubelet/checkpoints -mtime +7 -delete

              [Install]
              WantedBy=multi-user.target

- name: Remove it again
  forensic.checkpoint.machine_config:
    name: 99-worker-checkpoint-gc
    state: absent
"""

RETURN = r"""
name:
  description: Name of the MachineConfig.
  returned: always
  type: str
  sample: 05-worker-enable-criu
rendered:
  description: The MachineConfig as butane prints it, byte-for-byte (header comment, sorted keys).
  returned: when O(state=present)
  type: str
  sample: "# Generated by Butane; do not edit\napiVersion: machineconfiguration.openshift.io/v1\n..."
result:
  description: The MachineConfig in the cluster after the run (in check mode, as the dry run
    returned it); null when absent, or when the preset found nothing to do.
  returned: always
  type: dict
  sample:
    apiVersion: machineconfiguration.openshift.io/v1
    kind: MachineConfig
    metadata: {name: 05-worker-enable-criu, labels: {machineconfiguration.openshift.io/role: worker}}
    spec: {config: {ignition: {version: 3.2.0}}}
default_on:
  description: True when O(preset=crio_criu) found CRIU support on by default and changed nothing.
  returned: when it applies
  type: bool
  sample: true
msg:
  description: What was done, in one line.
  returned: always
  type: str
  sample: MachineConfig 05-worker-enable-criu created
"""

from ansible_collections.forensic.checkpoint.plugins.module_utils.cluster import client
from ansible_collections.forensic.checkpoint.plugins.module_utils.cluster import machine_config as mc


def main():
    module = client.new_module(
        argument_spec=client.argument_spec(
            name=dict(type="str"),
            role=dict(type="str"),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            preset=dict(type="str", choices=["crio_criu"]),
            butane=dict(type="raw"),
            files_dir=dict(type="path"),
            spec_version=dict(type="str", default="4.13.0"),
            force=dict(type="bool", default=False),
        ),
        mutually_exclusive=[("preset", "butane")],
        required_if=[("state", "present", ("preset", "butane"), True),
                     ("state", "absent", ("name", "preset", "butane"), True)],
        supports_check_mode=True,
    )
    p = module.params
    client.run_module(module, lambda: mc.apply(lambda: client.connect(module), p["state"], p["name"], p["role"],
                                               p["preset"], p["butane"], p["files_dir"], p["spec_version"], p["force"],
                                               module.check_mode))


if __name__ == "__main__":
    main()
