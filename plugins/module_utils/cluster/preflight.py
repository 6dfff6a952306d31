# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Before an incident-time checkpoint: can each target's node checkpoint *now*, without changes?

Enabling checkpointing drains and reboots the nodes (the MCO reboots for a changed kubelet
config or a ``/etc/crio/crio.conf.d`` file: machine-config-operator pkg/daemon/update.go), so the
containers lose the live state the responder came for. This only reads, per target node:

* the node: Ready, and not mid-update by the Machine Config Daemon (``currentConfig`` differs
  from ``desiredConfig``, or ``state`` is not ``Done``: it is about to be drained);
* the kubelet's ContainerCheckpoint gate: a probe of ``/checkpoint`` for a pod that does not
  exist. The kubelet registers that path only when the gate is on (kubelet server.go), so a gate
  that is off answers the mux's plain ``404 page not found`` and one that is on the handler's
  ``pod does not exist``; nothing is checkpointed either way. Without the probe, the node's
  rendered config (``kubelet.conf`` featureGates) and the version default (on from 1.30) decide;
* CRI-O's CRIU support: ``enable_criu_support`` in the node's current rendered config's CRI-O
  files, read as TOML in CRI-O's order (the last one setting it wins; one CRI-O could not decode
  is a problem), else CRI-O's default (on from 1.30);
* the node's MachineConfigPool: paused by someone (a pending change will not arrive) or updating.

OpenShift objects that cannot be read (plain Kubernetes, or no RBAC for them) leave those parts
to the probe and the versions, and say so.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.forensic.checkpoint.plugins.module_utils.cluster import machine_config, pools
from ansible_collections.forensic.checkpoint.plugins.module_utils.cluster.checkpoint import quote_path, select
from ansible_collections.forensic.checkpoint.plugins.module_utils.cluster.client import ApiError
from ansible_collections.forensic.checkpoint.plugins.module_utils.errors import CheckpointError

MCO = "machineconfiguration.openshift.io/"
KUBELET_CONF = machine_config.KUBELET_CONF
CRIO_DROPINS = machine_config.CRIO_DROPINS
DEFAULT_ON_MINOR = 30  # the gate is beta and on, and CRI-O enables CRIU, from Kubernetes/CRI-O 1.30
PROBE_POD = "forensic-checkpoint-preflight-probe"
WHAT_TO_DO = ("enabling it drains and reboots the node, and the containers lose the live state that is the "
              "evidence: run playbooks/enable.yml ahead of time, in a maintenance window; or, on a test "
              "cluster only, opt in with forensic_enable_reboots_nodes=true")


def _minor(version):
    match = re.search(r"(\d+)\.(\d+)", version or "")
    return int(match.group(2)) if match else None


