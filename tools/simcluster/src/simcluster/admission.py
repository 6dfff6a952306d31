# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Defaulting and validation of what clients write: object names, labels, the few workload
rules clients trip over (selectors, immutable pod specs) and OpenShift's FeatureGate rules."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import binascii
import re

from . import errors
from .errors import FieldError, raw
from .selectors import label_selector_object_matches

_SUBDOMAIN = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_SUBDOMAIN_MSG = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
                  "characters, '-' or '.', and must start and end with an alphanumeric character"
                  " (e.g. 'example.com', regex used for validation is '%s')" % _SUBDOMAIN)
_LABEL_MSG = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or"
              " '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or"
              " '123-abc', regex used for validation is '%s')" % _LABEL)
_LABEL_VALUE = r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?"
_LABEL_VALUE_MSG = ("a valid label must be an empty string or consist of alphanumeric characters,"
                    " '-', '_' or '.', and must start and end with an alphanumeric character "
                    "(e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is "
                    "'%s')" % _LABEL_VALUE)
_QUALIFIED = r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_GATE_NAME = r"^([A-Za-z0-9-]+\.)*[A-Za-z0-9-]+\.?$"

# Kinds whose names must be DNS labels rather than subdomains.
_LABEL_NAMED = ("namespaces", "services")
FEATURE_SETS = ("", "CustomNoUpgrade", "DevPreviewNoUpgrade", "TechPreviewNoUpgrade", "OKD")
_NO_UPGRADE = ("CustomNoUpgrade", "TechPreviewNoUpgrade", "DevPreviewNoUpgrade")
# OpenShift's DenyDeleteClusterConfiguration admission refuses deleting these singletons.
UNDELETABLE = {("config.openshift.io", "featuregates"): "cluster"}


def _meta_errors(rt, obj):
    errs = []
    meta = obj.get("metadata") or {}
    name = meta.get("name", "")
    if name:
        if rt.plural in _LABEL_NAMED:
            if len(name) > 63 or not re.fullmatch(_LABEL, name):
                errs.append(FieldError("Invalid", "metadata.name", name, _LABEL_MSG))
        elif len(name) > 253 or not re.fullmatch(_SUBDOMAIN, name):
            errs.append(FieldError("Invalid", "metadata.name", name, _SUBDOMAIN_MSG))
    for field in ("labels", "annotations"):
        value = meta.get(field)
        if value is not None and not isinstance(value, dict):
            errs.append(FieldError("Invalid", "metadata." + field, value, "must be a map"))
            continue
        for key, val in (value or {}).items():
            prefix, _slash, short = key.rpartition("/")
            if not short or len(short) > 63 or not re.fullmatch(_QUALIFIED, short) or \
                    (prefix and not re.fullmatch(_SUBDOMAIN, prefix)):
                errs.append(FieldError("Invalid", "metadata.%s" % field, key,
                                       "name part must consist of alphanumeric characters, "
                                       "'-', '_' or '.', and must start and end with an "
                                       "alphanumeric character"))
            if field == "labels" and (not isinstance(val, str) or len(val) > 63 or
                                      not re.fullmatch(_LABEL_VALUE, val)):
                errs.append(FieldError("Invalid", "metadata.labels", val, _LABEL_VALUE_MSG))
            if field == "annotations" and not isinstance(val, str):
                errs.append(FieldError("Invalid", "metadata.annotations", val,
                                       "must be a string"))
    return errs


def _containers_errors(spec, path):
    errs = []
    containers = spec.get("containers")
    if not containers:
        return [FieldError("Required", path + ".containers")]
    seen = set()
    for index, ctr in enumerate(containers):
        here = "%s.containers[%d]" % (path, index)
        name = (ctr or {}).get("name")
        if not name:
            errs.append(FieldError("Required", here + ".name"))
        elif name in seen:
            errs.append(FieldError("Duplicate", here + ".name", name))
        elif not re.fullmatch(_LABEL, name):
            errs.append(FieldError("Invalid", here + ".name", name, _LABEL_MSG))
        seen.add(name)
        if not (ctr or {}).get("image"):
            errs.append(FieldError("Required", here + ".image"))
    return errs


