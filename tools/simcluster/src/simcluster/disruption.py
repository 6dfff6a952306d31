# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the machine config daemon does after writing a new config: reboot, or restart/reload
a service, or nothing; and whether it drains first. The facts come from
openshift/machine-config-operator pkg/daemon/update.go (``calculatePostConfigChangeAction``,
``calculatePostConfigChangeActionFromMCDiffs``, ``calculatePostConfigChangeNodeDisruption
ActionFromMCDiffs``), pkg/daemon/drain.go (``isDrainRequired*``), pkg/controller/common
(``FindClosestFilePolicyPathMatch``) and docs/NodeDisruptionPolicy.md:

* OS image, kernel arguments, kernel type, extensions or FIPS changed: always a reboot.
* Without node disruption policies: any unit change reboots; a file change reboots unless
  the file is on a short list (kubelet CA bundle and pull secret: nothing; registries.conf,
  policy.json, the no-reboot GPG key, registries.d: reload CRI-O; the user CA bundle: restart
  CRI-O). A ``/etc/crio/crio.conf.d`` drop-in or ``kubelet.conf`` is not on it: reboot.
* With node disruption policies (OpenShift 4.16 TechPreview, 4.17+): each changed file takes
  the actions of the longest policy path equal to it or a parent directory of it (4.17+,
  ``FindClosestFilePolicyPathMatch``; release-4.16's update.go compares paths for equality only,
  with two hard-coded directories: registries.d reloads CRI-O, nmstate/openshift does nothing),
  each changed unit the actions of its unit policy; anything without a policy reboots; one
  Reboot wins. The cluster defaults grew by version (pkg/apihelpers/apihelpers.go
  ``defaultClusterPolicies``: 4 files in release-4.16, 7 in 4.17, /etc/crio/policies from 4.18).
* Drain only for Reboot/Drain (and registries.conf changes, "Special"); a service restart or
  reload keeps the node's containers running (conmon holds them across a CRI-O restart).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import os

REBOOT = {"type": "Reboot"}
NONE = {"type": "None"}


def _svc(kind, name):
    return {"type": kind, kind.lower(): {"serviceName": name}}


# pkg/apihelpers/apihelpers.go defaultClusterPolicies (release-4.17), in its order
CLUSTER_FILE_POLICIES = [
    {"path": "/var/lib/kubelet/config.json", "actions": [NONE]},
    {"path": "/etc/machine-config-daemon/no-reboot/containers-gpg.pub",
     "actions": [_svc("Reload", "crio.service")]},
    {"path": "/etc/containers/policy.json", "actions": [_svc("Reload", "crio.service")]},
    {"path": "/etc/containers/registries.conf", "actions": [{"type": "Special"}]},
    {"path": "/etc/containers/registries.d", "actions": [_svc("Reload", "crio.service")]},
    {"path": "/etc/nmstate/openshift", "actions": [NONE]},
    {"path": "/etc/pki/ca-trust/source/anchors/openshift-config-user-ca-bundle.crt",
     "actions": [_svc("Restart", "coreos-update-ca-trust.service"),
                 _svc("Restart", "crio.service")]},
]
# release-4.18 adds the CRI-O policies directory after registries.d
_CRIO_POLICIES = {"path": "/etc/crio/policies", "actions": [_svc("Reload", "crio.service")]}
_DIRECTORY_MATCH_MINOR = 17


def cluster_file_policies(openshift_minor):
    """The defaults of this OpenShift minor (release-4.16 had only the first four)."""
    if openshift_minor < 17:
        return copy.deepcopy(CLUSTER_FILE_POLICIES[:4])
    files = copy.deepcopy(CLUSTER_FILE_POLICIES)
    if openshift_minor >= 18:
        files.insert(5, copy.deepcopy(_CRIO_POLICIES))
    return files


CLUSTER_SSH_POLICY = {"actions": [NONE]}

# update.go calculatePostConfigChangeActionFromMCDiffs (no node disruption policies)
_LEGACY_NONE = ("/etc/kubernetes/kubelet-ca.crt", "/var/lib/kubelet/config.json")
_LEGACY_NONE_DIRS = ("/etc/nmstate/openshift",)
_LEGACY_RELOAD_CRIO = ("/etc/containers/registries.conf",
                       "/etc/machine-config-daemon/no-reboot/containers-gpg.pub",
                       "/etc/containers/policy.json")
_LEGACY_RELOAD_CRIO_DIRS = ("/etc/containers/registries.d",)
_LEGACY_RESTART_CRIO = ("/etc/pki/ca-trust/source/anchors/openshift-config-user-ca-bundle.crt",)


