# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The kubelet behind ``/api/v1/nodes/{node}/proxy/...``: the checkpoint API, configz, healthz.

Answers as the kubelet does (through the API server's node proxy):

* 503 from the API server when the node's kubelet cannot be reached (rebooting, down);
* ``404 page not found`` (plain text) while the running kubelet has ContainerCheckpoint off,
  since the route is then not registered at all;
* 404 ``pod does not exist`` / ``container X does not exist`` / ``cannot parse value of
  timeout parameter``;
* 500 ``checkpointing of ns/pod/ctr failed (rpc error: ... checkpoint/restore support not
  available)`` while the CRI-O running on the node has no CRIU support enabled;
* otherwise a real archive in the node's checkpoint directory, named like the kubelet names it
  (``checkpoint-<pod>_<ns>-<ctr>-<RFC3339>.tar``), and ``{"items": ["/var/lib/kubelet/..."]}``.

The archive is the bundled CRI-O checkpoint fixture re-labelled with the target pod's names
(CRI-O annotations in spec.dump, config.dump, bind.mounts); the CRIU images are unchanged.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import asyncio
import io
import json
import os
import tarfile
import threading
import time

from . import errors
from .config import CHECKPOINT_FIXTURE
from .util import dig, rfc3339

CHECKPOINT_DIR = "/var/lib/kubelet/checkpoints"
_TEMPLATE_LOCK = threading.Lock()
_TEMPLATE = {}


class KubeletText(errors.ApiError):
    """A kubelet answer passed through the proxy verbatim (plain text, no Status)."""

    def __init__(self, code, text):
        super().__init__(code, "", text.strip(), text=text)


def _template(path=CHECKPOINT_FIXTURE):
    """The fixture archive, decompressed once (a CRI-O layout plain tar, ~12 MB)."""
    with _TEMPLATE_LOCK:
        data = _TEMPLATE.get(path)
        if data is None:
            import zstandard  # imported lazily: only checkpointing needs it

            with open(path, "rb") as handle:
                data = zstandard.ZstdDecompressor().stream_reader(handle).read()
            _TEMPLATE[path] = data
        return data


def relabel(spec, config, binds, pod, container, container_id, checkpointed_at):
    """Rewrite CRI-O metadata for ``pod``/``container``; returns new (spec, config, binds)."""
    meta = pod["metadata"]
    name, ns, uid = meta["name"], meta["namespace"], meta["uid"]
    image = next((c.get("image", "") for c in dig(pod, "spec", "containers", default=[])
                  if c.get("name") == container), "")
    status = next((s for s in dig(pod, "status", "containerStatuses", default=[])
                   if s.get("name") == container), {})
    restarts = status.get("restartCount", 0)
    created = dig(status, "state", "running", "startedAt", default="") or \
        dig(pod, "status", "startTime", default="")
    old = spec.get("annotations") or {}
    old_uid = old.get("io.kubernetes.pod.uid", "")
    ann = dict(old)
    ann.update({
        "io.kubernetes.pod.name": name,
        "io.kubernetes.pod.namespace": ns,
        "io.kubernetes.pod.uid": uid,
        "io.kubernetes.container.name": container,
        "io.kubernetes.container.restartCount": str(restarts),
        "io.kubernetes.cri-o.ContainerID": container_id,
        "io.kubernetes.cri-o.Name": "k8s_%s_%s_%s_%s_%d" % (container, name, ns, uid, restarts),
        "io.kubernetes.cri-o.SandboxName": "k8s_%s_%s_%s_0" % (name, ns, uid),
        "io.kubernetes.cri-o.Metadata": json.dumps({"name": container}),
        "io.kubernetes.cri-o.Labels": json.dumps({
            "io.kubernetes.container.name": container, "io.kubernetes.pod.name": name,
            "io.kubernetes.pod.namespace": ns, "io.kubernetes.pod.uid": uid}),
        "io.kubernetes.cri-o.LogPath": "/var/log/pods/%s_%s_%s/%s/%d.log"
                                       % (ns, name, uid, container, restarts),
        "io.kubernetes.cri-o.IP.0": dig(pod, "status", "podIP", default=""),
        "io.kubernetes.cri-o.Created": created,
        "io.kubernetes.cri-o.ImageName": image,
        "io.kubernetes.cri-o.MountPoint": "/var/lib/containers/storage/overlay/%s/merged"
                                          % container_id,
    })
    if "openshift.io/scc" in (meta.get("annotations") or {}):
        ann["openshift.io/scc"] = meta["annotations"]["openshift.io/scc"]
    spec = dict(spec, annotations=ann, hostname=name)
    config = dict(config, id=container_id, name=ann["io.kubernetes.cri-o.Name"],
                  rootfsImageName=image, createdTime=created,
                  checkpointedTime=checkpointed_at)
    new_binds = []
    for bind in binds:
        bind = dict(bind)
        source = bind.get("source", "")
        if old_uid:
            source = source.replace(old_uid, uid)
        parts = source.split("/")
        if "containers" in parts and parts.index("containers") + 1 < len(parts):
            parts[parts.index("containers") + 1] = container
            source = "/".join(parts)
        bind["source"] = source
        new_binds.append(bind)
    return spec, config, new_binds


def write_archive(target, pod, container, container_id, checkpointed_at, template=None):
    """Write the re-labelled checkpoint archive to ``target`` (atomically, mode 0600)."""
    data = template if template is not None else _template()
    source = tarfile.open(fileobj=io.BytesIO(data), mode="r:")
    members = source.getmembers()
    texts = {}
    for member in members:
        if member.name in ("spec.dump", "config.dump", "bind.mounts"):
            texts[member.name] = json.loads(source.extractfile(member).read())
    spec, config, binds = relabel(texts["spec.dump"], texts["config.dump"],
                                  texts.get("bind.mounts", []), pod, container, container_id,
                                  checkpointed_at)
    replaced = {"spec.dump": spec, "config.dump": config, "bind.mounts": binds}
    partial = target + ".partial"
    now = int(time.time())
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle, tarfile.open(fileobj=handle, mode="w:",
                                                     format=tarfile.PAX_FORMAT) as out:
        for member in members:
            info = member.replace(mtime=now) if member.name in replaced else member
            if member.name in replaced:
                payload = json.dumps(replaced[member.name]).encode()
                info.size = len(payload)
                out.addfile(info, io.BytesIO(payload))
            elif member.isfile():
                out.addfile(info, source.extractfile(member))
            else:
                out.addfile(info)
    os.replace(partial, target)


class Kubelets:
    """The kubelet of every node, reached through the node proxy subresource."""

    def __init__(self, sim):
        self.sim = sim
        self.rt_pod = sim.registry.get("", "pods")
        self.rt_node = sim.registry.get("", "nodes")

    def _reachable(self, node):
        runtime = self.sim.node_runtime(node["metadata"]["name"])
        cond = next((c for c in dig(node, "status", "conditions", default=[])
                     if c.get("type") == "Ready"), {})
        if runtime.rebooting or runtime.kubelet_down or cond.get("status") != "True":
            ip = next((a["address"] for a in dig(node, "status", "addresses", default=[])
                       if a.get("type") == "InternalIP"), "")
            raise errors.service_unavailable(
                "error trying to reach service: dial tcp %s:10250: connect: connection refused"
                % ip)

    async def handle(self, method, node_name, path, query):
        """Return (status, content type, body) for a proxied kubelet request."""
        node = self.sim.store.peek(self.rt_node, "", node_name)
        if node is None:
            raise errors.not_found(self.rt_node, node_name)
        self._reachable(node)
        parts = [p for p in path.split("/") if p]
        if parts in (["healthz"], ["livez"]):
            return 200, "text/plain", b"ok"
        if parts == ["configz"]:
            return 200, "application/json", json.dumps(
                self.sim.openshift.configz(node_name)).encode()
        if parts and parts[0] == "checkpoint":
            if not self.sim.openshift.checkpoint_gate(node_name):
                raise KubeletText(404, "404 page not found\n")
            if method != "POST" or len(parts) != 4:
                if len(parts) != 4:
                    raise KubeletText(404, "404 page not found\n")
                raise KubeletText(405, "405: Method Not Allowed")
            return await self.checkpoint(node, parts[1], parts[2], parts[3], query)
        raise KubeletText(404, "404 page not found\n")

    async def checkpoint(self, node, namespace, pod_name, container, query):
        node_name = node["metadata"]["name"]
        pod = self.sim.store.peek(self.rt_pod, namespace, pod_name)
        if pod is None or dig(pod, "spec", "nodeName") != node_name:
            raise KubeletText(404, "pod does not exist")
        names = [c.get("name") for key in ("containers", "initContainers",
                                           "ephemeralContainers")
                 for c in dig(pod, "spec", key, default=[])]
        if container not in names:
            raise KubeletText(404, "container %s does not exist" % container)
        timeout = 0
        values = query.getall("timeout", [])
        if values:
            try:
                timeout = int(values[-1])
            except ValueError:
                raise KubeletText(404, "cannot parse value of timeout parameter")

        def failed(why):
            return KubeletText(500, "checkpointing of %s/%s/%s failed (%s)"
                               % (namespace, pod_name, container, why))
        fault = self.sim.faults.kubelet(node_name)
        duration = self.sim.settings.checkpoint_delay + (fault.delay if fault else 0.0)
        if fault is not None and fault.message:
            raise failed("rpc error: code = Unknown desc = %s" % fault.message)
        if not self.sim.openshift.criu_support(node_name):
            raise failed("rpc error: code = Unknown desc = checkpoint/restore support not "
                         "available")
        status = next((s for s in dig(pod, "status", "containerStatuses", default=[])
                       if s.get("name") == container), None)
        if status is None or "running" not in (status.get("state") or {}):
            raise failed("rpc error: code = Unknown desc = container %s is not running"
                         % container)
        if 0 < timeout < duration:
            await asyncio.sleep(timeout)
            raise failed("rpc error: code = DeadlineExceeded desc = context deadline exceeded")
        await asyncio.sleep(duration)
        now = time.time()
        stamp = rfc3339(now, self.sim.settings.node_utc_offset_minutes)
        name = "checkpoint-%s_%s-%s-%s.tar" % (pod_name, namespace, container, stamp)
        directory = self.sim.node_checkpoint_dir(node_name)
        container_id = status.get("containerID", "").partition("://")[2]
        await asyncio.get_event_loop().run_in_executor(
            None, write_archive, os.path.join(directory, name), pod, container, container_id,
            rfc3339(now))
        body = json.dumps({"items": [CHECKPOINT_DIR + "/" + name]}).encode()
        return 200, "application/json", body