def _workload_errors(obj, old):
    spec = obj.get("spec") or {}
    errs = []
    selector = spec.get("selector")
    template = spec.get("template") or {}
    labels = (template.get("metadata") or {}).get("labels") or {}
    if not selector or not (selector.get("matchLabels") or selector.get("matchExpressions")):
        errs.append(FieldError("Required", "spec.selector"))
    elif not label_selector_object_matches(selector, labels):
        errs.append(FieldError("Invalid", "spec.template.metadata.labels", raw(
            "map[string]string{%s}" % ", ".join('"%s":"%s"' % kv for kv in sorted(
                labels.items()))), "`selector` does not match template `labels`"))
    errs.extend(_containers_errors(template.get("spec") or {}, "spec.template.spec"))
    if old is not None and (old.get("spec") or {}).get("selector") != selector:
        errs.append(FieldError("Invalid", "spec.selector", raw("v1.LabelSelector{...}"),
                               "field is immutable"))
    replicas = spec.get("replicas")
    if replicas is not None and (not isinstance(replicas, int) or replicas < 0):
        errs.append(FieldError("Invalid", "spec.replicas", replicas,
                               "must be greater than or equal to 0"))
    return errs


_POD_MUTABLE = ("spec.containers[*].image, spec.initContainers[*].image, "
                "spec.activeDeadlineSeconds, spec.tolerations (only additions to existing "
                "tolerations), spec.terminationGracePeriodSeconds (allow it to be set to 1 if it "
                "was previously negative)")


def _pod_update_errors(obj, old):
    def masked(spec):
        spec = dict(spec or {})
        for key in ("activeDeadlineSeconds", "tolerations", "terminationGracePeriodSeconds"):
            spec.pop(key, None)
        for key in ("containers", "initContainers"):
            spec[key] = [dict(c, image=None) for c in spec.get(key) or []]
        return spec
    if masked(obj.get("spec")) != masked(old.get("spec")):
        return [FieldError("Forbidden", "spec", detail="pod updates may not change fields "
                           "other than " + _POD_MUTABLE)]
    return []


def _secret_default(obj):
    string_data = obj.pop("stringData", None)
    if string_data:
        data = obj.setdefault("data", {}) or {}
        for key, value in string_data.items():
            data[key] = base64.b64encode(str(value).encode()).decode()
        obj["data"] = data
    obj.setdefault("type", "Opaque")


def _secret_errors(obj):
    errs = []
    for key, value in (obj.get("data") or {}).items():
        try:
            base64.b64decode(value or "", validate=True)
        except (binascii.Error, TypeError, ValueError):
            errs.append(FieldError("Invalid", "data[%s]" % key, raw("\"<secret contents "
                                   "redacted>\""), "illegal base64 data"))
    return errs


