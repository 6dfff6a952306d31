# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: checkpoint_pools
short_description: Which MachineConfigPools enabling checkpointing touches on this cluster
version_added: 0.2.0
description:
  - From the cluster's MachineConfigPools and nodes, the pools to pause, unpause and wait for
    (every pool, since custom pools such as C(infra) inherit the worker MachineConfigs and roll out with
    them) and the roles that need the CRI-O drop-in (C(worker), and C(master) when a master node
    runs workloads, as on compact and single-node OpenShift, where the masters carry no
    C(NoSchedule) control-plane taint).
  - Given explicit O(names) or O(crio_criu_roles), those are kept.
author:
  - forensic.checkpoint contributors (@forensic-checkpoint)
options:
  _input:
    description: The MachineConfigPools (C(resources) of M(kubernetes.core.k8s_info)).
    type: list
    elements: dict
    required: true
  nodes:
    description: The nodes (C(resources) of M(kubernetes.core.k8s_info)).
    type: list
    elements: dict
    required: true
  names:
    description: Pools to use instead of every pool.
    type: list
    elements: str
  crio_criu_roles:
    description: Roles to give the drop-in instead of the derived ones.
    type: list
    elements: str
"""

EXAMPLES = r"""
- name: Derive the pools from the cluster
  ansible.builtin.set_fact:
    plan: "{{ pools.resources | forensic.checkpoint.checkpoint_pools(nodes.resources) }}"
"""

RETURN = r"""
_value:
  description: C(pools) (names) and C(crio_criu_roles) (roles).
  type: dict
  sample: {pools: [infra, master, worker], crio_criu_roles: [worker]}
"""

from ansible_collections.forensic.checkpoint.plugins.module_utils.cluster.pools import derive


def checkpoint_pools(pools, nodes, names=None, crio_criu_roles=None):
    return derive(pools or [], nodes or [], names, crio_criu_roles)


class FilterModule(object):
    def filters(self):
        return {"checkpoint_pools": checkpoint_pools}
