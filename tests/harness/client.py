# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""``SimControl``: the test-side handle on a running simulator's control API (``cluster.sim``).

    sim.settings(rollout_delay=0.1)           # timings, drain, node time zone
    with sim.fault(status=500, resource="machineconfigpools", verb="get", times=2): ...
    with sim.fault(status=429, retry_after=1, times=1): ...
    with sim.fault(delay=2.0, path="^/api/v1/nodes"): ...   # slow answers
    with sim.kubelet_fault("worker-1", message="CRIU dump failed"): ...
    with sim.kubelet_fault(delay=5): ...                    # a slow checkpoint (try ?timeout=1)
    sim.degrade_node("worker-2", "unexpected on-disk state"); sim.recover_node("worker-2")
    sim.set_kubelet_ready("worker-0", False)                # node NotReady, kubelet unreachable
    sim.set_disk_available("worker-1", 10 << 20)            # Summary API: nearly full disk
    sim.settings(time_scale=0.05); sim.apiserver_outage(60)  # 60 s outage in 3 s
    with sim.kubelet_fault("worker-1", delay=5, drop=0.5): ...  # connection drops, archive lands
    token = sim.add_identity("reader", rules=[{...RBAC PolicyRule...}])
    sim.checkpoint_dir("worker-1")                          # local path of the node's directory
    sim.reset()                                             # back to the initial cluster
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import ssl
import urllib.error
import urllib.request


class SimControlError(Exception):
    def __init__(self, code, body):
        super().__init__("simcluster control API answered %s: %s" % (code, body))
        self.code = code
        self.body = body


class _Rule:
    """A fault that can be removed, also by leaving a ``with`` block."""

    def __init__(self, control, data):
        self._control = control
        self.id = data["id"]
        self.data = data

    def remove(self):
        try:
            self._control._call("DELETE", "/faults/" + self.id)
        except SimControlError as exc:
            if exc.code != 404:  # a rule limited by `times` may already be used up
                raise

    @property
    def hits(self):
        for rule in self._control.state()["faults"]:
            if rule["id"] == self.id:
                return rule["hits"]
        return self.data.get("times")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()
        return False


class SimControl:
    def __init__(self, url, token, ca_cert):
        self.url = url.rstrip("/")
        self._token = token
        self._context = ssl.create_default_context(cafile=ca_cert)

    def _call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            self.url + "/_simcluster/v1" + path, data=data, method=method,
            headers={"Authorization": "Bearer " + self._token,
                     "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, context=self._context, timeout=60) as answer:
                return json.loads(answer.read() or b"{}")
        except urllib.error.HTTPError as exc:
            raise SimControlError(exc.code, exc.read().decode("utf-8", "replace"))

    def state(self):
        return self._call("GET", "/state")

    def settings(self, **values):
        """Change timings etc. (see simcluster.config.Settings); returns all settings."""
        if not values:
            return self._call("GET", "/settings")
        return self._call("PATCH", "/settings", values)

    def fault(self, status=None, delay=0.0, message="", retry_after=1, times=None, **match):
        """Fail (status) and/or slow down (delay seconds) API requests matching all of
        verb, group, resource, subresource, namespace, name, user, method and path (regex)."""
        body = {"kind": "api", "status": status, "delay": delay, "message": message,
                "retry_after": retry_after, "times": times, "match": match}
        return _Rule(self, self._call("POST", "/faults", body))

    def kubelet_fault(self, node="*", message="", delay=0.0, times=None, drop=0.0):
        """Make checkpoints on ``node`` fail with ``message`` and/or take ``delay`` longer;
        ``drop``: the HTTP connection is reset after that many seconds while the archive is
        still written on the node."""
        body = {"kind": "kubelet", "node": node, "message": message, "delay": delay,
                "times": times, "drop": drop}
        return _Rule(self, self._call("POST", "/faults", body))

    def clear_faults(self):
        self._call("DELETE", "/faults")

    def degrade_node(self, node, message="simulated degradation"):
        """The node's machine config daemon reports state=Degraded with ``message``."""
        return self._call("POST", "/nodes/%s/degrade" % node, {"message": message})

    def recover_node(self, node):
        return self._call("DELETE", "/nodes/%s/degrade" % node)

    def set_kubelet_ready(self, node, ready):
        """Stop (False) or resume (True) the node's kubelet: NotReady, proxy unreachable."""
        return self._call("POST", "/nodes/%s/kubelet" % node, {"ready": bool(ready)})

    def set_disk_available(self, node, available_bytes):
        """The Summary API reports at most this much free space on the node (None: real)."""
        return self._call("POST", "/nodes/%s/disk" % node, {"available_bytes": available_bytes})

    def apiserver_outage(self, seconds):
        """Refuse connections for ``seconds`` cluster seconds (times the time_scale setting)."""
        return self._call("POST", "/apiserver/outage", {"seconds": seconds})

    def apiserver_rollout(self, seconds):
        """A kube-apiserver rollout window: 503s, 429s with Retry-After, reset connections."""
        return self._call("POST", "/apiserver/rollout", {"seconds": seconds})

    def add_identity(self, name, rules=None, user=None, groups=()):
        """A new static token with inline RBAC rules; returns the token."""
        body = {"name": name, "rules": rules, "user": user, "groups": list(groups)}
        return self._call("POST", "/identities", body)["token"]

    def node_state(self, node):
        return self.state()["nodes"][node]

    def checkpoint_dir(self, node):
        return self.node_state(node)["checkpoint_dir"]

    def node_host_dir(self, node):
        return self.node_state(node)["host_dir"]

    def reset(self):
        """Back to the freshly started cluster (same URL and tokens)."""
        return self._call("POST", "/reset")
