# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""MachineConfigPools: pause, unpause, and wait for a rollout the way the MCO's own tests do.

A rollout is done when the pool's rendered config has caught up with its MachineConfigs (every
MachineConfig the pool selects is listed in ``spec.configuration.source``; a named one's files
and units, and the wanted kubelet feature gates, are in the rendered config's content) and then ``status.configuration.name`` equals
``spec.configuration.name``, ``Updated`` is True and every machine is updated. Right after a
MachineConfig changes the pool still says Updated=True for the old config, so waiting for that
condition alone would race. A pool that turns Degraded fails the wait at once, with the node's
own reason. Never leave a pool paused: it also holds back kubelet certificate rotation.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.forensic.checkpoint.plugins.module_utils.cluster import machine_config
from ansible_collections.forensic.checkpoint.plugins.module_utils.cluster.client import Patient
from ansible_collections.forensic.checkpoint.plugins.module_utils.errors import CheckpointError

API = "/apis/machineconfiguration.openshift.io/v1/machineconfigpools"
MCO = "machineconfiguration.openshift.io/"
COUNTS = (("machine_count", "machineCount"), ("updated_machine_count", "updatedMachineCount"),
          ("ready_machine_count", "readyMachineCount"), ("unavailable_machine_count", "unavailableMachineCount"),
          ("degraded_machine_count", "degradedMachineCount"))


class RolloutError(CheckpointError):
    """A wait that failed; ``result`` carries the pools and progress seen so far."""

    def __init__(self, subject, problem, result):
        super(RolloutError, self).__init__(subject, problem)
        self.result = result


def conditions(pool):
    return dict((c.get("type"), c) for c in (pool.get("status") or {}).get("conditions") or [])


def summary(pool):
    """What the module returns for one pool."""
    spec = pool.get("spec") or {}
    status = pool.get("status") or {}
    out = {"name": pool["metadata"]["name"], "paused": bool(spec.get("paused"))}
    for key, field in COUNTS:
        out[key] = status.get(field, 0)
    out["configuration"] = {"desired": (spec.get("configuration") or {}).get("name"),
                            "current": (status.get("configuration") or {}).get("name")}
    out["conditions"] = dict((t, c.get("status")) for t, c in conditions(pool).items())
    return out


def selects(selector, labels):
    """Whether a label selector (matchLabels/matchExpressions) selects ``labels``."""
    selector = selector or {}
    labels = labels or {}
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def _own(mc):
    """MachineConfigs the render controller merges (not the rendered ones themselves)."""
    refs = mc["metadata"].get("ownerReferences") or []
    return not mc["metadata"]["name"].startswith("rendered-") and \
        not any(ref.get("kind") == "MachineConfigPool" for ref in refs)


