# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Helpers for the cluster modules' integration tests: the enabling procedure, scaling the
counters app (raw API access and waiting: harness.api)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from harness.api import CRIU_MC, MCO_API, wait_for


def irreversible_allowed(cluster):
    return not cluster.real or os.environ.get("FORENSIC_ALLOW_IRREVERSIBLE") == "1"


def pool_rolled_out(api, name="worker"):
    pool = api.get("%s/machineconfigpools/%s" % (MCO_API, name))
    status, spec = pool.get("status") or {}, pool.get("spec") or {}
    conds = dict((c["type"], c["status"]) for c in status.get("conditions") or [])
    return (conds.get("Updated") == "True" and status.get("updatedMachineCount") == status.get("machineCount")
            and (status.get("configuration") or {}).get("name") == (spec.get("configuration") or {}).get("name"))


def enable_checkpointing(ansible, cluster):
    """The whole documented procedure, through the modules: pause, gate, drop-in, unpause+wait."""
    steps = [
        ("forensic.checkpoint.machine_config_pool", {"state": "paused"}),
        ("forensic.checkpoint.feature_gate", {"accept_irreversible": True}),
        ("forensic.checkpoint.machine_config", {"preset": "crio_criu"}),
        ("forensic.checkpoint.machine_config_pool", {"state": "unpaused", "wait": True, "wait_sleep": 1,
                                                     "wait_timeout": 1800, "machine_configs": [CRIU_MC]}),
    ]
    results = []
    for module, args in steps:
        result = ansible.module(module, args)
        assert result.get("failed") is not True, (module, result.get("msg"), result.stderr[-2000:])
        results.append(result)
    return results


def scale_counters(api, replicas):
    """demo/counters with ``replicas`` running pods; returns the pods."""
    api.patch("/apis/apps/v1/namespaces/demo/deployments/counters", {"spec": {"replicas": replicas}})

    def running():
        pods = (api.get("/api/v1/namespaces/demo/pods", labelSelector="app=counters") or {}).get("items") or []
        pods = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
        ready = [p for p in pods if (p.get("status") or {}).get("phase") == "Running"
                 and all("running" in (s.get("state") or {}) for s in p["status"].get("containerStatuses") or [])]
        return ready if len(ready) == replicas and len(pods) == replicas else None
    return wait_for("%d running counters pods" % replicas, running)