def featuregate_errors(obj, old, openshift_minor=13):
    """The FeatureGate API rules: known featureSet, gate-name pattern, and the NoUpgrade
    featureSets (CustomNoUpgrade, TechPreviewNoUpgrade, DevPreviewNoUpgrade) cannot be undone.
    Up to 4.15 the validation rule lets TechPreviewNoUpgrade move to CustomNoUpgrade; from
    4.16 openshift/api's FeatureGate CEL rule forbids any change away from it."""
    errs = []
    spec = obj.get("spec")
    if spec is None:
        return [FieldError("Required", "spec")]
    feature_set = spec.get("featureSet", "")
    if feature_set not in FEATURE_SETS:
        errs.append(FieldError("NotSupported", "spec.featureSet", feature_set,
                               ", ".join('"%s"' % s for s in FEATURE_SETS)))
    custom = spec.get("customNoUpgrade") or {}
    for field in ("enabled", "disabled"):
        for index, name in enumerate(custom.get(field) or []):
            if not isinstance(name, str) or not re.match(_GATE_NAME, name):
                path = "spec.customNoUpgrade.%s[%d]" % (field, index)
                errs.append(FieldError("Invalid", path, name,
                                       "%s in body should match '%s'" % (path, _GATE_NAME)))
    if old is not None:
        old_spec = old.get("spec") or {}
        old_set = old_spec.get("featureSet", "")
        if "featureSet" in old_spec and "featureSet" not in spec:
            errs.append(FieldError("Invalid", "spec", raw('"object"'),
                                   ".spec.featureSet cannot be removed"))
        elif old_set == "CustomNoUpgrade" and feature_set != "CustomNoUpgrade":
            errs.append(FieldError("Invalid", "spec.featureSet", raw('"string"'),
                                   "CustomNoUpgrade may not be changed"))
        elif old_set in ("TechPreviewNoUpgrade", "DevPreviewNoUpgrade") and \
                feature_set != old_set and (feature_set != "CustomNoUpgrade" or
                                            openshift_minor >= 16):
            errs.append(FieldError("Invalid", "spec.featureSet", raw('"string"'),
                                   "%s may not be changed" % old_set))
    return errs


def _mcp_errors(obj):
    errs = []
    spec = obj.get("spec") or {}
    paused = spec.get("paused")
    if paused is not None and not isinstance(paused, bool):
        errs.append(FieldError("Invalid", "spec.paused", paused,
                               'spec.paused in body must be of type boolean: "%s"'
                               % type(paused).__name__))
    return errs


# openshift/api operator/v1 MachineConfiguration CRD (release-4.17): the action enum, CEL rules
# and list limits of spec.nodeDisruptionPolicy
_NDP_ACTIONS = ("Reboot", "Drain", "Reload", "Restart", "DaemonReload", "None")
_UNIT_SUFFIX = r"\.(service|socket|device|mount|automount|swap|target|path|timer|snapshot|slice|scope)$"
_UNIT_NAME = r"^[a-zA-Z0-9:._\\-]+\.."


def _ndp_actions_errors(actions, path):
    errs = []
    if not isinstance(actions, list):
        return [FieldError("Required", path)]
    if len(actions) > 10:
        errs.append(FieldError("TooMany", path, len(actions), "must have at most 10 items"))
    for index, action in enumerate(actions):
        where = "%s[%d]" % (path, index)
        kind = (action or {}).get("type")
        if kind not in _NDP_ACTIONS:
            errs.append(FieldError("NotSupported", where + ".type", kind,
                                   ", ".join('"%s"' % a for a in _NDP_ACTIONS)))
        for needs in ("Reload", "Restart"):
            field = needs.lower()
            if (kind == needs) != (field in (action or {})):
                errs.append(FieldError("Invalid", where, raw('"object"'), "%s is required when "
                                       "type is %s, and forbidden otherwise" % (field, needs)))
            name = ((action or {}).get(field) or {}).get("serviceName")
            if field in (action or {}) and (not isinstance(name, str) or len(name) > 255 or not
                                            re.search(_UNIT_SUFFIX, name) or
                                            not re.match(_UNIT_NAME, name)):
                errs.append(FieldError("Invalid", "%s.%s.serviceName" % (where, field), raw(
                    '"string"'), "Invalid ${SERVICETYPE} in service name. Expected format is "
                    "${NAME}${SERVICETYPE}"))
    for standalone in ("Reboot", "None"):
        if len(actions) > 1 and any((a or {}).get("type") == standalone for a in actions):
            errs.append(FieldError("Invalid", path, raw('"array"'), "%s action can only be "
                                   "specified standalone, as it will override any other actions"
                                   % standalone))
    return errs