class Pools(object):
    def __init__(self, cluster, names, sleep=time.sleep, clock=time.monotonic, outage_budget=900):
        self.cluster = cluster
        self.names = names
        self.sleep = sleep
        self.clock = clock
        self.api = Patient(outage_budget, sleep, clock)
        self._rendered = {}  # rendered configs never change (their name is a hash of their contents)

    def _get(self, path, subject, **kwargs):
        return self.api.call(self.cluster.get, path, subject, **kwargs)

    def fetch(self):
        pools = []
        for name in self.names:
            pool = self._get("%s/%s" % (API, name), "MachineConfigPool %s" % name, missing_ok=True)
            if pool is None:
                raise CheckpointError("MachineConfigPool %s" % name, "not found")
            pools.append(pool)
        return pools

    def set_paused(self, paused):
        """Pause or unpause; returns ({name: paused before}, changed names, pools after)."""
        before, changed, after = {}, [], []
        for pool in self.fetch():
            name = pool["metadata"]["name"]
            before[name] = bool((pool.get("spec") or {}).get("paused"))
            if before[name] == paused:
                after.append(pool)
                continue
            patched = self.api.call(self.cluster.merge_patch, "%s/%s" % (API, name), "MachineConfigPool %s" % name,
                                    {"spec": {"paused": paused}})
            changed.append(name)
            after.append(patched if isinstance(patched, dict) and patched.get("spec") else pool)
        return before, changed, after

    # -- waiting

    def wait(self, machine_configs=(), timeout=3600, interval=5, feature_gates=()):
        """Block until every pool has rolled out. Returns (pools, progress)."""
        start = self.clock()
        progress = []
        last = {}
        named = self._named(machine_configs)
        # Listed once: what each pool selects. Each poll then reads only the pools and, when its
        # name changes, a pool's rendered config (hundreds of them on a long-lived cluster).
        mcs = self.api.call(self.cluster.get, machine_config.API, "MachineConfigs").get("items") or []
        while True:
            pools = self.fetch()
            states = {}
            for pool in pools:
                name = pool["metadata"]["name"]
                states[name] = self._state(pool, mcs, named, feature_gates)
                seen = (states[name], summary(pool)["updated_machine_count"], summary(pool)["configuration"]["desired"])
                if last.get(name) != seen:
                    last[name] = seen
                    entry = summary(pool)
                    progress.append({"elapsed": round(self.clock() - start, 1), "pool": name, "state": states[name],
                                     "updated": entry["updated_machine_count"], "machines": entry["machine_count"],
                                     "desired": entry["configuration"]["desired"]})
                self._fail_if_stuck(pool, states[name], progress)
            if all(state == "updated" for state in states.values()):
                return pools, progress
            elapsed = self.clock() - start
            if elapsed >= timeout:
                waiting = ["%s (%s, %s of %s machines updated)" % (
                    p["metadata"]["name"], states[p["metadata"]["name"]],
                    summary(p)["updated_machine_count"], summary(p)["machine_count"])
                    for p in pools if states[p["metadata"]["name"]] != "updated"]
                raise RolloutError("MachineConfigPool " + ", ".join(self.names),
                                   "rollout not finished after %ds: %s" % (timeout, "; ".join(waiting)),
                                   {"pools": [summary(p) for p in pools], "progress": progress,
                                    "outages": self.api.outages})
            self.sleep(min(interval, max(timeout - elapsed, 0.1)))

    def _named(self, names):
        named = []
        for name in names:
            mc = self._get("%s/%s" % (machine_config.API, name), "MachineConfig %s" % name, missing_ok=True)
            if mc is None:
                raise CheckpointError("MachineConfig %s" % name, "not found")
            named.append(mc)
        return named

    def _state(self, pool, mcs, named, feature_gates=()):
        """'rendering', 'updating' or 'updated' by the MCO's rule, judged on the rendered content."""
        spec = pool.get("spec") or {}
        status = pool.get("status") or {}
        configuration = spec.get("configuration") or {}
        selector = spec.get("machineConfigSelector")
        selected = set(mc["metadata"]["name"] for mc in mcs if _own(mc) and selects(selector, mc["metadata"].get("labels")))
        source = set(s.get("name") for s in configuration.get("source") or [])
        if not configuration.get("name") or not selected <= source:
            return "rendering"
        # A gate-only change updates 98-<pool>-generated-kubelet, which exists from install: no new
        # name appears in the source, so the rendered content must show the gate and the drop-in.
        mine = [mc for mc in named if selects(selector, mc["metadata"].get("labels"))]
        if (mine or feature_gates) and not self._rendered_has(configuration["name"], mine, feature_gates):
            return "rendering"
        conds = conditions(pool)
        done = (status.get("observedGeneration", 0) >= pool["metadata"].get("generation", 0)
                and (status.get("configuration") or {}).get("name") == configuration["name"]
                and (conds.get("Updated") or {}).get("status") == "True"
                and status.get("updatedMachineCount") == status.get("machineCount"))
        return "updated" if done else "updating"

    def _rendered_has(self, rendered_name, mcs, feature_gates):
        if rendered_name not in self._rendered:
            rendered = self._get("%s/%s" % (machine_config.API, rendered_name), "MachineConfig %s" % rendered_name,
                                 missing_ok=True)
            if rendered is None:
                return False  # not cached: the render controller may still be writing it
            self._rendered[rendered_name] = (_payload(rendered), machine_config.rendered_files(rendered))
        payload, files = self._rendered[rendered_name]
        return all(item in payload for mc in mcs for item in _payload(mc)) and \
            all(machine_config.kubelet_gate(files, gate) is True for gate in feature_gates)

    def _fail_if_stuck(self, pool, state, progress):
        name = pool["metadata"]["name"]
        conds = conditions(pool)
        degraded = [t for t in ("NodeDegraded", "RenderDegraded", "Degraded")
                    if (conds.get(t) or {}).get("status") == "True"]
        if degraded or (pool.get("status") or {}).get("degradedMachineCount"):
            raise RolloutError("MachineConfigPool %s" % name, "is degraded: %s" % self._why(pool, degraded),
                               {"pools": [summary(pool)], "progress": progress})
        if state != "updated" and (pool.get("spec") or {}).get("paused"):
            raise RolloutError("MachineConfigPool %s" % name,
                               "is paused, so it will not roll out: unpause it (state: unpaused) to wait",
                               {"pools": [summary(pool)], "progress": progress})

    def _why(self, pool, degraded):
        """The degraded node's own reason (its MCD annotation), else the condition's message."""
        selector = (pool.get("spec") or {}).get("nodeSelector")
        try:
            nodes = self._get("/api/v1/nodes", "nodes").get("items") or []
        except CheckpointError:
            nodes = []
        reasons = []
        for node in nodes:
            meta = node.get("metadata") or {}
            annotations = meta.get("annotations") or {}
            if selects(selector, meta.get("labels")) and annotations.get(MCO + "state") == "Degraded":
                reasons.append("node %s: %s" % (meta.get("name"), annotations.get(MCO + "reason") or "Degraded"))
        if reasons:
            return "; ".join(reasons)
        conds = conditions(pool)
        for kind in degraded:
            message = (conds.get(kind) or {}).get("message")
            if message:
                return "%s: %s" % (kind, message)
        return "%s machine(s) degraded" % (pool.get("status") or {}).get("degradedMachineCount", "?")