class Preflight(object):
    """Reads once per node, config and pool; ``node(name)`` is the verdict for one node."""

    def __init__(self, cluster, namespace, probe=True):
        self.cluster = cluster
        self.namespace = namespace
        self.probe_kubelet = probe
        self._configs = {}
        self._pools = None
        self.notes = []

    def _read(self, path, subject):
        """An OpenShift object, or None when it does not exist or may not be read."""
        try:
            return self.cluster.get(path, subject, missing_ok=True)
        except ApiError as err:
            if err.status in (401, 403):
                note = "%s: cannot read it (HTTP %s); relying on the kubelet probe and the versions" % (
                    subject, err.status)
                if note not in self.notes:
                    self.notes.append(note)
                return None
            raise

    def _files(self, rendered):
        if rendered not in self._configs:
            mc = self._read("%s/%s" % (machine_config.API, rendered), "MachineConfig %s" % rendered)
            self._configs[rendered] = machine_config.rendered_files(mc) if mc else None
        return self._configs[rendered]

    def _pool(self, node):
        if self._pools is None:
            found = self._read(pools.API, "MachineConfigPools")
            self._pools = (found or {}).get("items") or []
        labels = (node.get("metadata") or {}).get("labels") or {}
        matching = [p for p in self._pools if pools.selects((p.get("spec") or {}).get("nodeSelector"), labels)]
        # a node of a custom pool (infra) also carries the worker label: the MCO puts it in the custom pool
        custom = [p for p in matching if p["metadata"]["name"] != "worker"]
        return (custom or matching or [None])[0]

    def probe(self, name):
        """True/False: the kubelet's checkpoint path is registered; None: could not tell. Second value: why."""
        path = "/api/v1/nodes/%s/proxy/checkpoint/%s/%s/probe" % (
            quote_path(name), quote_path(self.namespace), PROBE_POD)
        try:
            answer = self.cluster.request("POST", path, "kubelet on node %s (checkpoint probe)" % name, timeout=30)
        except ApiError as err:
            if err.status == 404 and "does not exist" in (err.message or ""):
                return True, "the kubelet's checkpoint API answers (probe: %s)" % err.message
            if err.status == 404 and err.details.get("kind") != "nodes":
                return False, "the kubelet has no checkpoint API (probe: plain 404): the ContainerCheckpoint gate is off"
            return None, "kubelet probe failed: %s" % err
        return None, "kubelet probe: unexpected answer %r" % (answer,)

    def node(self, name, containers=None):
        """The verdict for one node: ``ready`` and the ``problems`` (each one line) that stop it.
        ``containers``: the (namespace, pod, container) to checkpoint there, for the space check."""
        node = self.cluster.get("/api/v1/nodes/%s" % quote_path(name), "node %s" % name)
        meta, status = node.get("metadata") or {}, node.get("status") or {}
        annotations = meta.get("annotations") or {}
        info = status.get("nodeInfo") or {}
        kubelet_minor = _minor(info.get("kubeletVersion"))
        runtime = info.get("containerRuntimeVersion") or ""
        crio_minor = _minor(runtime) if runtime.startswith("cri-o://") else None
        out = {"node": name, "kubelet_version": info.get("kubeletVersion"), "container_runtime_version": runtime,
               "problems": [], "notes": []}
        problems, notes = out["problems"], out["notes"]

        ready = [c for c in status.get("conditions") or [] if c.get("type") == "Ready"]
        if not ready or ready[0].get("status") != "True":
            problems.append("node %s is not Ready (%s)" % (name, (ready[0].get("message") if ready else "") or "no Ready condition"))

        current, desired = annotations.get(MCO + "currentConfig"), annotations.get(MCO + "desiredConfig")
        state = annotations.get(MCO + "state")
        out["rendered_config"] = current
        if current and (desired not in (None, current) or state not in (None, "Done")):
            problems.append("node %s is being updated by the Machine Config Operator (currentConfig %s, desiredConfig %s, "
                            "state %s): it will be drained and rebooted, taking the containers' live state with it"
                            % (name, current, desired, state))
        files = self._files(current) if current else None

        pool = self._pool(node) if current else None
        if pool is not None:
            summary = pools.summary(pool)
            out["pool"] = {"name": summary["name"], "paused": summary["paused"],
                           "updating": summary["conditions"].get("Updating") == "True"}
            if summary["paused"]:
                notes.append("MachineConfigPool %s is paused: configuration changes will not reach node %s until it is "
                             "unpaused" % (summary["name"], name))

        # the gate, as the node's kubelet sees it
        gate, source = None, None
        if self.probe_kubelet:
            gate, source = self.probe(name)
        if gate is None and files is not None:
            configured = machine_config.kubelet_gate(files)
            if configured is not None:
                gate, source = bool(configured), "featureGates in %s of %s" % (KUBELET_CONF, current)
        if gate is None and kubelet_minor is not None:
            gate = kubelet_minor >= DEFAULT_ON_MINOR
            source = "default of Kubernetes 1.%s (%s from 1.%s)" % (kubelet_minor, "on", DEFAULT_ON_MINOR)
        out["gate"] = {"enabled": gate, "source": source}
        if gate is False:
            problems.append("the ContainerCheckpoint feature gate is off on node %s's kubelet (%s)" % (name, source))
        elif gate is None:
            notes.append("cannot tell whether the ContainerCheckpoint gate is on on node %s (%s)" % (name, source))

        # CRI-O's CRIU support, from the node's current rendered config
        criu, source, refused = None, None, False
        if files is not None:
            try:
                criu = machine_config.crio_criu_setting(files)
            except CheckpointError as err:
                # no default stands in for a configuration CRI-O refuses to start with
                problems.append("node %s's rendered config %s: %s" % (name, current, err))
                refused = True
            if criu is not None:
                source = "enable_criu_support in %s of %s" % (CRIO_DROPINS, current)
        # CRI-O's default decides when it is on, or when the node's whole configuration was read;
        # an unreadable one may hold a drop-in that turns it on
        defaulted = crio_minor is not None and (crio_minor >= DEFAULT_ON_MINOR or files is not None)
        if criu is None and not refused and defaulted:
            criu = crio_minor >= DEFAULT_ON_MINOR
            source = "default of CRI-O 1.%s (on from 1.%s)" % (crio_minor, DEFAULT_ON_MINOR)
        out["criu"] = {"enabled": criu, "source": source}
        if criu is False:
            problems.append("CRI-O on node %s has no CRIU support (%s)" % (name, source))
        elif criu is None and not refused:
            notes.append("cannot tell whether the container runtime on node %s (%s) can checkpoint"
                         % (name, runtime or "unknown"))
        self._space(name, containers or [], out)
        out["ready"] = not problems
        return out

    def _space(self, name, containers, out):
        """Free space where the archives go (the kubelet's filesystem, node.fs of the Summary API)
        against their estimated size: each container's memory working set, which CRIU dumps."""
        try:
            summary = self.cluster.get("/api/v1/nodes/%s/proxy/stats/summary" % quote_path(name),
                                       "node %s stats summary" % name)
        except ApiError as err:
            out["notes"].append("cannot read node %s's free space (Summary API: %s)" % (name, err))
            return
        fs = ((summary or {}).get("node") or {}).get("fs") or {}
        usage = {}
        for pod in (summary or {}).get("pods") or []:
            ref = pod.get("podRef") or {}
            for container in pod.get("containers") or []:
                usage[(ref.get("namespace"), ref.get("name"), container.get("name"))] = \
                    (container.get("memory") or {}).get("workingSetBytes") or 0
        needed = sum(usage.get(key, 0) for key in containers)
        out["space"] = {"available_bytes": fs.get("availableBytes"), "capacity_bytes": fs.get("capacityBytes"),
                        "estimated_archive_bytes": needed}
        if fs.get("availableBytes") is not None and needed > fs["availableBytes"]:
            out["problems"].append(
                "node %s has %s free on the kubelet's filesystem (where /var/lib/kubelet/checkpoints is) but the "
                "archives need about %s (the containers' memory working set): free space first"
                % (name, _size(fs["availableBytes"]), _size(needed)))


