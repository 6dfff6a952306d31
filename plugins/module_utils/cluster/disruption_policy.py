# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Node disruption policies: file policies in the MachineConfiguration ``cluster``.

Facts this follows (openshift/api operator/v1 types_machineconfiguration.go, openshift/machine-
config-operator pkg/operator/sync.go, pkg/daemon/update.go, pkg/apihelpers/apihelpers.go,
pkg/controller/common/helpers.go, docs/NodeDisruptionPolicy.md):

* ``MachineConfiguration`` (operator.openshift.io/v1, cluster-scoped) ``cluster`` exists from
  OpenShift 4.16; ``spec.nodeDisruptionPolicy.files[]`` is ``{path, actions[]}``, a list keyed by
  path (one entry per path), at most 50 entries; a JSON merge patch replaces the whole list, so
  others' entries are carried over and the write is conditional on the resourceVersion.
* The feature is behind the ``NodeDisruptionPolicy`` gate: TechPreviewNoUpgrade/DevPreviewNoUpgrade
  (or a CustomNoUpgrade naming it) on 4.16, on by default from 4.17 (openshift/api
  features/features.go). With the gate off the Default CRD has no such field (the API server
  prunes it) and the operator writes no status.
* The operator merges the cluster defaults with the spec into ``status.nodeDisruptionPolicyStatus
  .clusterPolicies`` (syncMachineConfiguration, MergeClusterPolicies); the daemon acts on that
  status only, waiting for it at update time, so a policy counts once the status shows it.
* The daemon matches each changed file to a policy: on 4.16 by exact path only; from 4.17 the
  longest policy path equal to the file or a parent directory of it (FindClosestFilePolicyPathMatch).
  A changed file with no policy, or any Reboot, reboots the node.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import re
import time

from ansible_collections.forensic.checkpoint.plugins.module_utils.cluster.client import ApiError
from ansible_collections.forensic.checkpoint.plugins.module_utils.cluster.feature_gate import CUSTOM, PREVIEW_SETS
from ansible_collections.forensic.checkpoint.plugins.module_utils.cluster.feature_gate import PATH as FEATUREGATE
from ansible_collections.forensic.checkpoint.plugins.module_utils.errors import CheckpointError

PATH = "/apis/operator.openshift.io/v1/machineconfigurations/cluster"
SUBJECT = "MachineConfiguration cluster"
GATE = "NodeDisruptionPolicy"
# NodeDisruptionPolicySpecActionType ("Special" is the operator's own, not settable)
ACTIONS = ("Restart", "Reload", "DaemonReload", "Drain", "None", "Reboot")
WITH_SERVICE = ("Restart", "Reload")
MAX_FILES = 50
# The CRD's two CEL rules on serviceName, and its maxLength
_SERVICE = re.compile(r"^[a-zA-Z0-9:._\\-]+\.(service|socket|device|mount|automount|swap|target|path|timer|"
                      r"snapshot|slice|scope)$")
# Kubernetes minor of OpenShift 4.17: NodeDisruptionPolicy on by default, directory paths match
GA_MINOR = 30
PREVIEW_MINOR = 29


def wanted_actions(action, service=None):
    """The actions list for one action type, as the API takes it; bad input raises CheckpointError."""
    if action not in ACTIONS:
        raise CheckpointError("action %r" % action, "not a node disruption policy action (one of %s)" % ", ".join(ACTIONS))
    if action not in WITH_SERVICE:
        if service:
            raise CheckpointError("service %r" % service, "only Restart and Reload name a service")
        return [{"type": action}]
    if not service or len(service) > 255 or not _SERVICE.match(service):
        raise CheckpointError("service %r" % (service,), "%s needs a systemd unit name such as crio.service "
                              "(NAME.service, .socket, .target, ...)" % action)
    return [{"type": action, action.lower(): {"serviceName": service}}]


