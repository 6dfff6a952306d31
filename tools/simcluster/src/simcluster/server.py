# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The HTTP front: request parsing (like the API server's RequestInfo), authentication, fault
injection, authorisation, and the REST handlers for every resource and subresource."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import asyncio
import copy
import json
import logging
import time

import yaml
from aiohttp import web

from . import admission, control, errors, execws, images, patch, protobuf, tables
from .auth import Attributes, Identity
from .kubelet import KubeletText
from .resources import (api_group, api_group_list, api_versions, openapi_v2, openapi_v3_gv,
                        openapi_v3_root, resource_list)
from .selectors import match_fields, match_labels, parse_field_selector, parse_label_selector
from .util import dig, now_iso

log = logging.getLogger("simcluster.api")
access_log = logging.getLogger("simcluster.access")

NOT_FOUND = errors.ApiError(404, "NotFound", "the server could not find the requested resource",
                            {})
HEALTH_PATHS = ("/healthz", "/livez", "/readyz")
PROTOBUF = "application/vnd.kubernetes.protobuf"
OPENAPI_V2_PROTOBUF = "application/octet-stream"  # what Go's mime parser accepts


class RequestInfo:
    def __init__(self, method, path):
        self.method = method
        self.path = path
        self.resource = False
        self.verb = {"GET": "get", "HEAD": "get", "POST": "create", "PUT": "update",
                     "PATCH": "patch", "DELETE": "delete"}.get(method, method.lower())
        self.rt = None
        self.group = ""
        self.version = ""
        self.namespace = ""
        self.name = ""
        self.subresource = ""
        self.rest = ""
        self.watch = False
        self.discovery = None  # ("root",) / ("group", g) / ("gv", g, v)
        self.authz_namespace = ""

    def attributes(self):
        if not self.resource:
            return Attributes(self.verb, path=self.path)
        return Attributes(self.verb, self.group, self.rt.plural, self.subresource,
                          self.authz_namespace or self.namespace, self.name)

    def as_match(self, user):
        return {"verb": self.verb, "group": self.group,
                "resource": self.rt.plural if self.rt else "", "subresource": self.subresource,
                "namespace": self.namespace, "name": self.name, "user": user,
                "path": self.path, "method": self.method}


def parse_request(registry, method, path, query):
    info = RequestInfo(method, path)
    parts = [p for p in path.split("/") if p]
    if not parts or parts[0] not in ("api", "apis"):
        return info
    if parts == ["api"]:
        info.discovery = ("api",)
        return info
    if parts == ["apis"]:
        info.discovery = ("root",)
        return info
    if parts[0] == "api":
        group, version, rest = "", parts[1], parts[2:]
    elif len(parts) == 2:
        info.discovery = ("group", parts[1])
        return info
    else:
        group, version, rest = parts[1], parts[2], parts[3:]
    info.group, info.version = group, version
    if not registry.in_group_version(group, version):
        raise NOT_FOUND
    if not rest:
        info.discovery = ("gv", group, version)
        return info
    if rest[0] == "watch":
        info.watch = True
        rest = rest[1:]
    if len(rest) >= 3 and rest[0] == "namespaces" and registry.get(group, rest[2]) is not None \
            and registry.get(group, rest[2]).namespaced:
        info.namespace = rest[1]
        rest = rest[2:]
    if not rest:
        raise NOT_FOUND
    rt = registry.get(group, rest[0])
    if rt is None or (rt.namespaced and not info.namespace and len(rest) > 1):
        raise NOT_FOUND
    info.rt = rt
    info.resource = True
    info.name = rest[1] if len(rest) > 1 else ""
    info.subresource = rest[2] if len(rest) > 2 else ""
    info.rest = "/".join(rest[3:])
    if info.subresource and rt.subresource(info.subresource) is None:
        raise NOT_FOUND
    if info.subresource != "proxy" and info.rest:
        raise NOT_FOUND
    if rt.plural == "namespaces" and info.name:
        info.authz_namespace = info.name  # the API server authorises namespaces in themselves
    if method == "GET" and not info.name:
        info.verb = "watch" if info.watch or query.get("watch") in ("1", "true") else "list"
    elif method == "DELETE" and not info.name:
        info.verb = "deletecollection"
    return info


