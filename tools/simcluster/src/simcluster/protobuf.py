# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Decoding of the Kubernetes protobuf request bodies kubectl's typed clients send.

``kubectl auth can-i``, ``create token``, ``create namespace|serviceaccount|configmap|secret|
clusterrolebinding|...`` and ``drain`` POST ``application/vnd.kubernetes.protobuf`` and do not
fall back to JSON on a 415, so the simulator reads those bodies: the ``k8s\\0`` envelope
(runtime.Unknown), then the object by the field numbers of k8s.io/api's generated.proto, for
the kinds below. Answers are always JSON (kubectl accepts that).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64

from . import errors

MAGIC = b"k8s\x00"
S, I, B, BYTES = "string", "int", "bool", "bytes"

SCHEMAS = {
    "Unknown": {1: ("typeMeta", "TypeMeta"), 2: ("raw", BYTES), 3: ("contentEncoding", S),
                4: ("contentType", S)},
    "TypeMeta": {1: ("apiVersion", S), 2: ("kind", S)},
    "ObjectMeta": {1: ("name", S), 2: ("generateName", S), 3: ("namespace", S), 5: ("uid", S),
                   6: ("resourceVersion", S), 7: ("generation", I),
                   10: ("deletionGracePeriodSeconds", I), 11: ("labels", ("map", S)),
                   12: ("annotations", ("map", S)), 13: ("ownerReferences", ["OwnerReference"]),
                   14: ("finalizers", [S])},
    "OwnerReference": {1: ("kind", S), 3: ("name", S), 4: ("uid", S), 5: ("apiVersion", S),
                       6: ("controller", B), 7: ("blockOwnerDeletion", B)},
    "LocalObjectReference": {1: ("name", S)},
    "ObjectReference": {1: ("kind", S), 2: ("namespace", S), 3: ("name", S), 4: ("uid", S),
                        5: ("apiVersion", S), 6: ("resourceVersion", S), 7: ("fieldPath", S)},
    "Namespace": {1: ("metadata", "ObjectMeta"), 2: ("spec", "NamespaceSpec")},
    "NamespaceSpec": {1: ("finalizers", [S])},
    "ServiceAccount": {1: ("metadata", "ObjectMeta"), 2: ("secrets", ["ObjectReference"]),
                       3: ("imagePullSecrets", ["LocalObjectReference"]),
                       4: ("automountServiceAccountToken", B)},
    "ConfigMap": {1: ("metadata", "ObjectMeta"), 2: ("data", ("map", S)),
                  3: ("binaryData", ("map", BYTES)), 4: ("immutable", B)},
    "Secret": {1: ("metadata", "ObjectMeta"), 2: ("data", ("map", BYTES)), 3: ("type", S),
               4: ("stringData", ("map", S)), 5: ("immutable", B)},
    "TokenRequest": {1: ("metadata", "ObjectMeta"), 2: ("spec", "TokenRequestSpec")},
    "TokenRequestSpec": {1: ("audiences", [S]), 3: ("boundObjectRef", "BoundObjectReference"),
                         4: ("expirationSeconds", I)},
    "BoundObjectReference": {1: ("kind", S), 2: ("apiVersion", S), 3: ("name", S),
                             4: ("uid", S)},
    "SelfSubjectAccessReview": {1: ("metadata", "ObjectMeta"),
                                2: ("spec", "SelfSubjectAccessReviewSpec")},
    "SelfSubjectAccessReviewSpec": {1: ("resourceAttributes", "ResourceAttributes"),
                                    2: ("nonResourceAttributes", "NonResourceAttributes")},
    "SubjectAccessReview": {1: ("metadata", "ObjectMeta"), 2: ("spec", "SubjectAccessReviewSpec")},
    "SubjectAccessReviewSpec": {1: ("resourceAttributes", "ResourceAttributes"),
                                2: ("nonResourceAttributes", "NonResourceAttributes"),
                                3: ("user", S), 4: ("groups", [S]), 6: ("uid", S)},
    "SelfSubjectRulesReview": {1: ("metadata", "ObjectMeta"),
                               2: ("spec", "SelfSubjectRulesReviewSpec")},
    "SelfSubjectRulesReviewSpec": {1: ("namespace", S)},
    "ResourceAttributes": {1: ("namespace", S), 2: ("verb", S), 3: ("group", S),
                           4: ("version", S), 5: ("resource", S), 6: ("subresource", S),
                           7: ("name", S)},
    "NonResourceAttributes": {1: ("path", S), 2: ("verb", S)},
    "PolicyRule": {1: ("verbs", [S]), 2: ("apiGroups", [S]), 3: ("resources", [S]),
                   4: ("resourceNames", [S]), 5: ("nonResourceURLs", [S])},
    "Subject": {1: ("kind", S), 2: ("apiGroup", S), 3: ("name", S), 4: ("namespace", S)},
    "RoleRef": {1: ("apiGroup", S), 2: ("kind", S), 3: ("name", S)},
    "ClusterRole": {1: ("metadata", "ObjectMeta"), 2: ("rules", ["PolicyRule"])},
    "Role": {1: ("metadata", "ObjectMeta"), 2: ("rules", ["PolicyRule"])},
    "ClusterRoleBinding": {1: ("metadata", "ObjectMeta"), 2: ("subjects", ["Subject"]),
                           3: ("roleRef", "RoleRef")},
    "RoleBinding": {1: ("metadata", "ObjectMeta"), 2: ("subjects", ["Subject"]),
                    3: ("roleRef", "RoleRef")},
    "Eviction": {1: ("metadata", "ObjectMeta"), 2: ("deleteOptions", "DeleteOptions")},
    "DeleteOptions": {1: ("gracePeriodSeconds", I), 3: ("orphanDependents", B),
                      4: ("propagationPolicy", S), 5: ("dryRun", [S])},
}