def merged_policies(spec_policy, openshift_minor=17):
    """status.nodeDisruptionPolicyStatus.clusterPolicies: the defaults with the user's
    spec.nodeDisruptionPolicy over them (MergeClusterPolicies: a user policy for a default's
    path replaces it in place, others follow in spec order)."""
    spec_policy = spec_policy or {}
    files = {p["path"]: p for p in cluster_file_policies(openshift_minor)}
    for entry in spec_policy.get("files") or []:
        files[entry.get("path", "")] = copy.deepcopy(entry)
    units = {}
    for entry in spec_policy.get("units") or []:
        units[entry.get("name", "")] = copy.deepcopy(entry)
    out = {"files": list(files.values()),
           "sshkey": copy.deepcopy(spec_policy.get("sshkey") or CLUSTER_SSH_POLICY)}
    if units:
        out["units"] = list(units.values())
    return out


def _entries(spec, key):
    config = (spec or {}).get("config") or {}
    if key == "files":
        items = (config.get("storage") or {}).get("files") or []
        return {e.get("path"): e for e in items}
    return {u.get("name"): u for u in (config.get("systemd") or {}).get("units") or []}


def _changed(old, new):
    return sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))


def diff(old_spec, new_spec):
    """(changed file paths, changed unit names, must reboot regardless)."""
    old_spec, new_spec = old_spec or {}, new_spec or {}
    forced = any(old_spec.get(k) != new_spec.get(k) for k in (
        "osImageURL", "kernelArguments", "kernelType", "extensions", "fips"))
    return (_changed(_entries(old_spec, "files"), _entries(new_spec, "files")),
            _changed(_entries(old_spec, "units"), _entries(new_spec, "units")), forced)


def _under(parent, path):
    return path == parent or path.startswith(parent.rstrip("/") + "/")


def _legacy_actions(files, units):
    if units:
        return [REBOOT]
    actions = [NONE]
    for path in files:
        parent = os.path.dirname(path)
        if path in _LEGACY_NONE or parent in _LEGACY_NONE_DIRS:
            continue
        if path in _LEGACY_RESTART_CRIO:
            actions = [_svc("Restart", "crio.service")]
        elif path in _LEGACY_RELOAD_CRIO or parent in _LEGACY_RELOAD_CRIO_DIRS:
            if actions[0]["type"] != "Restart":
                actions = [_svc("Reload", "crio.service")]
        else:
            return [REBOOT]
    return actions


def _policy_for(path, policies, directories):
    best = None
    for policy in policies.get("files") or []:
        if (policy.get("path") == path or directories and _under(policy.get("path", "\0"), path)) and (
                best is None or len(policy["path"]) > len(best["path"])):
            best = policy
    if best is None and not directories:
        # release-4.16 update.go: "Hack for ... registries.d", "... nmstate" (exact match only)
        parent = os.path.dirname(path)
        if parent in _LEGACY_RELOAD_CRIO_DIRS:
            return {"actions": [_svc("Reload", "crio.service")]}
        if parent in _LEGACY_NONE_DIRS:
            return {"actions": []}
    return best


def _policy_actions(files, units, policies, directories=True):
    actions = []
    for path in files:
        best = _policy_for(path, policies, directories)
        if best is None:
            return [REBOOT]
        actions.extend(best.get("actions") or [])
    for name in units:
        policy = next((u for u in policies.get("units") or [] if u.get("name") == name), None)
        if policy is None:
            return [REBOOT]
        actions.extend(policy.get("actions") or [])
    if any(a.get("type") == "Reboot" for a in actions):
        return [REBOOT]
    others = [a for a in actions if a.get("type") != "None"]
    return others or [NONE]


def actions(old_spec, new_spec, policies=None, openshift_minor=17):
    """The post-config-change actions for moving a node from ``old_spec`` to ``new_spec``;
    ``policies`` is the merged node disruption policy, None where the feature is off."""
    files, units, forced = diff(old_spec, new_spec)
    if forced:
        return [REBOOT]
    if policies is None:
        return _legacy_actions(files, units)
    if not files and not units:
        return [NONE]
    return _policy_actions(files, units, policies, openshift_minor >= _DIRECTORY_MATCH_MINOR)


def drain_required(action_list):
    return any(a.get("type") in ("Reboot", "Drain", "Special") for a in action_list)


def restarted_services(action_list):
    """Services the daemon restarts (a Reload keeps CRI-O's CRIU setting: it is not one of the
    options CRI-O reloads on SIGHUP)."""
    return {a["restart"]["serviceName"] for a in action_list
            if a.get("type") == "Restart" and a.get("restart")}


def describe(action_list):
    """The machine config daemon's event text for a rebootless update."""
    services = restarted_services(action_list)
    if services:
        return "Config changes do not require reboot. Service %s was restarted." % ", ".join(
            sorted(services))
    reloads = [a["reload"]["serviceName"] for a in action_list
               if a.get("type") == "Reload" and a.get("reload")]
    if reloads:
        return "Config changes do not require reboot. Service %s was reloaded." % ", ".join(
            reloads)
    return "Config changes do not require reboot."
