# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The simulator's own control API, under ``/_simcluster/v1`` on the same HTTPS port.

Only ``system:masters`` (the ``admin`` token) may use it. It changes what no Kubernetes API
can: fault injection, node degradation, a kubelet going down, timings, and a full reset.

    GET    /_simcluster/v1/state
    PATCH  /_simcluster/v1/settings            {"rollout_delay": 0.2, ...}
    POST   /_simcluster/v1/faults              {"kind": "api", "status": 500, "match": {...}}
    DELETE /_simcluster/v1/faults[/<id>]
    POST   /_simcluster/v1/nodes/<node>/degrade {"message": "..."}
    DELETE /_simcluster/v1/nodes/<node>/degrade
    POST   /_simcluster/v1/nodes/<node>/kubelet {"ready": false}
    POST   /_simcluster/v1/nodes/<node>/disk   {"available_bytes": 1000000}  (null: real)
    POST   /_simcluster/v1/identities          {"name": "x", "rules": [...]}
    POST   /_simcluster/v1/apiserver/outage    {"seconds": 60}  (refused, scaled by time_scale)
    POST   /_simcluster/v1/apiserver/rollout   {"seconds": 30}  (503/429/resets mixed in)
    POST   /_simcluster/v1/reset
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from aiohttp import web

from . import errors
from .auth import Identity, new_token
from .openshift import CURRENT, DESIRED, REASON, STATE

PREFIX = "/_simcluster/"
V1 = "/_simcluster/v1"


def _json(body, status=200):
    return web.Response(status=status, text=json.dumps(body, indent=1),
                        content_type="application/json")


async def _body(request):
    raw = await request.read()
    if not raw:
        return {}
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise errors.bad_request("invalid JSON: %s" % exc)
    if not isinstance(body, dict):
        raise errors.bad_request("expected a JSON object")
    return body


def state(sim):
    nodes = {}
    rt_node = sim.registry.get("", "nodes")
    for node in sim.store.iter(rt_node):
        name = node["metadata"]["name"]
        ann = node["metadata"].get("annotations") or {}
        runtime = sim.node_runtime(name)
        nodes[name] = {
            "current_config": ann.get(CURRENT, ""), "desired_config": ann.get(DESIRED, ""),
            "state": ann.get(STATE, ""), "reason": ann.get(REASON, ""),
            "degraded": runtime.degraded, "kubelet_down": runtime.kubelet_down,
            "rebooting": runtime.rebooting,
            "pool": sim.openshift.primary_pool(node),
            "last_update_actions": [a["type"] for a in runtime.last_actions],
            "checkpoint_gate": sim.openshift.checkpoint_gate(name),
            "criu_support": sim.openshift.criu_support(name),
            "checkpoint_dir": sim.node_checkpoint_dir(name),
            "host_dir": sim.node_host_dir(name),
        }
    return {"openshift_version": sim.config.openshift_version,
            "kubernetes_version": sim.config.kubernetes_version,
            "topology": sim.config.topology,
            "port": sim.port, "state_dir": sim.config.state_dir,
            "settings": sim.settings.as_dict(), "faults": sim.faults.as_list(),
            "apiserver": sim.apiserver.as_dict(),
            "identities": sorted(sim.identities), "nodes": nodes}


async def handle(sim, request, identity):
    if "system:masters" not in identity.groups:
        raise errors.ApiError(403, "Forbidden", 'forbidden: User "%s" cannot use the simcluster '
                              'control API (system:masters only)' % identity.user, {})
    path = request.path[len(V1):] if request.path.startswith(V1) else None
    if path is None:
        raise errors.ApiError(404, "NotFound", "unknown control path", {})
    parts = [p for p in path.split("/") if p]
    method = request.method
    try:
        return await _route(sim, request, method, parts)
    except ValueError as exc:
        raise errors.bad_request(str(exc))


async def _route(sim, request, method, parts):
    if parts == ["state"] and method == "GET":
        return _json(state(sim))
    if parts == ["settings"] and method in ("PATCH", "PUT"):
        sim.settings.update(await _body(request))
        sim.openshift.trigger.set()
        sim.workloads.trigger.set()
        return _json(sim.settings.as_dict())
    if parts == ["settings"] and method == "GET":
        return _json(sim.settings.as_dict())
    if parts[:1] == ["faults"]:
        if method == "POST" and len(parts) == 1:
            try:
                rule = sim.faults.add(await _body(request))
            except TypeError as exc:
                raise errors.bad_request(str(exc))
            return _json(rule.as_dict(), 201)
        if method == "DELETE" and len(parts) == 1:
            sim.faults.clear()
            return _json({"faults": []})
        if method == "DELETE" and len(parts) == 2:
            if not sim.faults.remove(parts[1]):
                raise errors.ApiError(404, "NotFound", "no fault %s" % parts[1], {})
            return _json({"removed": parts[1]})
        if method == "GET":
            return _json({"faults": sim.faults.as_list()})
    if len(parts) == 3 and parts[0] == "nodes":
        name, what = parts[1], parts[2]
        if sim.store.peek(sim.registry.get("", "nodes"), "", name) is None:
            raise errors.not_found(sim.registry.get("", "nodes"), name)
        runtime = sim.node_runtime(name)
        if what == "degrade" and method == "POST":
            body = await _body(request)
            runtime.degraded = str(body.get("message") or "simulated node degradation")
        elif what == "degrade" and method == "DELETE":
            runtime.degraded = None
        elif what == "disk" and method == "POST":
            body = await _body(request)
            value = body.get("available_bytes")
            runtime.disk_available = None if value is None else int(value)
        elif what == "kubelet" and method == "POST":
            body = await _body(request)
            ready = bool(body.get("ready", True))
            runtime.kubelet_down = not ready
            if not runtime.rebooting:
                sim.workloads.set_node_ready(
                    name, ready, "NodeStatusUnknown",
                    None if ready else "Kubelet stopped posting node status.")
        else:
            raise errors.method_not_allowed()
        runtime.wake.set()
        sim.openshift.trigger.set()
        return _json(state(sim)["nodes"][name])
    if parts == ["identities"] and method == "POST":
        body = await _body(request)
        name = body.get("name")
        if not name or name in sim.identities:
            raise errors.bad_request("identities need a new, unique name")
        identity = Identity(name, body.get("user") or "simcluster:" + name,
                            tuple(body.get("groups") or ()) + ("system:authenticated",),
                            new_token(), body.get("rules"), body.get("description", ""))
        sim.identities[name] = identity
        sim.authn.add(identity)
        if sim.on_identities_changed is not None:
            sim.on_identities_changed()
        return _json(dict(identity.as_dict(), name=name), 201)
    if parts[:1] == ["apiserver"] and len(parts) == 2 and method == "POST":
        body = await _body(request)
        seconds = float(body.get("seconds", 0))
        if parts[1] == "outage":
            sim.apiserver.outage(seconds)
        elif parts[1] == "rollout":
            sim.apiserver.rollout(seconds)
        else:
            raise errors.method_not_allowed()
        return _json(sim.apiserver.as_dict(), 202)
    if parts == ["reset"] and method == "POST":
        await sim.reset()
        return _json(state(sim))
    raise errors.ApiError(404, "NotFound", "unknown control request %s /%s"
                          % (method, "/".join(parts)), {})