def _json(body, status=200, headers=None):
    return web.Response(status=status, body=json.dumps(body, separators=(",", ":")).encode()
                        + b"\n", content_type="application/json", headers=headers)


def error_response(exc):
    if exc.text is not None:
        return web.Response(status=exc.code, text=exc.text, content_type="text/plain",
                            headers=exc.headers or None)
    return _json(exc.status(), exc.code, exc.headers or None)


def _dry_run(request):
    values = request.query.getall("dryRun", [])
    for value in values:
        if value != "All":
            raise errors.bad_request("Invalid dry run value: %s" % value)
    return bool(values)


async def _body(request):
    raw = await request.read()
    if not raw:
        raise errors.bad_request("the body of the request is empty")
    if request.content_type == PROTOBUF:
        return protobuf.decode(raw)
    try:
        if "yaml" in (request.content_type or ""):
            return yaml.safe_load(raw)
        return json.loads(raw)
    except (ValueError, yaml.YAMLError) as exc:
        raise errors.bad_request("the body of the request could not be decoded: %s" % exc)


def _for_list(rt, obj):
    """Built-in list items carry no kind/apiVersion (clients add them); CR items do."""
    if rt.builtin:
        obj = dict(obj)
        obj.pop("kind", None)
        obj.pop("apiVersion", None)
    return obj


