# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The four patch types: JSON merge (RFC 7386), JSON patch (RFC 6902), strategic merge
(built-in types only, with the patch merge keys of the fields that have them) and apply."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

from .errors import ApiError, bad_request

MERGE = "application/merge-patch+json"
JSON = "application/json-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
APPLY = "application/apply-patch+yaml"
ACCEPTED = (JSON, MERGE, APPLY)


# --- RFC 7386 -------------------------------------------------------------------------------

def merge_patch(target, patch):
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


# --- RFC 6902 -------------------------------------------------------------------------------

def _unprocessable(message):
    return ApiError(422, "Invalid", message)


def _pointer(path):
    if path == "":
        return []
    if not path.startswith("/"):
        raise bad_request("invalid JSON pointer: %r" % path)
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _walk(doc, parts, path):
    cur = doc
    for part in parts:
        if isinstance(cur, dict):
            if part not in cur:
                raise _unprocessable('doc is missing path: "%s": missing value' % path)
            cur = cur[part]
        elif isinstance(cur, list):
            try:
                cur = cur[int(part)]
            except (ValueError, IndexError):
                raise _unprocessable('doc is missing path: "%s": missing value' % path)
        else:
            raise _unprocessable('doc is missing path: "%s": missing value' % path)
    return cur


def _add(doc, parts, value, path, replace=False):
    if not parts:
        return copy.deepcopy(value)
    parent = _walk(doc, parts[:-1], path)
    last = parts[-1]
    if isinstance(parent, dict):
        if replace and last not in parent:
            raise _unprocessable('replace operation does not apply: doc is missing key: %s: '
                                 'missing value' % path)
        parent[last] = copy.deepcopy(value)
    elif isinstance(parent, list):
        if last == "-" and not replace:
            parent.append(copy.deepcopy(value))
        else:
            try:
                index = int(last)
            except ValueError:
                raise _unprocessable("add operation does not apply: invalid index: %s" % path)
            if replace:
                if not 0 <= index < len(parent):
                    raise _unprocessable("replace operation does not apply: doc is missing key:"
                                         " %s: missing value" % path)
                parent[index] = copy.deepcopy(value)
            else:
                if not 0 <= index <= len(parent):
                    raise _unprocessable("add operation does not apply: index out of bounds: %s"
                                         % path)
                parent.insert(index, copy.deepcopy(value))
    else:
        raise _unprocessable('doc is missing path: "%s": missing value' % path)
    return doc


def _remove(doc, parts, path):
    if not parts:
        raise _unprocessable("remove operation does not apply: cannot remove the root")
    parent = _walk(doc, parts[:-1], path)
    last = parts[-1]
    if isinstance(parent, dict) and last in parent:
        return parent.pop(last)
    if isinstance(parent, list):
        try:
            return parent.pop(int(last))
        except (ValueError, IndexError):
            pass
    raise _unprocessable("remove operation does not apply: doc is missing path: \"%s\": "
                         "missing value" % path)


def json_patch(doc, ops):
    if not isinstance(ops, list):
        raise bad_request("json: cannot unmarshal object into Go value of type jsonpatch.Patch")
    doc = copy.deepcopy(doc)
    for op in ops:
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise bad_request("Unable to process JSON patch: missing op or path")
        kind, path = op["op"], op["path"]
        parts = _pointer(path)
        if kind == "add":
            doc = _add(doc, parts, op.get("value"), path)
        elif kind == "remove":
            _remove(doc, parts, path)
        elif kind == "replace":
            doc = _add(doc, parts, op.get("value"), path, replace=True)
        elif kind == "move":
            value = _remove(doc, _pointer(op.get("from", "")), op.get("from", ""))
            doc = _add(doc, parts, value, path)
        elif kind == "copy":
            value = _walk(doc, _pointer(op.get("from", "")), op.get("from", ""))
            doc = _add(doc, parts, value, path)
        elif kind == "test":
            try:
                actual = _walk(doc, parts, path)
            except ApiError:
                actual = object()
            if actual != op.get("value"):
                raise _unprocessable("testing value %s failed: test failed" % path)
        else:
            raise bad_request("Unexpected kind: %s" % kind)
    return doc


# --- strategic merge ------------------------------------------------------------------------

