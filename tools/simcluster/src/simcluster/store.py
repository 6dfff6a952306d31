# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The object store: the part of kube-apiserver + etcd that clients observe.

One global, monotonically increasing resourceVersion; uid, creationTimestamp and generation
kept by the server; optimistic concurrency (409) on stale resourceVersions; the status
subresource split; graceful deletion and finalizers; and an event log that watches resume
from. Every call is synchronous, so on the server's single event loop each one is atomic.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import collections
import copy
import json
import time
import uuid

from . import errors
from .selectors import match_fields, match_labels
from .util import now_iso, suffix

ADDED, MODIFIED, DELETED = "ADDED", "MODIFIED", "DELETED"
_SERVER_META = ("uid", "creationTimestamp", "resourceVersion", "generation", "deletionTimestamp",
                "deletionGracePeriodSeconds", "selfLink", "managedFields")


class Event:
    __slots__ = ("rv", "type", "rt", "obj", "old")

    def __init__(self, rv, kind, rt, obj, old):
        self.rv = rv
        self.type = kind
        self.rt = rt
        self.obj = obj
        self.old = old


def _spec_part(rt, obj):
    """What a generation change is measured on."""
    if rt.builtin:
        return obj.get("spec")
    return {k: v for k, v in obj.items()
            if k not in ("metadata", "status", "apiVersion", "kind")}