def _varint(data, pos):
    result = shift = 0
    while True:
        if pos >= len(data):
            raise ValueError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _fields(data):
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire == 2:
            length, pos = _varint(data, pos)
            value, pos = data[pos:pos + length], pos + length
        elif wire == 1:
            value, pos = data[pos:pos + 8], pos + 8
        elif wire == 5:
            value, pos = data[pos:pos + 4], pos + 4
        else:
            raise ValueError("unsupported wire type %d" % wire)
        yield number, wire, value


def _scalar(kind, value):
    if kind == S:
        return value.decode("utf-8")
    if kind == BYTES:
        return base64.b64encode(value).decode()
    if kind == B:
        return bool(value)
    if kind == I:
        return value - (1 << 64) if value >= 1 << 63 else value
    return decode_message(kind, value)


def decode_message(name, data):
    schema = SCHEMAS[name]
    out = {}
    for number, _wire, value in _fields(data):
        if number not in schema:
            continue
        key, kind = schema[number]
        if isinstance(kind, list):
            out.setdefault(key, []).append(_scalar(kind[0], value))
        elif isinstance(kind, tuple):
            entry = dict((n, v) for n, _w, v in _fields(value))
            map_key = entry.get(1, b"").decode()
            out.setdefault(key, {})[map_key] = _scalar(kind[1], entry.get(2, b""))
        else:
            out[key] = _scalar(kind, value)
    return out


def decode(body):
    """A protobuf request body as the equivalent JSON object."""
    if not body.startswith(MAGIC):
        raise errors.bad_request("protobuf body without the k8s envelope")
    try:
        unknown = decode_message("Unknown", body[len(MAGIC):])
        kind = unknown.get("typeMeta", {}).get("kind", "")
        if kind not in SCHEMAS or kind in ("Unknown", "TypeMeta"):
            raise errors.unsupported_media_type(
                "simcluster cannot read %s as protobuf; send application/json" % (kind or "?"))
        obj = decode_message(kind, base64.b64decode(unknown.get("raw", "")))
    except (ValueError, UnicodeDecodeError) as exc:
        raise errors.bad_request("the body of the request could not be decoded: %s" % exc)
    obj["apiVersion"] = unknown["typeMeta"].get("apiVersion", "")
    obj["kind"] = kind
    return obj
