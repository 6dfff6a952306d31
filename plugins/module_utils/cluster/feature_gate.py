# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Feature gates in OpenShift's FeatureGate ``cluster``.

Rules this follows (OpenShift API and Kubernetes facts):

* Individual gates can only be named under ``featureSet: CustomNoUpgrade``. Moving to it is
  irreversible (the API refuses to change or remove a CustomNoUpgrade featureSet) and blocks
  minor-version upgrades, so it takes ``accept_irreversible``.
* TechPreviewNoUpgrade/DevPreviewNoUpgrade may only become CustomNoUpgrade, which would silently
  drop every preview gate: refused with an explanation rather than done.
* An unknown gate name in the kubelet's configuration stops the kubelet from starting, so names
  are checked against what the cluster itself says it knows (FeatureGate status on 4.14+, the
  kubelet's ``kubernetes_feature_enabled`` metric) and a built-in list.
* ContainerCheckpoint is on by default from Kubernetes 1.30: then nothing is written unless forced.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import re

from ansible_collections.forensic.checkpoint.plugins.module_utils.cluster.client import ApiError
from ansible_collections.forensic.checkpoint.plugins.module_utils.errors import CheckpointError

PATH = "/apis/config.openshift.io/v1/featuregates/cluster"
SUBJECT = "FeatureGate cluster"
CUSTOM = "CustomNoUpgrade"
PREVIEW_SETS = ("TechPreviewNoUpgrade", "DevPreviewNoUpgrade")
# Kubernetes minor from which a gate is enabled by default.
DEFAULT_ON = {"ContainerCheckpoint": 30}
# Gates known without asking the cluster: those this collection works with, plus long-standing
# Kubernetes kubelet gates of the 1.25-1.33 era a CustomNoUpgrade set commonly carries.
BUILTIN_GATES = frozenset((
    "ContainerCheckpoint", "CPUManagerPolicyAlphaOptions", "CPUManagerPolicyBetaOptions",
    "DynamicResourceAllocation", "GracefulNodeShutdown", "GracefulNodeShutdownBasedOnPodPriority",
    "InPlacePodVerticalScaling", "KubeletInUserNamespace", "KubeletPodResourcesDynamicResources",
    "KubeletPodResourcesGet", "KubeletTracing", "LocalStorageCapacityIsolationFSQuotaMonitoring",
    "MemoryManager", "MemoryQoS", "NodeSwap", "PodAndContainerStatsFromCRI", "ProcMountType",
    "RotateKubeletServerCertificate", "SidecarContainers", "TopologyManagerPolicyAlphaOptions",
    "TopologyManagerPolicyBetaOptions", "UserNamespacesSupport", "UserNamespacesPodSecurityStandards",
))
_GATE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9]*$")
_METRIC = re.compile(r'^kubernetes_feature_enabled\{[^}]*\bname="([^"]+)"', re.M)


def unknown_gates(cluster, featuregate, gates):
    """(names the cluster does not know, what was checked). The kubelet is only asked when the
    built-in list and the FeatureGate status do not settle it."""
    known = set(BUILTIN_GATES)
    sources = ["built-in list"]
    for entry in (featuregate.get("status") or {}).get("featureGates") or []:
        for kind in ("enabled", "disabled"):
            known.update(item.get("name") for item in entry.get(kind) or [] if item.get("name"))
        if "FeatureGate status" not in sources:
            sources.append("FeatureGate status")
    if any(gate not in known for gate in gates):
        from_kubelet = _kubelet_gates(cluster)
        if from_kubelet:
            known.update(from_kubelet)
            sources.append("kubelet metrics")
    return [gate for gate in gates if gate not in known], sources


def _kubelet_gates(cluster):
    """Gate names a kubelet registers (its kubernetes_feature_enabled metric), best effort."""
    try:
        nodes = cluster.get("/api/v1/nodes", "nodes", query=[("limit", "1")]).get("items") or []
        if not nodes:
            return set()
        name = nodes[0]["metadata"]["name"]
        text = cluster.get("/api/v1/nodes/%s/proxy/metrics" % name, "node %s kubelet metrics" % name)
    except (ApiError, KeyError, AttributeError, TypeError):
        return set()  # no permission for nodes/proxy or nodes/metrics, or an old kubelet
    return set(_METRIC.findall(text)) if isinstance(text, str) else set()