class Store:
    LOG_SIZE = 10000  # events a watch can resume from (older: 410 Gone, as with etcd compaction)

    def __init__(self, registry, first_rv=1000):
        self.registry = registry
        self._data = {rt.key: {} for rt in registry.resources if rt.stored}
        self._rv = first_rv
        self._log = collections.deque(maxlen=self.LOG_SIZE)
        self._subscribers = []

    # --- bookkeeping ----------------------------------------------------------------------

    @property
    def resource_version(self):
        return str(self._rv)

    def subscribe(self, callback):
        self._subscribers.append(callback)

    def unsubscribe(self, callback):
        if callback in self._subscribers:
            self._subscribers.remove(callback)

    def _emit(self, kind, rt, obj, old):
        event = Event(self._rv, kind, rt, copy.deepcopy(obj), old)
        self._log.append(event)
        for callback in list(self._subscribers):
            callback(event)

    def events_since(self, rv):
        """Events after ``rv``; 410 Gone when the log no longer reaches back that far."""
        if self._log and len(self._log) == self._log.maxlen and rv < self._log[0].rv - 1:
            raise errors.gone("too old resource version: %d (%d)" % (rv, self._log[0].rv - 1))
        return [e for e in self._log if e.rv > rv]

    def _bump(self, obj):
        self._rv += 1
        obj["metadata"]["resourceVersion"] = str(self._rv)

    def _bucket(self, rt):
        return self._data[rt.key]

    # --- reads ----------------------------------------------------------------------------

    def exists(self, rt, namespace, name):
        return (namespace or "", name) in self._bucket(rt)

    def peek(self, rt, namespace, name):
        """The stored object itself (no copy): for controllers that only read."""
        return self._bucket(rt).get((namespace or "", name))

    def get(self, rt, namespace, name):
        obj = self.peek(rt, namespace, name)
        if obj is None:
            raise errors.not_found(rt, name)
        return copy.deepcopy(obj)

    def iter(self, rt, namespace=None):
        """Stored objects (no copies), sorted by namespace and name."""
        bucket = self._bucket(rt)
        for key in sorted(bucket):
            if namespace and key[0] != namespace:
                continue
            yield bucket[key]

    def list(self, rt, namespace=None, labels=None, fields=None, limit=0, cont=None):
        """Return (items, resourceVersion, continue token, remaining count)."""
        start = None
        list_rv = self._rv
        if cont:
            try:
                token = json.loads(base64.urlsafe_b64decode(cont.encode()).decode())
                start = tuple(token["start"])
                list_rv = int(token["rv"])
            except (ValueError, KeyError, TypeError):
                raise errors.bad_request("continue key is not valid: illegal base64 data")
        items = []
        for obj in self.iter(rt, namespace):
            key = (obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
            if start is not None and key <= start:
                continue
            if labels and not match_labels(labels, obj["metadata"].get("labels")):
                continue
            if fields and not match_fields(fields, obj):
                continue
            items.append(obj)
        token, remaining = None, None
        if limit and len(items) > limit:
            last = items[limit - 1]["metadata"]
            token = base64.urlsafe_b64encode(json.dumps(
                {"rv": list_rv, "start": [last.get("namespace", ""), last["name"]]}).encode()
            ).decode()
            remaining = len(items) - limit
            items = items[:limit]
        return [copy.deepcopy(o) for o in items], str(list_rv), token, remaining

    # --- writes ---------------------------------------------------------------------------

    def create(self, rt, obj, dry_run=False, keep_status=False, keep_meta=False):
        obj = copy.deepcopy(obj)
        meta = obj.setdefault("metadata", {})
        obj["apiVersion"] = rt.api_version
        obj["kind"] = rt.kind
        if not meta.get("name") and meta.get("generateName"):
            for _attempt in range(20):
                meta["name"] = meta["generateName"] + suffix()
                if not self.exists(rt, meta.get("namespace"), meta["name"]):
                    break
        name = meta.get("name")
        if not name:
            raise errors.invalid(rt, "", [errors.FieldError(
                "Required", "metadata.name", detail="name or generateName is required")])
        if rt.namespaced:
            if not meta.get("namespace"):
                raise errors.bad_request("the namespace of the object is required")
        else:
            meta.pop("namespace", None)
        key = (meta.get("namespace", ""), name)
        if key in self._bucket(rt):
            raise errors.already_exists(rt, name)
        given = {k: meta.get(k) for k in ("uid", "creationTimestamp")} if keep_meta else {}
        for field in _SERVER_META:
            meta.pop(field, None)
        meta["uid"] = given.get("uid") or str(uuid.uuid4())
        meta["creationTimestamp"] = given.get("creationTimestamp") or now_iso()
        if rt.generation:
            meta["generation"] = 1
        if rt.has_status and not keep_status:
            obj.pop("status", None)
            # what the registries' PrepareForCreate puts in a new object's status
            if rt.plural == "pods":
                obj["status"] = {"phase": "Pending", "qosClass": "BestEffort"}
            elif rt.plural == "namespaces":
                obj["status"] = {"phase": "Active"}
        if dry_run:
            return obj
        self._bump(obj)
        self._bucket(rt)[key] = obj
        self._emit(ADDED, rt, obj, None)
        return copy.deepcopy(obj)

    def update(self, rt, obj, subresource=None, dry_run=False, unconditional_ok=None):
        """Replace an object (PUT semantics). Returns the stored copy."""
        meta = obj.get("metadata") or {}
        namespace, name = meta.get("namespace", "") if rt.namespaced else "", meta.get("name")
        current = self.peek(rt, namespace, name)
        if current is None:
            raise errors.not_found(rt, name)
        wanted_rv = meta.get("resourceVersion")
        if wanted_rv:
            if wanted_rv != current["metadata"]["resourceVersion"]:
                raise errors.conflict(rt, name)
        elif not (rt.builtin if unconditional_ok is None else unconditional_ok):
            # Custom resources refuse unconditional updates.
            raise errors.invalid(rt, name, [errors.FieldError(
                "Invalid", "metadata.resourceVersion", errors.raw("0x0"),
                "must be specified for an update")])
        new = copy.deepcopy(obj)
        new["apiVersion"] = rt.api_version
        new["kind"] = rt.kind
        if subresource == "status":
            merged = copy.deepcopy(current)
            if "status" in new:
                merged["status"] = new["status"]
            else:
                merged.pop("status", None)
            new = merged
        elif rt.has_status and subresource is None:
            if "status" in current:
                new["status"] = copy.deepcopy(current["status"])
            else:
                new.pop("status", None)
        new_meta = new.setdefault("metadata", {})
        for field in ("uid", "creationTimestamp", "deletionTimestamp",
                      "deletionGracePeriodSeconds", "generation"):
            if field in current["metadata"]:
                new_meta[field] = current["metadata"][field]
            else:
                new_meta.pop(field, None)
        new_meta["name"] = name
        if rt.namespaced:
            new_meta["namespace"] = namespace
        else:
            new_meta.pop("namespace", None)
        new_meta["resourceVersion"] = current["metadata"]["resourceVersion"]
        if rt.generation and _spec_part(rt, new) != _spec_part(rt, current):
            new_meta["generation"] = current["metadata"].get("generation", 1) + 1
        if new == current:
            return copy.deepcopy(current)
        if dry_run:
            return new
        if new_meta.get("deletionTimestamp") and not new_meta.get("finalizers") and \
                rt.plural not in ("pods", "namespaces"):  # the kubelet / namespace controller
            return self._remove(rt, current, new)
        self._bump(new)
        self._bucket(rt)[(namespace, name)] = new
        self._emit(MODIFIED, rt, new, current)
        return copy.deepcopy(new)

    def mutate(self, rt, namespace, name, fn):
        """Controller helper: apply ``fn`` to a copy and store it (no-op if unchanged)."""
        current = self.peek(rt, namespace, name)
        if current is None:
            return None
        new = copy.deepcopy(current)
        fn(new)
        return self.write(rt, new)

    def write(self, rt, obj):
        """Controller helper: store ``obj`` as is (spec and status), keeping server metadata."""
        meta = obj["metadata"]
        current = self.peek(rt, meta.get("namespace", ""), meta["name"])
        if current is None:
            return None
        new = copy.deepcopy(obj)
        for field in ("uid", "creationTimestamp", "resourceVersion"):
            new["metadata"][field] = current["metadata"][field]
        if rt.generation:
            gen = current["metadata"].get("generation", 1)
            if _spec_part(rt, new) != _spec_part(rt, current):
                gen += 1
            new["metadata"]["generation"] = gen
        if new == current:
            return current
        self._bump(new)
        self._bucket(rt)[(meta.get("namespace", ""), meta["name"])] = new
        self._emit(MODIFIED, rt, new, current)
        return new

    def delete(self, rt, namespace, name, preconditions=None, propagation=None,
               grace_seconds=None, dry_run=False):
        """Delete (or start deleting) an object. Returns (object, finished)."""
        current = self.peek(rt, namespace or "", name)
        if current is None:
            raise errors.not_found(rt, name)
        pre = preconditions or {}
        if pre.get("uid") and pre["uid"] != current["metadata"]["uid"]:
            raise errors.conflict(rt, name, "Precondition failed: UID in precondition: %s, UID "
                                  "in object meta: %s" % (pre["uid"], current["metadata"]["uid"]))
        if pre.get("resourceVersion") and \
                pre["resourceVersion"] != current["metadata"]["resourceVersion"]:
            raise errors.conflict(rt, name, "Precondition failed: ResourceVersion in "
                                  "precondition: %s, ResourceVersion in object meta: %s"
                                  % (pre["resourceVersion"],
                                     current["metadata"]["resourceVersion"]))
        new = copy.deepcopy(current)
        meta = new["metadata"]
        finalizers = list(meta.get("finalizers") or [])
        if propagation == "Foreground" and "foregroundDeletion" not in finalizers:
            finalizers.append("foregroundDeletion")
        if propagation == "Orphan" and "orphan" not in finalizers:
            finalizers.append("orphan")
        graceful = False
        if rt.plural == "pods" and new.get("spec", {}).get("nodeName"):
            grace = grace_seconds if grace_seconds is not None else \
                new["spec"].get("terminationGracePeriodSeconds", 30)
            graceful = grace > 0 and new.get("status", {}).get("phase") not in (
                "Succeeded", "Failed")
        if rt.plural == "namespaces":
            graceful = True
            grace = 0
        if not finalizers and not graceful:
            if dry_run:
                return new, True
            return self._remove(rt, current, None), True
        if meta.get("deletionTimestamp"):
            if finalizers != (meta.get("finalizers") or []) and not dry_run:
                meta["finalizers"] = finalizers
                return self.update(rt, new, unconditional_ok=True), False
            return copy.deepcopy(current), False
        meta["finalizers"] = finalizers
        if not meta["finalizers"]:
            del meta["finalizers"]
        meta["deletionGracePeriodSeconds"] = grace if graceful else 0
        meta["deletionTimestamp"] = now_iso(time.time() + (grace if graceful else 0))
        if rt.plural == "namespaces":
            new.setdefault("status", {})["phase"] = "Terminating"
        if dry_run:
            return new, False
        self._bump(new)
        self._bucket(rt)[(namespace or "", name)] = new
        self._emit(MODIFIED, rt, new, current)
        return copy.deepcopy(new), False

    def finalize(self, rt, namespace, name):
        """Remove an object whose deletion was pending (grace period over, finalizers gone)."""
        current = self.peek(rt, namespace or "", name)
        if current is None:
            return None
        return self._remove(rt, current, None)

    def _remove(self, rt, current, final):
        obj = copy.deepcopy(final if final is not None else current)
        meta = current["metadata"]
        del self._bucket(rt)[(meta.get("namespace", ""), meta["name"])]
        self._rv += 1
        obj["metadata"]["resourceVersion"] = str(self._rv)
        self._emit(DELETED, rt, obj, current)
        return obj