def describe(actions):
    """``Restart crio.service``, ``Reboot``, ``Reload crio.service, Drain``."""
    if actions is None:
        return "Reboot (no policy)"
    words = []
    for action in actions:
        kind = action.get("type", "?")
        service = (action.get(kind.lower()) or {}).get("serviceName") if kind in WITH_SERVICE else None
        words.append("%s %s" % (kind, service) if service else kind)
    return ", ".join(words) or "None"


def gate_on(featuregate, minor):
    """Whether FeatureGate ``cluster``'s spec turns NodeDisruptionPolicy on for this Kubernetes minor."""
    if minor is None or minor < PREVIEW_MINOR:
        return False
    spec = (featuregate or {}).get("spec") or {}
    feature_set = spec.get("featureSet") or ""
    custom = spec.get("customNoUpgrade") or {}
    if feature_set == CUSTOM:
        if GATE in (custom.get("disabled") or []):
            return False
        if GATE in (custom.get("enabled") or []):
            return True
    return minor >= GA_MINOR or feature_set in PREVIEW_SETS


def _cluster_policies(mcop):
    status = (mcop or {}).get("status") or {}
    return (status.get("nodeDisruptionPolicyStatus") or {}).get("clusterPolicies")


def closest(policies, path, directories=True):
    """The actions the daemon takes for a change of ``path`` alone under the merged ``policies``
    (None: no policy, so a reboot). ``directories``: match parent directories too (4.17+)."""
    best = None
    for policy in (policies or {}).get("files") or []:
        ppath = policy.get("path") or ""
        parent = ppath.rstrip("/") + "/"
        if ppath == path or (directories and ppath and path.startswith(parent)):
            if best is None or len(ppath) > len(best.get("path") or ""):
                best = policy
    return None if best is None else list(best.get("actions") or [])


def _files(mcop):
    return list(((mcop.get("spec") or {}).get("nodeDisruptionPolicy") or {}).get("files") or [])


def _support(cluster, mcop, minor):
    """(supported, why not). The operator writes the merged status only with the gate on, so a
    status settles it; otherwise FeatureGate cluster's spec does (the status may lag a gate change)."""
    if mcop is None:
        return False, ("%s not found: node disruption policies need OpenShift 4.16 or later "
                       "(on 4.13-4.15 a CRI-O drop-in change drains and reboots each node)" % SUBJECT)
    if _cluster_policies(mcop) is not None:
        return True, ""
    try:
        featuregate = cluster.get(FEATUREGATE, "FeatureGate cluster", missing_ok=True)
    except ApiError as err:
        if err.status != 403:
            raise
        featuregate = None
    if gate_on(featuregate, minor):
        return True, ""
    return False, ("the %s feature gate is off on this cluster (OpenShift 4.16 has it only with "
                   "featureSet TechPreviewNoUpgrade, or CustomNoUpgrade enabling %s; on by default from 4.17), "
                   "so the machine config daemon ignores node disruption policies" % (GATE, GATE))


def _effective(mcop, path, minor):
    policies = _cluster_policies(mcop)
    if policies is None:
        return None, "unknown"
    return closest(policies, path, directories=minor is None or minor >= GA_MINOR), "status"


def _status_entry(mcop, path):
    """The actions of the merged status's entry for exactly ``path`` (None when it has none)."""
    for policy in (_cluster_policies(mcop) or {}).get("files") or []:
        if policy.get("path") == path:
            return list(policy.get("actions") or [])
    return None


def _wait_for_status(cluster, path, wanted, timeout, sleep):
    """Poll until the merged status's entry for ``path`` is ``wanted`` (None: gone); the daemon
    reads the status, not the spec. Returns the last object read and whether it got there."""
    end = time.monotonic() + timeout
    while True:
        mcop = cluster.get(PATH, SUBJECT)
        reached = _status_entry(mcop, path) == wanted
        if reached or time.monotonic() >= end:
            return mcop, reached
        time.sleep(sleep)