def _payload(mc):
    """Comparable items of a MachineConfig: files (decoded), units, kernel arguments, extensions."""
    spec = machine_config.comparable(mc.get("spec"))
    config = spec.get("config") or {}
    items = [("file", f.get("path"), repr(f.get("contents")), f.get("mode"))
             for f in (config.get("storage") or {}).get("files") or []]
    items += [("unit", u.get("name"), u.get("contents"), repr(u.get("dropins")))
              for u in (config.get("systemd") or {}).get("units") or []]
    items += [("karg", k) for k in spec.get("kernelArguments") or []]
    items += [("extension", e) for e in spec.get("extensions") or []]
    return items


def ensure(cluster, names, state="unpaused", wait=False, machine_configs=(), timeout=3600, interval=5,
           check_mode=False, sleep=time.sleep, clock=time.monotonic, feature_gates=(), outage_budget=900):
    """The machine_config_pool module: pause or unpause ``names``, optionally wait for the rollout."""
    pools = Pools(cluster, names, sleep, clock, outage_budget)
    if wait and state == "paused":
        raise CheckpointError("MachineConfigPool " + ", ".join(names),
                              "wait needs state unpaused: a paused pool does not roll out")
    before, changed, after = pools.set_paused(state == "paused")
    result = {"changed": bool(changed), "changed_pools": changed, "progress": [], "outages": pools.api.outages,
              "diff": {"before": {"paused": before},
                       "after": {"paused": dict((n, state == "paused") for n in before)}}}
    verb = "paused" if state == "paused" else "unpaused"
    msg = "%s %s" % (", ".join(changed), verb) if changed else "%s already %s" % (", ".join(names), verb)
    if wait and not check_mode:
        try:
            after, progress = pools.wait(machine_configs, timeout, interval, feature_gates)
        except RolloutError as err:
            err.result.update(changed=bool(changed), changed_pools=changed, outages=pools.api.outages)
            raise
        result["progress"] = progress
        msg += "; rolled out"
    elif wait:
        msg += " (check mode: not waiting)"
    if pools.api.outages:
        msg += "; rode out %d API outage(s), longest %ss" % (
            len(pools.api.outages), max(o["seconds"] for o in pools.api.outages))
    result.update(pools=[summary(p) for p in after], msg=msg)
    return result


CONTROL_PLANE_TAINTS = ("node-role.kubernetes.io/master", "node-role.kubernetes.io/control-plane")


def runs_workloads(node):
    """Whether ordinary pods run on a node: no NoSchedule/NoExecute control-plane taint (compact
    and single-node OpenShift make their masters schedulable by dropping it)."""
    return not any(t.get("key") in CONTROL_PLANE_TAINTS and t.get("effect") in ("NoSchedule", "NoExecute")
                   for t in (node.get("spec") or {}).get("taints") or [])


def derive(pools, nodes, names=None, crio_roles=None):
    """What enabling touches on this cluster: ``pools`` to pause, unpause and wait for (every pool
    unless ``names``: custom pools such as infra inherit the worker MachineConfigs and roll out with
    them) and ``crio_criu_roles`` that need the CRI-O drop-in (unless ``crio_roles``): worker, and
    master when a master runs workloads (compact and single-node clusters)."""
    existing = [p["metadata"]["name"] for p in pools]
    if not crio_roles:
        crio_roles = [r for r in ("worker",) if r in existing]
        master = [p for p in pools if p["metadata"]["name"] == "master"]
        if master and any(runs_workloads(n) for n in nodes
                          if selects((master[0].get("spec") or {}).get("nodeSelector"), n["metadata"].get("labels"))):
            crio_roles.append("master")
    return {"pools": sorted(names or existing), "crio_criu_roles": sorted(crio_roles)}
