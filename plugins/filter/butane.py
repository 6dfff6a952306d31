# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: butane
short_description: Render a butane config to a MachineConfig exactly as butane does
version_added: 0.1.0
author:
  - forensic.checkpoint contributors (@forensic-checkpoint)
description:
  - Renders a butane config of variant C(openshift) (spec versions 4.8.0 to 4.21.0) to a
    MachineConfig, the way the C(butane) command does, without needing butane.
  - Byte-for-byte with butane. File contents become the shortest of a percent-escaped C(data:,)
    URL, C(data:;base64,) (only when strictly shorter) and gzip plus base64 (only when shorter still
    by more than the four characters of C(gzip); not for 4.8 and 4.9), compressed with Go's own
    gzip so the bytes match. Uncompressed contents carry C(compression) set to the empty string.
    File modes come out in decimal (C(0644) is C(420)). The Ignition version follows the spec
    version, 3.2.0 for 4.8 to 4.13, 3.4.0 for 4.14 to 4.18, 3.5.0 from 4.19. With
    O(output=yaml) the text has butane's header comment, sorted keys and layout.
  - Supported are C(storage.files) (C(inline), C(local) and C(data:) C(source) contents, mode,
    overwrite, user, group, verification), C(systemd.units) with drop-ins, C(passwd.users) for
    C(core) and the C(openshift) section (C(kernel_arguments), C(extensions), C(fips), C(kernel_type)).
  - What butane refuses for MachineConfigs is refused with butane's words, for example non-C(data:)
    sources, setuid, setgid or sticky modes, directories, links, C(append), groups and users other
    than C(core). Other butane features (disks, filesystems, trees, Ignition merges) are refused as
    not supported here. Unknown keys are errors, where butane only warns.
  - butane's warning about a mode that only makes sense in octal is shown as an Ansible warning.
positional: _input
options:
  _input:
    description:
      - The butane config, as YAML text or as a dict.
      - Read a C(.bu) file with C(lookup('file', 'x.bu', rstrip=false)); the lookup's default
        stripping of trailing whitespace would take the final newline off the last inline contents.
    type: raw
    required: true
  output:
    description:
      - V(dict) returns the MachineConfig as a dictionary, V(yaml) the exact text butane prints.
    type: str
    choices: [dict, yaml]
    default: dict
  files_dir:
    description:
      - Directory that C(local) and C(contents_local) paths are relative to, butane's C(--files-dir).
        Paths may not leave it.
    type: path
seealso:
  - module: forensic.checkpoint.machine_config
  - name: butane, OpenShift specification
    description: The config format.
    link: https://coreos.github.io/butane/config-openshift-v4_13/
"""

EXAMPLES = r"""
- name: Render the CRI-O drop-in the OpenShift checkpointing procedure uses
  ansible.builtin.set_fact:
    criu_mc: "{{ butane_config | forensic.checkpoint.butane }}"
  vars:
    # Butane text, as a .bu file holds it: the file mode stays octal as butane documents it.
    butane_config: |
      variant: openshift
      version: 4.13.0
      metadata:
        name: 05-worker-enable-criu
        labels:
          machineconfiguration.openshift.io/role: worker
      storage:
        files:
          - path: /etc/crio/crio.conf.d/05-enable-criu
            mode: 0644
            overwrite: true
            contents:
              inline: |
                [crio.runtime]
                enable_criu_support = true

- name: Write exactly what butane would print for a .bu file
  ansible.builtin.copy:
    content: "{{ lookup('ansible.builtin.file', 'mc.bu', rstrip=false) | forensic.checkpoint.butane(output='yaml', files_dir=playbook_dir ~ '/files') }}"
    dest: /tmp/mc.yaml
    mode: "0644"

- name: Apply it with kubernetes.core
  kubernetes.core.k8s:
    definition: "{{ criu_mc }}"
"""

RETURN = r"""
_value:
  description:
    - The MachineConfig as a dictionary, or as butane's exact YAML text with O(output=yaml).
  type: raw
  sample:
    apiVersion: machineconfiguration.openshift.io/v1
    kind: MachineConfig
    metadata:
      labels: {machineconfiguration.openshift.io/role: worker}
      name: 05-worker-enable-criu
    spec:
      config:
        ignition: {version: 3.2.0}
        storage:
          files:
            - contents:
                compression: ""
                source: data:,%5Bcrio.runtime%5D%0Aenable_criu_support%20%3D%20true%0A
              mode: 420
              overwrite: true
              path: /etc/crio/crio.conf.d/05-enable-criu
"""

from ansible.errors import AnsibleFilterError
from ansible.utils.display import Display

from ansible_collections.forensic.checkpoint.plugins.module_utils.butane import goyaml as butane_yaml
from ansible_collections.forensic.checkpoint.plugins.module_utils.butane.render import ButaneError, render


def butane(config, output="dict", files_dir=None):
    """The forensic.checkpoint.butane filter."""
    if output not in ("dict", "yaml"):
        raise AnsibleFilterError("butane: output must be dict or yaml, not %r" % (output,))
    if isinstance(config, str) and not butane_yaml.HAS_YAML:
        raise AnsibleFilterError("butane: reading YAML text needs the PyYAML library")
    try:
        rendered = render(config, files_dir)
    except ButaneError as err:
        raise AnsibleFilterError("butane: %s" % err)
    for warning in rendered.warnings:
        Display().warning("butane: %s" % warning)
    return rendered.text if output == "yaml" else rendered.machine_config


class FilterModule(object):
    def filters(self):
        return {"butane": butane}
