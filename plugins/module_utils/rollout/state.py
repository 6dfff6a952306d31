# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the cluster holds after enabling checkpointing (or after it failed): the FeatureGate, our
MachineConfigs, the pools, the nodes that rebooted, as a dict and as lines a person reads. Each
read may have failed (the API may be what failed): its part is then ``unknown``, never an error."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

UNKNOWN = "unknown"


def _resources(read):
    """A k8s_info result's resources, or None when the read failed."""
    return read.get("resources") if isinstance(read, dict) and isinstance(read.get("resources"), list) else None


def _boot_ids(nodes):
    return dict(((n.get("metadata") or {}).get("name"), ((n.get("status") or {}).get("nodeInfo") or {}).get("bootID", ""))
                for n in nodes or [])


def rebooted(before, now):
    """Nodes present before whose boot ID changed (the MCD reboots for kubelet and CRI-O changes);
    ``unknown`` when either read is missing."""
    if not before or not now:
        return UNKNOWN
    old, new = _boot_ids(before), _boot_ids(now)
    return sorted(n for n in new if n in old and new[n] != old[n])


def pool(p):
    conditions = dict((c.get("type"), c.get("status")) for c in (p.get("status") or {}).get("conditions") or [])
    status = p.get("status") or {}
    return {"paused": bool((p.get("spec") or {}).get("paused")),
            "updated": conditions.get("Updated", "Unknown"), "updating": conditions.get("Updating", "Unknown"),
            "degraded": conditions.get("Degraded", "Unknown"), "machines": status.get("machineCount", 0),
            "updated_machines": status.get("updatedMachineCount", 0),
            "degraded_machines": status.get("degradedMachineCount", 0),
            "configuration": (status.get("configuration") or {}).get("name", "")}


def state(reads, ours, pool_names, nodes_before, paused_before, unpaused):
    """``reads``: the k8s_info results for FeatureGate cluster, MachineConfigs, MachineConfigPools
    and Nodes, in that order. ``ours``: the MachineConfig names this role manages."""
    gate, mcs, pools, nodes = (list(reads or []) + [{}] * 4)[:4]
    gate_res, mc_res, pool_res = _resources(gate), _resources(mcs), _resources(pools)
    spec = (gate_res[0].get("spec") or {}) if gate_res else None
    names = set((m.get("metadata") or {}).get("name") for m in mc_res or [])
    return {
        "feature_gate": {"feature_set": (spec.get("featureSet") or "Default") if spec is not None else UNKNOWN,
                         "enabled": (spec.get("customNoUpgrade") or {}).get("enabled") or [] if spec is not None else UNKNOWN},
        "machine_configs": {"present": [m for m in ours or [] if m in names], "absent": [m for m in ours or [] if m not in names]}
        if mc_res is not None else UNKNOWN,
        "pools": dict(((p.get("metadata") or {}).get("name"), pool(p)) for p in pool_res
                      if (p.get("metadata") or {}).get("name") in (pool_names or [])) if pool_res is not None else UNKNOWN,
        "paused_before": list(paused_before or []),
        "rebooted_nodes": rebooted(_resources(nodes_before) or [], _resources(nodes) or []),
        "unpaused": bool(unpaused),
    }


def lines(s):
    """The state as lines for a person."""
    gate = s["feature_gate"]
    enabled = gate["enabled"] if isinstance(gate["enabled"], str) else ", ".join(gate["enabled"])
    out = ["FeatureGate cluster: featureSet %s, enabled: %s" % (gate["feature_set"], enabled)]
    mcs = s["machine_configs"]
    out.append("MachineConfigs present: %s; absent: %s" % (", ".join(mcs["present"]) or "none", ", ".join(mcs["absent"]) or "none")
               if isinstance(mcs, dict) else "MachineConfigs: unknown (could not read them)")
    if isinstance(s["pools"], dict):
        for name, p in sorted(s["pools"].items()):
            out.append("MachineConfigPool %s: %s, Updated=%s Updating=%s Degraded=%s, %s/%s machines updated, config %s"
                       % (name, "PAUSED" if p["paused"] else "unpaused", p["updated"], p["updating"], p["degraded"],
                          p["updated_machines"], p["machines"], p["configuration"]))
    else:
        out.append("MachineConfigPools: unknown (could not read them)")
    nodes = s["rebooted_nodes"]
    out.append("Nodes rebooted by this run: %s" % ((", ".join(nodes) or "none") if not isinstance(nodes, str)
                                                   else "unknown (could not read the nodes)"))
    return out