def ensure(cluster, path, actions, state="present", fail_unsupported=False, wait=True, wait_timeout=120,
           wait_sleep=2, check_mode=False):
    """Make the file policy for ``path`` present (with ``actions``) or absent in MachineConfiguration
    cluster, leaving every other policy as it is. Returns the module result."""
    if not path.startswith("/") or "\n" in path:
        raise CheckpointError("path %r" % path, "must be an absolute file or directory path on the node")
    mcop = cluster.get(PATH, SUBJECT, missing_ok=True)
    minor = cluster.kubernetes_minor()
    supported, why = _support(cluster, mcop, minor)
    result = {"changed": False, "supported": supported, "path": path,
              "actions": actions if state == "present" else [],
              "kubernetes_version": "1.%s" % minor if minor is not None else None, "warnings": []}

    if mcop is None or (state == "present" and not supported):
        if fail_unsupported and state == "present":
            raise CheckpointError(SUBJECT, why)
        result.update(policies=_files(mcop or {}), effective_actions=None, effective_from="unknown",
                      msg="node disruption policies not available: %s" % why)
        return result
    if state == "present" and minor is not None and minor < GA_MINOR and path.endswith("/"):
        result["warnings"].append("OpenShift 4.16 matches node disruption policies by exact file path only; "
                                  "a directory path covers no file there")

    before = _files(mcop)
    others = [entry for entry in before if entry.get("path") != path]
    mine = [entry for entry in before if entry.get("path") == path]
    after = others + [{"path": path, "actions": actions}] if state == "present" else others
    if state == "present" and len(after) > MAX_FILES:
        raise CheckpointError(SUBJECT, "already holds %d file policies; the API takes at most %d" % (len(before), MAX_FILES))
    unchanged = (state == "present" and mine == [{"path": path, "actions": actions}]) or (state == "absent" and not mine)

    if not unchanged:
        patch = {"metadata": {"resourceVersion": mcop["metadata"].get("resourceVersion")},
                 "spec": {"nodeDisruptionPolicy": {"files": after or None}}}
        try:
            written = cluster.merge_patch(PATH, SUBJECT, patch)
        except ApiError as err:
            if err.status == 409:
                raise CheckpointError(SUBJECT, "changed by someone else while this ran; run again")
            if err.status == 422:
                raise CheckpointError(SUBJECT, "the API refused the policy: %s" % err.message)
            raise
        if not isinstance(written, dict) or not written.get("spec"):
            written = copy.deepcopy(mcop)
            written.setdefault("spec", {}).setdefault("nodeDisruptionPolicy", {})["files"] = after
        if state == "present" and _files(written) != after:
            # pruned: this cluster's MachineConfiguration schema has no spec.nodeDisruptionPolicy
            why = "the API server dropped spec.nodeDisruptionPolicy (its schema lacks the field: the %s gate is off)" % GATE
            if fail_unsupported:
                raise CheckpointError(SUBJECT, why)
            result.update(supported=False, policies=before, effective_actions=None, effective_from="unknown",
                          msg="node disruption policies not available: %s" % why)
            return result
        result.update(changed=True, diff={"before": {"files": before}, "after": {"files": after}})
        mcop = written

    result["policies"] = _files(mcop)
    effective, source = _effective(mcop, path, minor)
    if result["changed"] and not check_mode and wait:
        mcop, reached = _wait_for_status(cluster, path, actions if state == "present" else None, wait_timeout, wait_sleep)
        effective, source = _effective(mcop, path, minor)
        if not reached:
            result["warnings"].append("after %ss the operator's merged status still shows %s for %s: a rollout now "
                                      "would act on the status, not on the new spec" % (wait_timeout, describe(effective), path))
    result.update(effective_actions=effective, effective_from=source)
    what = "file policy for %s" % path
    if state == "present":
        what += " (%s)" % describe(actions)
        verb = "updated in" if mine else "added to"
    else:
        verb = "removed from"
    if not result["changed"]:
        verb = "already in" if state == "present" else "absent from"
    result["msg"] = "%s %s %s%s; the daemon's merged policy for it: %s" % (
        what, verb, SUBJECT, " (check mode: server-side dry run)" if check_mode and result["changed"] else "",
        describe(effective) if source == "status" else "unknown (no merged status yet)")
    return result
