# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter checkpoint_pools: the pools and CRI-O roles enabling touches, derived per topology."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.forensic.checkpoint.plugins.filter.checkpoint_pools import FilterModule

derive = FilterModule().filters()["checkpoint_pools"]
ROLE = "node-role.kubernetes.io/"


def pool(name, selector=None):
    return {"metadata": {"name": name}, "spec": {"nodeSelector": {"matchLabels": {selector or ROLE + name: ""}}}}


def node(name, roles, tainted=False):
    taints = [{"key": ROLE + "master", "effect": "NoSchedule"}] if tainted else []
    return {"metadata": {"name": name, "labels": dict((ROLE + r, "") for r in roles)}, "spec": {"taints": taints}}


def test_standard_cluster_with_a_custom_infra_pool():
    pools = [pool("master"), pool("worker"), pool("infra")]
    nodes = [node("master-0", ["master"], tainted=True), node("worker-0", ["worker"]), node("infra-0", ["worker", "infra"])]
    assert derive(pools, nodes) == {"pools": ["infra", "master", "worker"], "crio_criu_roles": ["worker"]}


def test_compact_and_single_node_masters_run_workloads():
    pools = [pool("master"), pool("worker")]
    compact = [node("master-%d" % i, ["master", "worker"]) for i in range(3)]
    assert derive(pools, compact)["crio_criu_roles"] == ["master", "worker"]
    assert derive(pools, [node("sno", ["master", "worker"])])["crio_criu_roles"] == ["master", "worker"]


def test_explicit_choices_are_kept():
    pools = [pool("master"), pool("worker")]
    assert derive(pools, [], names=["worker"], crio_criu_roles=["worker"]) == {
        "pools": ["worker"], "crio_criu_roles": ["worker"]}