def _size(count):
    for unit in ("B", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
            return "%.1f %s" % (count, unit) if unit != "B" else "%d B" % count
        count /= 1024.0


def check(connect, namespace, pod=None, label_selectors=None, containers=None, probe=True, fail_when_not_ready=True):
    """The checkpoint_preflight module's work: the targets, and a verdict per node that holds one."""
    cluster = connect()
    targets, skipped = select(cluster, namespace, pod, label_selectors, containers)
    if not targets:
        raise CheckpointError("pods in namespace %s" % namespace, "nothing can be checkpointed: %s" % "; ".join(
            "%s %s" % (s["pod"], s["reason"]) for s in skipped))
    check = Preflight(cluster, namespace, probe)
    nodes = dict((name, check.node(name, [(t["namespace"], t["pod"], t["container"]) for t in targets
                                          if t["node"] == name])) for name in sorted(set(t["node"] for t in targets)))
    not_ready = [n for n in nodes.values() if not n["ready"]]
    warnings = list(check.notes) + [note for n in nodes.values() for note in n["notes"]]
    result = {"changed": False, "failed": False, "ready": not not_ready, "nodes": nodes, "targets": targets, "skipped_pods": skipped,
              "warnings": warnings}
    if not_ready:
        problems = "; ".join(p for n in not_ready for p in n["problems"])
        result["msg"] = "checkpointing cannot work now on node(s) %s: %s. Not changing anything: %s" % (
            ", ".join(n["node"] for n in not_ready), problems, WHAT_TO_DO)
        result["failed"] = bool(fail_when_not_ready)
    else:
        result["msg"] = "checkpointing works on node(s) %s for %d container(s)%s" % (
            ", ".join(nodes), len(targets), "; %d skipped" % len(skipped) if skipped else "")
    return result