class Api:
    def __init__(self, sim):
        self.sim = sim

    @property
    def store(self):
        return self.sim.store

    # --- entry point ----------------------------------------------------------------------

    async def dispatch(self, request):
        started = time.monotonic()
        user = "-"
        try:
            path = request.path
            if path.startswith(control.PREFIX):
                identity = self._authenticate(request)
                user = identity.user
                return await control.handle(self.sim, request, identity)
            if self.sim.apiserver.down or not path.startswith(control.PREFIX):
                try:
                    self.sim.apiserver.check(request)
                except ConnectionResetError:
                    if request.transport is not None:
                        request.transport.abort()  # the client sees a reset connection
                    return web.Response(status=503)
            info = parse_request(self.sim.registry, request.method, path, request.query)
            identity = self._authenticate(request)
            user = identity.user
            request["identity"] = identity  # admission (SCC) asks who creates a pod
            fault = self.sim.faults.api(info.as_match(identity.user))
            if fault is not None:
                if fault.delay:
                    await asyncio.sleep(fault.delay)
                if fault.error() is not None:
                    raise fault.error()
            self.sim.authz.check(identity, info.attributes(), info.rt)
            response = await self.handle(request, info, identity)
        except errors.ApiError as exc:
            response = error_response(exc)
        except ConnectionResetError:
            if request.transport is not None:
                request.transport.abort()
            response = web.Response(status=502)
        except Exception as exc:  # a bug here must still answer like a server
            log.exception("internal error on %s %s", request.method, request.path_qs)
            response = error_response(errors.internal(repr(exc)))
        access_log.info("%s %s %s %s %.3fs", user, request.method, request.path_qs,
                        getattr(response, "status", "-"), time.monotonic() - started)
        return response

    def _authenticate(self, request):
        sa_rt = self.sim.registry.get("", "serviceaccounts")

        def sa_uid(namespace, name):
            sa = self.store.peek(sa_rt, namespace, name)
            return sa["metadata"]["uid"] if sa else None
        identity = self.sim.authn.authenticate(request.headers.get("Authorization"), sa_uid)
        if identity is None:
            raise errors.unauthorized()
        return identity

    async def handle(self, request, info, identity):
        if not info.resource:
            return self.non_resource(info, request)
        rt, method, sub = info.rt, request.method, info.subresource
        if rt.verbs == ("create",):
            if method != "POST":
                raise errors.method_not_allowed()
            return await self.review(request, info, identity)
        if sub == "proxy":
            return await self.node_proxy(request, info)
        if sub == "exec":
            return await self.exec(request, info)
        if sub == "log":
            return self.pod_log(request, info)
        if sub == "token":
            return await self.token_request(request, info)
        if sub == "eviction":
            return await self.eviction(request, info)
        if sub in ("instantiate", "instantiatebinary"):
            return await self.instantiate(request, info)
        if sub == "scale":
            return await self.scale(request, info)
        if not info.name:
            if method in ("GET", "HEAD"):
                if info.verb == "watch":
                    return await self.watch(request, info)
                return self.list(request, info)
            if method == "POST":
                return await self.create(request, info)
            if method == "DELETE":
                return await self.delete_collection(request, info)
            raise errors.method_not_allowed()
        if method in ("GET", "HEAD"):
            obj = self.store.get(rt, info.namespace, info.name)
            return self._object(request, rt, obj)
        if method == "PUT":
            return await self.update(request, info)
        if method == "PATCH":
            return await self.patch(request, info)
        if method == "DELETE":
            return await self.delete(request, info)
        raise errors.method_not_allowed()

    # --- discovery and non-resource paths -------------------------------------------------

    def non_resource(self, info, request):
        reg = self.sim.registry
        if info.discovery == ("api",):
            return _json(api_versions("%s:%d" % (self.sim.config.host, self.sim.port)))
        if info.discovery == ("root",):
            return _json(api_group_list(reg))
        if info.discovery and info.discovery[0] == "group":
            version = reg.group_versions().get(info.discovery[1])
            if version is None:
                raise NOT_FOUND
            return _json(dict(api_group(info.discovery[1], version), kind="APIGroup",
                              apiVersion="v1"))
        if info.discovery and info.discovery[0] == "gv":
            return _json(resource_list(reg, info.discovery[1], info.discovery[2]))
        if info.path in ("/version", "/version/"):
            config = self.sim.config
            major, minor = config.kubernetes_version.split(".")[:2]
            return _json({"major": major, "minor": minor, "gitVersion": config.git_version,
                          "gitCommit": "0" * 40, "gitTreeState": "clean",
                          "buildDate": "2024-01-01T00:00:00Z", "goVersion": "go1.20.10",
                          "compiler": "gc", "platform": "linux/amd64"})
        if info.path == "/openapi/v2":
            if "protobuf" in request.headers.get("Accept", ""):
                return web.Response(body=openapi_v2(self.sim.config.git_version, True),
                                    content_type=OPENAPI_V2_PROTOBUF)
            return _json(openapi_v2(self.sim.config.git_version))
        if info.path == "/openapi/v3":
            return _json(openapi_v3_root(reg))
        if info.path.startswith("/openapi/v3/"):
            parts = info.path[len("/openapi/v3/"):].split("/")
            if parts[0] == "api" and len(parts) == 2:
                group, version = "", parts[1]
            elif parts[0] == "apis" and len(parts) == 3:
                group, version = parts[1], parts[2]
            else:
                raise NOT_FOUND
            if not reg.in_group_version(group, version):
                raise NOT_FOUND
            return _json(openapi_v3_gv(reg, group, version, self.sim.config.git_version))
        if info.path in HEALTH_PATHS or any(info.path.startswith(p + "/") for p in
                                            HEALTH_PATHS):
            return web.Response(text="ok", content_type="text/plain")
        raise NOT_FOUND

    # --- reads ----------------------------------------------------------------------------

    def _object(self, request, rt, obj, status=200):
        if tables.wants_table(request.headers.get("Accept")):
            return _json(tables.to_table(rt, [obj], request.query.get("includeObject",
                                                                      "Metadata")), status)
        return _json(obj, status)

    def _selectors(self, request, rt):
        labels = parse_label_selector(request.query.get("labelSelector", ""))
        fields = parse_field_selector(request.query.get("fieldSelector", ""), rt.field_labels)
        return labels, fields

    def list(self, request, info):
        rt = info.rt
        labels, fields = self._selectors(request, rt)
        try:
            limit = int(request.query.get("limit", "0") or 0)
        except ValueError:
            raise errors.bad_request("limit must be an integer")
        items, rv, token, remaining = self.store.list(
            rt, info.namespace or None, labels, fields, limit, request.query.get("continue"))
        meta = {"resourceVersion": rv}
        if token:
            meta["continue"] = token
            meta["remainingItemCount"] = remaining
        if tables.wants_table(request.headers.get("Accept")):
            return _json(tables.to_table(rt, items, request.query.get("includeObject",
                                                                      "Metadata"), meta))
        return _json({"kind": rt.list_kind, "apiVersion": rt.api_version, "metadata": meta,
                      "items": [_for_list(rt, o) for o in items]})

    async def watch(self, request, info):
        rt, ns = info.rt, info.namespace
        labels, fields = self._selectors(request, rt)
        try:
            timeout = float(request.query.get("timeoutSeconds", "1800"))
        except ValueError:
            raise errors.bad_request("timeoutSeconds must be a number")
        as_table = tables.wants_table(request.headers.get("Accept"))
        include = request.query.get("includeObject", "Metadata")
        rv = request.query.get("resourceVersion", "")
        queue = asyncio.Queue()

        def matches(obj):
            if obj is None:
                return False
            meta = obj["metadata"]
            if ns and meta.get("namespace") != ns:
                return False
            return match_labels(labels, meta.get("labels")) and match_fields(fields, obj)

        def listener(event):
            if event.rt.key == rt.key:
                queue.put_nowait(event)
        initial = []
        if rv and rv != "0":
            try:
                since = int(rv)
            except ValueError:
                raise errors.bad_request("resourceVersion: Invalid value: %r" % rv)
            initial = [e for e in self.store.events_since(since) if e.rt.key == rt.key]
        self.store.subscribe(listener)
        self.sim.watchers.add(queue)
        response = web.StreamResponse(headers={"Content-Type": "application/json",
                                               "Cache-Control": "no-cache, private"})
        try:
            await response.prepare(request)
            if not rv or rv == "0":
                for obj in self.store.iter(rt, ns or None):
                    if matches(obj):
                        await self._send_event(response, "ADDED", rt, obj, as_table, include)
            for event in initial:
                await self._send_watch_event(response, event, matches, as_table, include)
            deadline = time.monotonic() + timeout
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    event = await asyncio.wait_for(queue.get(), remaining)
                except asyncio.TimeoutError:
                    break
                if event is None:
                    break
                await self._send_watch_event(response, event, matches, as_table, include)
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self.store.unsubscribe(listener)
            self.sim.watchers.discard(queue)
        return response

    async def _send_watch_event(self, response, event, matches, as_table, include):
        now, before = matches(event.obj), matches(event.old)
        if event.type == "DELETED":
            kind = "DELETED" if before or now else None
        elif now and not before:
            kind = "ADDED"
        elif now:
            kind = "MODIFIED"
        elif before:
            kind = "DELETED"  # no longer matches the selector
        else:
            kind = None
        if kind:
            await self._send_event(response, kind, event.rt, event.obj, as_table, include)

    async def _send_event(self, response, kind, rt, obj, as_table, include):
        body = tables.to_table(rt, [obj], include) if as_table else obj
        await response.write(json.dumps({"type": kind, "object": body},
                                        separators=(",", ":")).encode() + b"\n")

    # --- writes ---------------------------------------------------------------------------

    def _check_namespace(self, info, name=""):
        if not info.rt.namespaced:
            return
        ns_rt = self.sim.registry.get("", "namespaces")
        namespace = self.store.peek(ns_rt, "", info.namespace)
        if namespace is None:
            raise errors.not_found(ns_rt, info.namespace)
        if namespace["metadata"].get("deletionTimestamp"):
            raise errors.forbidden(info.rt, name, "unable to create new content in namespace %s "
                                   "because it is being terminated" % info.namespace)

    def _check_kind(self, info, body):
        if not isinstance(body, dict):
            raise errors.bad_request("the body of the request was not a JSON object")
        rt = info.rt
        api_version, kind = body.get("apiVersion"), body.get("kind")
        if kind and kind != rt.kind or api_version and api_version != rt.api_version:
            raise errors.bad_request("the API version in the data (%s) does not match the "
                                     "expected API version (%s)" % (api_version, rt.api_version)
                                     if kind == rt.kind else
                                     "%s in version \"%s\" cannot be handled as a %s: no kind "
                                     "\"%s\" is registered for version \"%s\""
                                     % (kind, rt.version, rt.kind, kind, api_version))
        meta = body.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise errors.bad_request("metadata must be an object")
        if rt.namespaced:
            if meta.get("namespace") and meta["namespace"] != info.namespace:
                raise errors.bad_request("the namespace of the provided object does not match "
                                         "the namespace sent on the request")
            meta["namespace"] = info.namespace
        return body

    async def create(self, request, info):
        rt = info.rt
        dry = _dry_run(request)
        body = self._check_kind(info, await _body(request))
        self._check_namespace(info, body["metadata"].get("name", ""))
        self._admit(rt, body)
        if rt.plural == "pods":
            images.scc_admit(self.sim, body, request.get("identity"))
        obj = self.store.create(rt, body, dry_run=dry)
        return self._object(request, rt, obj, 201)

    def _admit(self, rt, obj, old=None):
        admission.default(rt, obj)
        if rt.plural == "machineconfigurations":
            self.sim.openshift.prune_machineconfiguration(obj)
        admission.validate(rt, obj, old, self.sim.config.openshift_minor)

    def _validate_update(self, rt, new, old, subresource):
        if subresource == "status":
            return
        self._admit(rt, new, old)

    async def update(self, request, info):
        rt = info.rt
        dry = _dry_run(request)
        body = self._check_kind(info, await _body(request))
        if body["metadata"].get("name") and body["metadata"]["name"] != info.name:
            raise errors.bad_request("the name of the object (%s) does not match the name on "
                                     "the URL (%s)" % (body["metadata"]["name"], info.name))
        body["metadata"]["name"] = info.name
        if info.subresource == "finalize":
            current = self.store.get(rt, "", info.name)
            current["spec"] = body.get("spec") or {}
            body = current
        old = self.store.get(rt, info.namespace, info.name)
        self._validate_update(rt, body, old, info.subresource)
        obj = self.store.update(rt, body, subresource=info.subresource or None, dry_run=dry)
        self._finish_namespace(rt, obj)
        return self._object(request, rt, obj)

    def _finish_namespace(self, rt, obj):
        if rt.plural == "namespaces" and obj["metadata"].get("deletionTimestamp") and \
                not dig(obj, "spec", "finalizers"):
            self.sim.workloads.trigger.set()

    async def patch(self, request, info):
        rt = info.rt
        dry = _dry_run(request)
        kind = request.content_type
        if kind not in patch.ACCEPTED + ((patch.STRATEGIC,) if rt.builtin else ()):
            accepted = ", ".join(patch.ACCEPTED + ((patch.STRATEGIC,) if rt.builtin else ()))
            raise errors.unsupported_media_type(
                "the body of the request was in an unknown format - accepted media types "
                "include: %s" % accepted)
        raw = await request.read()
        try:
            body = yaml.safe_load(raw) if kind == patch.APPLY else json.loads(raw or b"null")
        except (ValueError, yaml.YAMLError) as exc:
            raise errors.bad_request("error decoding patch: %s" % exc)
        if kind == patch.APPLY:
            return await self._apply(request, info, body, dry)
        current = self.store.get(rt, info.namespace, info.name)
        if kind == patch.JSON:
            patched = patch.json_patch(current, body)
        elif kind == patch.MERGE:
            if not isinstance(body, dict):
                raise errors.bad_request("the body of the request was not a JSON merge patch "
                                         "object")
            patched = patch.merge_patch(current, body)
        else:
            patched = patch.strategic_merge_patch(current, body, rt.kind)
        if not isinstance(patched, dict):
            raise errors.bad_request("the patched object is not an object")
        patched.setdefault("metadata", {})
        # identity fields cannot be patched away
        patched["metadata"]["name"] = info.name
        if rt.namespaced:
            patched["metadata"]["namespace"] = info.namespace
        patched["apiVersion"], patched["kind"] = rt.api_version, rt.kind
        patched["metadata"].setdefault("resourceVersion",
                                       current["metadata"]["resourceVersion"])
        self._validate_update(rt, patched, current, info.subresource)
        obj = self.store.update(rt, patched, subresource=info.subresource or None, dry_run=dry,
                                unconditional_ok=True)
        return self._object(request, rt, obj)

    async def _apply(self, request, info, body, dry):
        rt = info.rt
        if not request.query.get("fieldManager"):
            raise errors.ApiError(422, "Invalid", 'PatchOptions.meta.k8s.io "" is invalid: '
                                  'fieldManager: Required value: is required for apply patch',
                                  {"kind": "PatchOptions", "group": "meta.k8s.io", "causes": [
                                      {"reason": "FieldValueRequired", "field": "fieldManager",
                                       "message": "Required value: is required for apply "
                                                  "patch"}]})
        body = self._check_kind(info, body if isinstance(body, dict) else {})
        if body["metadata"].get("name") not in (None, info.name):
            raise errors.bad_request("the name of the object (%s) does not match the name on "
                                     "the URL (%s)" % (body["metadata"]["name"], info.name))
        body["metadata"]["name"] = info.name
        current = self.store.peek(rt, info.namespace, info.name)
        if current is None:
            self._check_namespace(info, info.name)
            new = patch.apply_patch(None, body, rt.kind, rt.builtin)
            self._admit(rt, new)
            obj = self.store.create(rt, new, dry_run=dry)
            return self._object(request, rt, obj, 201)
        current = copy.deepcopy(current)
        new = patch.apply_patch(current, body, rt.kind, rt.builtin)
        new["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
        self._validate_update(rt, new, current, info.subresource)
        obj = self.store.update(rt, new, subresource=info.subresource or None, dry_run=dry,
                                unconditional_ok=True)
        return self._object(request, rt, obj)

    async def _delete_options(self, request):
        options = {}
        raw = await request.read()
        if raw:
            try:
                options = json.loads(raw) or {}
            except ValueError as exc:
                raise errors.bad_request("invalid DeleteOptions: %s" % exc)
        query = request.query
        if "propagationPolicy" in query:
            options["propagationPolicy"] = query["propagationPolicy"]
        if "gracePeriodSeconds" in query:
            try:
                options["gracePeriodSeconds"] = int(query["gracePeriodSeconds"])
            except ValueError:
                raise errors.bad_request("gracePeriodSeconds must be an integer")
        if query.get("orphanDependents") == "true":
            options.setdefault("propagationPolicy", "Orphan")
        if options.get("orphanDependents") is True:
            options.setdefault("propagationPolicy", "Orphan")
        policy = options.get("propagationPolicy")
        if policy not in (None, "Orphan", "Background", "Foreground"):
            raise errors.bad_request("propagationPolicy: Unsupported value: %r" % policy)
        dry = _dry_run(request) or "All" in (options.get("dryRun") or [])
        return options, dry

    async def delete(self, request, info):
        rt = info.rt
        options, dry = await self._delete_options(request)
        admission.check_delete(rt, info.name)
        obj, finished = self.store.delete(
            rt, info.namespace, info.name, preconditions=options.get("preconditions"),
            propagation=options.get("propagationPolicy"),
            grace_seconds=options.get("gracePeriodSeconds"), dry_run=dry)
        if finished and rt.plural != "pods":
            details = {"name": info.name, "kind": rt.plural, "uid": obj["metadata"]["uid"]}
            if rt.group:
                details["group"] = rt.group
            return _json({"kind": "Status", "apiVersion": "v1", "metadata": {},
                          "status": "Success", "details": details})
        return _json(obj)

    async def delete_collection(self, request, info):
        rt = info.rt
        options, dry = await self._delete_options(request)
        labels, fields = self._selectors(request, rt)
        items = self.store.list(rt, info.namespace or None, labels, fields)[0]
        deleted = []
        for obj in items:
            admission.check_delete(rt, obj["metadata"]["name"])
        for obj in items:
            gone, _finished = self.store.delete(rt, obj["metadata"].get("namespace"),
                                                obj["metadata"]["name"],
                                                propagation=options.get("propagationPolicy"),
                                                grace_seconds=options.get("gracePeriodSeconds"),
                                                dry_run=dry)
            deleted.append(_for_list(rt, gone))
        return _json({"kind": rt.list_kind, "apiVersion": rt.api_version,
                      "metadata": {"resourceVersion": self.store.resource_version},
                      "items": deleted})

    # --- subresources ---------------------------------------------------------------------

    async def scale(self, request, info):
        rt = info.rt
        obj = self.store.get(rt, info.namespace, info.name)

        def as_scale(o):
            keep = ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
            meta = {k: o["metadata"][k] for k in keep if k in o["metadata"]}
            labels = sorted(dig(o, "spec", "selector", "matchLabels", default={}).items())
            return {"kind": "Scale", "apiVersion": "autoscaling/v1", "metadata": meta,
                    "spec": {"replicas": dig(o, "spec", "replicas", default=0)},
                    "status": {"replicas": dig(o, "status", "replicas", default=0),
                               "selector": ",".join("%s=%s" % kv for kv in labels)}}
        if request.method == "GET":
            return _json(as_scale(obj))
        dry = _dry_run(request)
        if request.method == "PUT":
            body = await _body(request)
        elif request.method == "PATCH":
            raw = await request.read()
            current = as_scale(obj)
            try:
                data = json.loads(raw)
            except ValueError as exc:
                raise errors.bad_request(str(exc))
            body = patch.json_patch(current, data) if request.content_type == patch.JSON \
                else patch.merge_patch(current, data)
        else:
            raise errors.method_not_allowed()
        replicas = dig(body, "spec", "replicas")
        if not isinstance(replicas, int) or replicas < 0:
            raise errors.ApiError(422, "Invalid", 'Scale.autoscaling "%s" is invalid: '
                                  'spec.replicas: Invalid value: %r: must be greater than or '
                                  'equal to 0' % (info.name, replicas))
        wanted_rv = dig(body, "metadata", "resourceVersion")
        if wanted_rv and wanted_rv != obj["metadata"]["resourceVersion"]:
            raise errors.conflict(rt, info.name)
        obj["spec"]["replicas"] = replicas
        obj = self.store.update(rt, obj, dry_run=dry)
        return _json(as_scale(obj))

    def _pod(self, info):
        return self.store.get(info.rt, info.namespace, info.name)

    @staticmethod
    def _container(pod, name):
        names = [c["name"] for c in dig(pod, "spec", "containers", default=[])]
        if not name:
            if len(names) == 1:
                return names[0]
            raise errors.bad_request("a container name must be specified for pod %s, choose "
                                     "one of: [%s]" % (pod["metadata"]["name"], " ".join(names)))
        if name not in names:
            raise errors.bad_request("container %s is not valid for pod %s"
                                     % (name, pod["metadata"]["name"]))
        return name

    def pod_log(self, request, info):
        pod = self._pod(info)
        container = self._container(pod, request.query.get("container"))
        text = self.sim.workloads.logs.get((info.namespace, info.name, container), "")
        tail = request.query.get("tailLines")
        if tail:
            try:
                lines = text.splitlines(True)
                text = "".join(lines[-int(tail):]) if int(tail) else ""
            except ValueError:
                raise errors.bad_request("tailLines must be an integer")
        return web.Response(text=text, content_type="text/plain")

    async def exec(self, request, info):
        pod = self._pod(info)
        query = request.query
        container = self._container(pod, query.get("container"))
        command = query.getall("command", [])
        if not command:
            raise errors.bad_request("you must specify at least 1 command")
        if not dig(pod, "spec", "nodeName"):
            raise errors.bad_request("pod %s does not have a host assigned" % info.name)
        if dig(pod, "status", "phase") != "Running":
            raise errors.bad_request("unable to upgrade connection: container not found (\"%s\")"
                                     % container)
        if request.headers.get("Upgrade", "").lower() != "websocket":
            raise errors.bad_request("Upgrade request required: simcluster serves pods/exec "
                                     "over WebSocket (channel.k8s.io protocols) only, not "
                                     "SPDY/3.1")

        def flag(key):
            return query.get(key, "false").lower() in ("1", "true")
        return await execws.serve(request, self.sim, pod, container, command, flag("stdin"),
                                  flag("stdout"), flag("stderr"), flag("tty"))

    async def eviction(self, request, info):
        if request.method != "POST":
            raise errors.method_not_allowed()
        pod = self._pod(info)
        body = await _body(request)
        options = (body or {}).get("deleteOptions") or {}
        self.sim.workloads.evict(pod, grace_seconds=options.get("gracePeriodSeconds"),
                                 dry_run=_dry_run(request))
        return _json({"kind": "Status", "apiVersion": "v1", "metadata": {},
                      "status": "Success", "code": 201}, 201)

    async def instantiate(self, request, info):
        """``oc start-build``: the BuildConfig's next Build (a binary upload is accepted and
        not looked at)."""
        if request.method != "POST":
            raise errors.method_not_allowed()
        bc = self.store.get(info.rt, info.namespace, info.name)
        await request.read()
        build = self.sim.builds.instantiate(bc, "Manually triggered")
        rt = self.sim.registry.get("build.openshift.io", "builds")
        return self._object(request, rt, build, 201)

    async def token_request(self, request, info):
        if request.method != "POST":
            raise errors.method_not_allowed()
        sa = self.store.get(info.rt, info.namespace, info.name)
        body = await _body(request)
        spec = (body or {}).get("spec") or {}
        seconds = int(spec.get("expirationSeconds") or 3600)
        if seconds < 600:
            raise errors.ApiError(422, "Invalid", 'TokenRequest.authentication.k8s.io "%s" is '
                                  'invalid: spec.expirationSeconds: Invalid value: %d: may not '
                                  'specify a duration less than 10 minutes'
                                  % (info.name, seconds))
        token, expiry = self.sim.authn.mint(info.namespace, info.name, sa["metadata"]["uid"],
                                            seconds, spec.get("audiences") or ())
        return _json({"kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1",
                      "metadata": {"name": info.name, "namespace": info.namespace,
                                   "creationTimestamp": None},
                      "spec": {"audiences": spec.get("audiences") or [
                          "https://kubernetes.default.svc"], "expirationSeconds": seconds,
                          "boundObjectRef": spec.get("boundObjectRef")},
                      "status": {"token": token, "expirationTimestamp": now_iso(expiry)}}, 201)

    async def node_proxy(self, request, info):
        if info.rt.plural != "nodes":
            raise NOT_FOUND
        try:
            status, ctype, body = await self.sim.kubelets.handle(
                request.method, info.name, info.rest, request.query)
        except KubeletText as exc:
            return web.Response(status=exc.code, text=exc.text, content_type="text/plain")
        return web.Response(status=status, body=body, content_type=ctype)

    async def review(self, request, info, identity):
        body = await _body(request)
        spec = (body or {}).get("spec") or {}
        rt = info.rt
        if rt.plural == "selfsubjectrulesreviews":
            namespace = spec.get("namespace", "")
            rules = self.sim.authz.rules_for(identity, namespace)
            status = {"resourceRules": [r for r in rules if "nonResourceURLs" not in r],
                      "nonResourceRules": [r for r in rules if "nonResourceURLs" in r],
                      "incomplete": False}
            if "system:masters" in identity.groups:
                status["resourceRules"].insert(0, {"verbs": ["*"], "apiGroups": ["*"],
                                                   "resources": ["*"]})
            return _json({"kind": rt.kind, "apiVersion": rt.api_version, "metadata": {},
                          "spec": spec, "status": status}, 201)
        subject = identity
        if rt.plural == "subjectaccessreviews":
            subject = Identity("review", spec.get("user", ""), tuple(spec.get("groups") or ()))
        attrs = spec.get("resourceAttributes")
        if attrs:
            check = Attributes(attrs.get("verb", ""), attrs.get("group", ""),
                               attrs.get("resource", ""), attrs.get("subresource", ""),
                               attrs.get("namespace", ""), attrs.get("name", ""))
        else:
            non = spec.get("nonResourceAttributes") or {}
            check = Attributes(non.get("verb", ""), path=non.get("path", ""))
        allowed = self.sim.authz.allowed(subject, check)
        status = {"allowed": allowed}
        if allowed:
            status["reason"] = "RBAC: allowed"
        return _json({"kind": rt.kind, "apiVersion": rt.api_version, "metadata": {},
                      "spec": spec, "status": status}, 201)


def make_app(sim):
    api = Api(sim)
    app = web.Application(client_max_size=1024 ** 3)
    app.router.add_route("*", "/{tail:.*}", api.dispatch)
    app["api"] = api
    return app