# (field -> (child type, merge key or None for "merge primitives", strategy)). Fields absent
# here merge as maps or are replaced as lists, which is also the built-in behaviour.
_L = "merge"
SCHEMA = {
    "ObjectMeta": {"ownerReferences": (None, "uid", _L), "finalizers": (None, None, _L)},
    "PodSpec": {
        "containers": ("Container", "name", _L),
        "initContainers": ("Container", "name", _L),
        "ephemeralContainers": ("Container", "name", _L),
        "volumes": ("Volume", "name", _L),
        "imagePullSecrets": (None, "name", _L),
        "hostAliases": (None, "ip", _L),
        "topologySpreadConstraints": (None, "topologyKey", _L),
    },
    "Container": {
        "env": (None, "name", _L),
        "ports": (None, "containerPort", _L),
        "volumeMounts": (None, "mountPath", _L),
        "volumeDevices": (None, "devicePath", _L),
    },
    "PodTemplateSpec": {"metadata": ("ObjectMeta",), "spec": ("PodSpec",)},
    "Pod": {"metadata": ("ObjectMeta",), "spec": ("PodSpec",), "status": ("PodStatus",)},
    "PodStatus": {"conditions": (None, "type", _L)},
    "WorkloadSpec": {"template": ("PodTemplateSpec",)},
    "WorkloadStatus": {"conditions": (None, "type", _L)},
    "Workload": {"metadata": ("ObjectMeta",), "spec": ("WorkloadSpec",),
                 "status": ("WorkloadStatus",)},
    "Node": {"metadata": ("ObjectMeta",), "spec": ("NodeSpec",), "status": ("NodeStatus",)},
    "NodeSpec": {"podCIDRs": (None, None, _L)},
    "NodeStatus": {"conditions": (None, "type", _L), "addresses": (None, "type", _L)},
    "Service": {"metadata": ("ObjectMeta",), "spec": ("ServiceSpec",)},
    "ServiceSpec": {"ports": (None, "port", _L)},
    "ServiceAccount": {"metadata": ("ObjectMeta",), "secrets": (None, "name", _L)},
    "Object": {"metadata": ("ObjectMeta",)},
}
ROOT_TYPES = {"Pod": "Pod", "Deployment": "Workload", "ReplicaSet": "Workload",
              "DaemonSet": "Workload", "Node": "Node", "Service": "Service",
              "ServiceAccount": "ServiceAccount"}


def _field(typ, key):
    info = SCHEMA.get(typ, {}).get(key)
    if info is None:
        return None, None, None
    child = info[0]
    key_name = info[1] if len(info) > 1 else None
    strategy = info[2] if len(info) > 2 else None
    return child, key_name, strategy


def _strip(value):
    """Drop ``$`` directives from values that are inserted, not merged."""
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if not k.startswith("$")}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return copy.deepcopy(value)


_DELETE = object()


def _merge_list(orig, patch, child, merge_key):
    if merge_key is None:
        # a primitive list with merge strategy (finalizers): union, keeping order
        result = list(orig)
        for item in patch:
            if item not in result:
                result.append(item)
        return result
    result = [copy.deepcopy(i) for i in orig]
    for item in patch:
        if not isinstance(item, dict):
            raise bad_request("unable to find api field in struct for the merge key %s"
                              % merge_key)
        directive = item.get("$patch")
        if directive == "replace":
            return [_strip(i) for i in patch if i.get("$patch") != "replace"]
        if merge_key not in item:
            raise bad_request('map: %s does not contain declared merge key: %s'
                              % (_strip(item), merge_key))
        index = next((n for n, cur in enumerate(result)
                      if isinstance(cur, dict) and cur.get(merge_key) == item[merge_key]), None)
        if directive == "delete":
            if index is not None:
                result.pop(index)
            continue
        if index is None:
            result.append(_strip(item))
        else:
            result[index] = _merge_map(result[index], item, child)
    return result


def _order(items, order, merge_key):
    if merge_key is None:
        ranked = {v: n for n, v in enumerate(order)}
        return sorted(items, key=lambda v: ranked.get(v, len(ranked)))
    ranked = {o.get(merge_key): n for n, o in enumerate(order) if isinstance(o, dict)}
    return sorted(items, key=lambda v: ranked.get(v.get(merge_key), len(ranked)))


def _merge_map(orig, patch, typ):
    directive = patch.get("$patch")
    if directive == "replace":
        return _strip(patch)
    if directive == "delete":
        return _DELETE
    result = copy.deepcopy(orig) if isinstance(orig, dict) else {}
    orders = {}
    for key, value in patch.items():
        if key.startswith("$setElementOrder/"):
            orders[key.split("/", 1)[1]] = value
            continue
        if key.startswith("$deleteFromPrimitiveList/"):
            name = key.split("/", 1)[1]
            result[name] = [v for v in result.get(name) or [] if v not in value]
            continue
        if key.startswith("$"):
            continue
        if value is None:
            result.pop(key, None)
            continue
        child, merge_key, strategy = _field(typ, key)
        current = result.get(key)
        if isinstance(value, dict):
            merged = _merge_map(current if isinstance(current, dict) else {}, value, child)
            if merged is _DELETE:
                result.pop(key, None)
            else:
                result[key] = merged
        elif isinstance(value, list) and strategy == _L:
            result[key] = _merge_list(current if isinstance(current, list) else [], value,
                                      child, merge_key)
        else:
            result[key] = _strip(value)
    for key, order in orders.items():
        if isinstance(result.get(key), list):
            result[key] = _order(result[key], order, _field(typ, key)[1])
    retain = patch.get("$retainKeys")
    if isinstance(retain, list):
        result = {k: v for k, v in result.items() if k in retain}
    return result


def strategic_merge_patch(target, patch, kind):
    if not isinstance(patch, dict):
        raise bad_request("json: cannot unmarshal array into Go value of type map[string]"
                          "interface {}")
    merged = _merge_map(target, patch, ROOT_TYPES.get(kind, "Object"))
    return {} if merged is _DELETE else merged


def apply_patch(existing, applied, kind, builtin):
    """Server-side apply without field ownership: the applied configuration is merged onto
    the live object (lists with merge keys merge on built-in types, other lists are replaced).
    Fields dropped from a later applied configuration are therefore not removed."""
    if existing is None:
        return _strip(applied)
    if builtin:
        return strategic_merge_patch(existing, applied, kind)
    return merge_patch(existing, applied)