def machineconfiguration_errors(obj):
    errs = []
    policy = (obj.get("spec") or {}).get("nodeDisruptionPolicy") or {}
    files = policy.get("files") or []
    if len(files) > 50:
        errs.append(FieldError("TooMany", "spec.nodeDisruptionPolicy.files", len(files),
                               "must have at most 50 items"))
    seen = set()
    for index, entry in enumerate(files):
        where = "spec.nodeDisruptionPolicy.files[%d]" % index
        path = (entry or {}).get("path")
        if not path:
            errs.append(FieldError("Required", where + ".path"))
        elif path in seen:  # x-kubernetes-list-type: map, key path
            errs.append(FieldError("Duplicate", where, {"path": path}))
        seen.add(path)
        errs.extend(_ndp_actions_errors((entry or {}).get("actions"), where + ".actions"))
    return errs


def default(rt, obj):
    """Mutating admission/defaulting done before validation."""
    if rt.plural == "secrets":
        _secret_default(obj)
    if rt.plural == "namespaces":
        obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
        obj.setdefault("status", {}).setdefault("phase", "Active")
    if rt.plural == "pods":
        spec = obj.setdefault("spec", {})
        spec.setdefault("restartPolicy", "Always")
        spec.setdefault("terminationGracePeriodSeconds", 30)
        spec.setdefault("dnsPolicy", "ClusterFirst")
        spec.setdefault("schedulerName", "default-scheduler")
        spec.setdefault("serviceAccountName", spec.get("serviceAccount") or "default")
        spec.setdefault("serviceAccount", spec["serviceAccountName"])
        for ctr in spec.get("containers") or []:
            ctr.setdefault("terminationMessagePath", "/dev/termination-log")
            ctr.setdefault("terminationMessagePolicy", "File")
            ctr.setdefault("imagePullPolicy", "Always" if str(ctr.get("image", "")).endswith(
                ":latest") or ":" not in str(ctr.get("image", "")) else "IfNotPresent")
    if rt.plural in ("deployments", "daemonsets", "replicasets"):
        spec = obj.setdefault("spec", {})
        if rt.plural != "daemonsets":
            spec.setdefault("replicas", 1)
        spec.setdefault("revisionHistoryLimit", 10)
        if rt.plural == "deployments":
            spec.setdefault("strategy", {"type": "RollingUpdate", "rollingUpdate": {
                "maxUnavailable": "25%", "maxSurge": "25%"}})
            spec.setdefault("progressDeadlineSeconds", 600)
        if rt.plural == "daemonsets":
            spec.setdefault("updateStrategy", {"type": "RollingUpdate", "rollingUpdate": {
                "maxUnavailable": 1, "maxSurge": 0}})
        template_spec = spec.setdefault("template", {}).setdefault("spec", {})
        template_spec.setdefault("restartPolicy", "Always")
        template_spec.setdefault("terminationGracePeriodSeconds", 30)
    if rt.plural == "machineconfigpools":
        spec = obj.setdefault("spec", {})
        spec.setdefault("paused", False)
        spec.setdefault("configuration", {})


def validate(rt, obj, old=None, openshift_minor=13):
    """Raise 422 Invalid with every problem found, as the API server does."""
    errs = _meta_errors(rt, obj)
    if rt.plural == "pods":
        errs.extend(_containers_errors(obj.get("spec") or {}, "spec"))
        if old is not None and not errs:
            errs.extend(_pod_update_errors(obj, old))
    elif rt.plural in ("deployments", "daemonsets", "replicasets"):
        errs.extend(_workload_errors(obj, old))
    elif rt.plural == "secrets":
        errs.extend(_secret_errors(obj))
    elif rt.plural == "featuregates":
        errs.extend(featuregate_errors(obj, old, openshift_minor))
    elif rt.plural == "machineconfigpools":
        errs.extend(_mcp_errors(obj))
    elif rt.plural == "machineconfigurations":
        errs.extend(machineconfiguration_errors(obj))
    if errs:
        raise errors.invalid(rt, (obj.get("metadata") or {}).get("name", ""), errs)


def check_delete(rt, name):
    if UNDELETABLE.get(rt.key) == name:
        raise errors.forbidden(rt, name, "deleting required %s resource, named %s, is not "
                               "allowed" % (rt.group_resource, name))