def ensure(cluster, gates, state="enabled", allow_unknown=False, accept_irreversible=False,
           force=False, check_mode=False):
    """Make ``gates`` enabled (or disabled) in FeatureGate cluster. Returns the module result."""
    for gate in gates:
        if not _GATE_NAME.match(gate):
            raise CheckpointError("gate %r" % gate, "not a feature gate name (letters and digits only)")
    featuregate = cluster.get(PATH, SUBJECT, missing_ok=True)
    if featuregate is None:
        raise CheckpointError(SUBJECT, "not found: is this an OpenShift cluster (config.openshift.io/v1)?")
    minor = cluster.kubernetes_minor()
    result = {"changed": False, "kubernetes_version": "1.%s" % minor if minor is not None else None}

    if not allow_unknown:
        unknown, sources = unknown_gates(cluster, featuregate, gates)
        if unknown:
            raise CheckpointError(
                "feature gate %s" % ", ".join(unknown),
                "not known to this cluster (checked: %s); an unknown gate name stops every kubelet "
                "from starting. Check the spelling, or set allow_unknown=true if you are certain"
                % ", ".join(sources))

    spec = featuregate.get("spec") or {}
    feature_set = spec.get("featureSet") or ""
    custom = spec.get("customNoUpgrade") or {}
    enabled = list(custom.get("enabled") or [])
    disabled = list(custom.get("disabled") or [])

    default_on = [g for g in gates if minor is not None and minor >= DEFAULT_ON.get(g, 1000)]
    result["default_on"] = default_on
    wanted = list(gates)
    if state == "enabled" and not force:
        # On by default and not switched off explicitly: nothing to write.
        wanted = [g for g in gates if g not in default_on or g in disabled]
    if not wanted:
        result.update(feature_set=feature_set, enabled=enabled, disabled=disabled, result=featuregate,
                      msg="%s enabled by default on Kubernetes 1.%s: nothing to change (force=true "
                          "writes it anyway)" % (", ".join(gates), minor))
        return result

    if state == "enabled":
        new_enabled = enabled + [g for g in wanted if g not in enabled]
        new_disabled = [g for g in disabled if g not in wanted]
    else:
        new_disabled = disabled + [g for g in wanted if g not in disabled]
        new_enabled = [g for g in enabled if g not in wanted]

    if feature_set == CUSTOM and new_enabled == enabled and new_disabled == disabled:
        result.update(feature_set=feature_set, enabled=enabled, disabled=disabled, result=featuregate,
                      msg="%s already %s" % (", ".join(wanted), state))
        return result
    if feature_set in PREVIEW_SETS:
        raise CheckpointError(SUBJECT, "featureSet is %s; the API only lets it become CustomNoUpgrade, "
                              "which would drop every gate %s turns on. Not changing it: add the gates "
                              "to a CustomNoUpgrade set yourself if that is really wanted"
                              % (feature_set, feature_set))
    if feature_set != CUSTOM and not accept_irreversible:
        raise CheckpointError(SUBJECT, "setting %s needs featureSet CustomNoUpgrade (now %s), which can "
                              "never be undone and blocks minor-version upgrades of this cluster; set "
                              "accept_irreversible=true to do it" % (", ".join(wanted), feature_set or "Default"))

    patch = {"metadata": {"resourceVersion": featuregate["metadata"].get("resourceVersion")},
             "spec": {"featureSet": CUSTOM, "customNoUpgrade": {"enabled": new_enabled, "disabled": new_disabled}}}
    try:
        after = cluster.merge_patch(PATH, SUBJECT, patch)
    except ApiError as err:
        if err.status == 409:
            raise CheckpointError(SUBJECT, "changed by someone else while this ran; run again")
        if err.status == 422:
            raise CheckpointError(SUBJECT, "the API refused the change: %s" % err.message)
        raise
    after = after if isinstance(after, dict) and after.get("spec") else _apply(featuregate, patch)
    result.update(
        changed=True, feature_set=CUSTOM, enabled=new_enabled, disabled=new_disabled, result=after,
        diff={"before": {"spec": spec}, "after": {"spec": after.get("spec")}},
        msg="%s %s in FeatureGate cluster%s%s" % (
            ", ".join(wanted), state, " (featureSet changed from %s to CustomNoUpgrade)" % (feature_set or "Default")
            if feature_set != CUSTOM else "", " (check mode: server-side dry run)" if check_mode else ""))
    return result


def _apply(obj, patch):
    merged = copy.deepcopy(obj)
    merged["spec"] = dict(merged.get("spec") or {}, **patch["spec"])
    return merged
