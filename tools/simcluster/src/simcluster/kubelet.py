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

The archive is a real checkpoint from tests/fixtures/archives chosen by workload (``FIXTURES``:
the counters service, the compromised lookup service, the CRIU 4.1.1 job worker), put in the
CRI-O layout (Podman exports lose their Podman-only entries and get CRI-O's config.dump,
annotations, bind.mounts, dump.log) and re-labelled with the target pod's names. Its memory is
the fixture's only for the container the fixture was taken from (the seeded pods): any other
container, e.g. one restarted by a reboot or a replacement pod after a drain, is a new process,
and the values it generated at start (the counters key, the lookup session token, the job
worker's secret) differ in its pages.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import asyncio
import dataclasses
import functools
import gzip
import hashlib
import io
import json
import os
import tarfile
import threading
import time

from . import errors
from .config import ARCHIVES_DIR
from .util import dig, rfc3339

CHECKPOINT_DIR = "/var/lib/kubelet/checkpoints"
# The API server's kubelet-client identity, which the kubelet authorises for proxied requests
# (the caller was authorised by the API server for nodes/proxy; the kubelet never sees it).
APISERVER_USER = "system:kube-apiserver"
APISERVER_GROUPS = ("kube-master", "system:authenticated")
# kubeadm's apiserver-kubelet-client certificate (cmd/kubeadm/app/phases/certs/certlist.go
# KubeadmCertKubeletClient): CN kube-apiserver-kubelet-client, O kubeadm:cluster-admins, a group
# kubeadm binds to cluster-admin
KUBEADM_APISERVER_USER = "kube-apiserver-kubelet-client"
KUBEADM_APISERVER_GROUPS = ("kubeadm:cluster-admins", "system:authenticated")


def apiserver_identity(config):
    """(user, groups) the kubelet sees for requests through the API server's node proxy."""
    if config.openshift:
        return APISERVER_USER, APISERVER_GROUPS
    return KUBEADM_APISERVER_USER, KUBEADM_APISERVER_GROUPS


# How the kubelet names what it authorises (pkg/kubelet/server/auth.go GetRequestAttributes):
# /checkpoint has been nodes/checkpoint since the endpoint appeared in 1.25 (kubernetes PR
# #104907; kubernetes#126232 cites auth.go at b3e769b7, before any fine-grained code;
# kubernetes/website#48012 documents it "introduced with kubernetes 1.25"). KEP-2862's
# KubeletFineGrainedAuthz (PR #126347: alpha 1.32, beta and on by default 1.33) left it alone:
# it only adds pods/healthz/configz for /pods, /runningpods, /healthz and /configz, with proxy
# still accepted there.
KUBELET_SUBRESOURCES = (("stats", "stats"), ("metrics", "metrics"), ("logs", "log"),
                        ("checkpoint", "checkpoint"))
FINE_GRAINED = (("pods", "pods"), ("runningpods", "pods"), ("healthz", "healthz"),
                ("configz", "configz"))
FINE_GRAINED_AUTHZ_MINOR = 33  # KubeletFineGrainedAuthz beta, on by default
DISK_BASE_USED = 41 * 1024 ** 3  # what the OS, images and logs take on the node's disk
_TEMPLATE_LOCK = threading.Lock()
_TEMPLATE = {}


class KubeletText(errors.ApiError):
    """A kubelet answer passed through the proxy verbatim (plain text, no Status)."""

    def __init__(self, code, text):
        super().__init__(code, "", text.strip(), text=text)


@dataclasses.dataclass(frozen=True)
class Fixture:
    file: str
    podman: bool        # a Podman export, converted to the CRI-O layout
    criu: str           # the CRIU version that wrote it (dump.log)
    volatile: tuple     # (bytes, mode): values the process generated at start

    @property
    def path(self):
        return os.path.join(ARCHIVES_DIR, self.file)


FIXTURES = {
    "counters": Fixture("counters-crio.tar.zst", False, "4.2", ((b"RANDOM_1432_KEY", "digits"),)),
    "lookup": Fixture("lookup-compromised.tar.gz", True, "4.2",
                      ((b"ghp_R4nd0mT0k3nV4lu3F0rF0r3ns1csTest01", "token"),)),
    "criu41-worker": Fixture("worker-criu41.tar.gz", True, "4.1.1",
                             ((b"OLD_CRIU_SECRET_5521", "digits"),)),
}
FIXTURE_ANNOTATION = "simcluster.io/checkpoint-archive"
_PODMAN_ONLY = ("artifacts", "devshm-checkpoint.tar", "network.status", "ctr.log", "volumes")


def fixture_for(pod, container):
    """The archive a container's checkpoint is made from: the pod's
    ``simcluster.io/checkpoint-archive`` annotation, else by image, else counters."""
    wanted = ((pod.get("metadata") or {}).get("annotations") or {}).get(FIXTURE_ANNOTATION)
    if wanted in FIXTURES:
        return wanted
    image = next((c.get("image", "") for c in dig(pod, "spec", "containers", default=[])
                  if c.get("name") == container), "")
    if "lookup" in image:
        return "lookup"
    if "criu41" in image or "job-worker" in image:
        return "criu41-worker"
    return "counters"


def fresh_value(marker, mode, seed):
    """A same-length stand-in for ``marker`` that a new process (``seed``) would hold."""
    digest = hashlib.sha256(seed.encode()).hexdigest()
    out = bytearray(marker)
    start = 4 if mode == "token" else 0
    for index in range(start, len(out)):
        pick = int(digest[index % len(digest)], 16) + index
        char = chr(out[index])
        if char.isdigit():
            out[index] = ord("0123456789"[pick % 10])
        elif mode == "token" and char.isalpha():
            alphabet = "abcdefghijklmnopqrstuvwxyz"
            out[index] = ord(alphabet[pick % 26].upper() if char.isupper()
                             else alphabet[pick % 26])
    return bytes(out)


def _quantity(text):
    """A Kubernetes quantity (Ki, Mi, Gi, Ti or plain bytes) in bytes."""
    units = {"Ki": 1024, "Mi": 1024 ** 2, "Gi": 1024 ** 3, "Ti": 1024 ** 4}
    for suffix, factor in units.items():
        if str(text).endswith(suffix):
            return int(text[:-2]) * factor
    return int(text)


def _template(path=None):
    """A fixture archive as a plain tar, decompressed once."""
    path = path or FIXTURES["counters"].path
    with _TEMPLATE_LOCK:
        data = _TEMPLATE.get(path)
        if data is None:
            with open(path, "rb") as handle:
                if path.endswith(".zst"):
                    import zstandard  # imported lazily: only checkpointing needs it

                    data = zstandard.ZstdDecompressor().stream_reader(handle).read()
                elif path.endswith(".gz"):
                    data = gzip.decompress(handle.read())
                else:
                    data = handle.read()
            _TEMPLATE[path] = data
        return data


def _crio_base(spec, config, image):
    """Podman export metadata -> what CRI-O writes (reference notes, archive layout)."""
    spec = dict(spec, annotations={"io.container.manager": "cri-o",
                                   "io.kubernetes.cri-o.ContainerType": "container",
                                   "io.kubernetes.cri-o.TTY": "false"})
    config = {"id": config.get("id", ""), "name": config.get("name", ""),
              "rootfsImage": image, "rootfsImageRef": config.get("rootfsImageID", ""),
              "rootfsImageName": image, "runtime": "runc",
              "createdTime": config.get("createdTime", ""), "checkpointedTime": "",
              "restoredTime": "0001-01-01T00:00:00Z", "restored": False}
    return spec, config


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


def write_archive(target, pod, container, container_id, checkpointed_at, template=None,
                  fixture="counters", fresh=False):
    """Write the re-labelled checkpoint archive to ``target`` (atomically, mode 0600). With
    ``fresh`` the container is not the process the fixture was taken from: the values the
    process generated at start are replaced (seeded by the container ID)."""
    kind = FIXTURES[fixture]
    data = template if template is not None else _template(kind.path)
    source = tarfile.open(fileobj=io.BytesIO(data), mode="r:")
    members = [m for m in source.getmembers()
               if not (kind.podman and m.name.split("/")[0] in _PODMAN_ONLY)]
    texts = {}
    for member in members:
        if member.name in ("spec.dump", "config.dump", "bind.mounts"):
            texts[member.name] = json.loads(source.extractfile(member).read())
    spec, config = texts["spec.dump"], texts["config.dump"]
    extra = {}
    if kind.podman:
        spec, config = _crio_base(spec, config, config.get("rootfsImageName", ""))
        extra = {"dump.log": b"(00.000000) Version: %s (gitid 0)\n" % kind.criu.encode() +
                 b"(00.000012) Dumping processes (pid: 1)\n"
                 b"(00.190480) Dumping finished successfully\n",
                 "io.kubernetes.cri-o.LogPath": b""}
    spec, config, binds = relabel(spec, config, texts.get("bind.mounts", []), pod, container,
                                  container_id, checkpointed_at)
    replaced = {"spec.dump": spec, "config.dump": config, "bind.mounts": binds}
    swaps = [(marker, fresh_value(marker, mode, container_id))
             for marker, mode in kind.volatile] if fresh else []
    # written beside the checkpoint directory and renamed in, so that directory only ever
    # holds whole archives
    incoming = os.path.dirname(os.path.abspath(target)) + "-incoming"
    os.makedirs(incoming, mode=0o700, exist_ok=True)
    partial = os.path.join(incoming, os.path.basename(target) + ".partial")
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
            elif member.isfile() and swaps and member.name.startswith("checkpoint/pages-"):
                payload = source.extractfile(member).read()
                for old, new in swaps:
                    payload = payload.replace(old, new)
                out.addfile(info, io.BytesIO(payload))
            elif member.isfile():
                out.addfile(info, source.extractfile(member))
            else:
                out.addfile(info)
        for name, payload in extra.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(payload), now, 0o644
            out.addfile(info, io.BytesIO(payload))
        if kind.podman and "bind.mounts" not in texts:
            payload = json.dumps(binds).encode()
            info = tarfile.TarInfo("bind.mounts")
            info.size, info.mtime, info.mode = len(payload), now, 0o644
            out.addfile(info, io.BytesIO(payload))
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
        if parts[:1] == ["checkpoint"] and not self.sim.openshift.checkpoint_gate(node_name):
            # no route: Go's mux answers before the restful container and its auth filter
            raise KubeletText(404, "404 page not found\n")
        self._authorize(method, node_name, parts)
        if parts in (["healthz"], ["livez"]):
            return 200, "text/plain", b"ok"
        if parts == ["stats", "summary"]:
            return 200, "application/json", json.dumps(self.summary(node)).encode()
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

    def _authorize(self, method, node_name, parts):
        """The kubelet's own authorisation (webhook SubjectAccessReview) of the API server's
        identity; answered as the kubelet's auth filter words it:
        ``Forbidden (user=..., verb=..., resource=nodes, subresource=...)``."""
        from .auth import Attributes, Identity

        verb = {"POST": "create", "GET": "get", "PUT": "update", "PATCH": "patch",
                "DELETE": "delete"}.get(method, method.lower())
        subs = dict(KUBELET_SUBRESOURCES).get(parts[0] if parts else "")
        subs = [subs] if subs else ["proxy"]
        if self.sim.config.kube_minor >= FINE_GRAINED_AUTHZ_MINOR and subs == ["proxy"]:
            subs = [s for p, s in FINE_GRAINED if parts[:1] == [p]] + subs
        user, groups = apiserver_identity(self.sim.config)
        who = Identity("kube-apiserver", user, groups)
        if not any(self.sim.authz.allowed(who, Attributes(verb, "", "nodes", sub, "", node_name))
                   for sub in subs):
            # the kubelet lists one line per subresource it tried (server.go, since 1.32)
            raise KubeletText(403, "\n".join(
                "Forbidden (user=%s, verb=%s, resource=nodes, subresource=%s)"
                % (user, verb, sub) for sub in subs))

    def summary(self, node):
        """The Summary API's node.fs: the filesystem holding /var/lib/kubelet (the root
        filesystem on RHCOS), so checkpoints written there use it up."""
        name = node["metadata"]["name"]
        runtime = self.sim.node_runtime(name)
        capacity = _quantity(dig(node, "status", "capacity", "ephemeral-storage",
                                 default="125293548Ki"))
        directory = self.sim.node_checkpoint_dir(name)
        archives = sum(os.path.getsize(os.path.join(directory, f)) for f in os.listdir(directory))
        available = max(0, capacity - DISK_BASE_USED - archives)
        if runtime.disk_available is not None:
            available = min(available, runtime.disk_available)
        stamp = rfc3339(time.time())
        fs = {"time": stamp, "availableBytes": available, "capacityBytes": capacity,
              "usedBytes": capacity - available, "inodesFree": 60000000, "inodes": 61000000,
              "inodesUsed": 1000000}
        return {"node": {"nodeName": name, "startTime": stamp, "fs": fs,
                         "runtime": {"imageFs": dict(fs)},
                         "systemContainers": []}, "pods": []}

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
        # the kubelet raises a timeout below its runtimeRequestTimeout (2 min by default) to
        # it: the CRI call gets max(timeout, runtimeRequestTimeout)
        # (pkg/kubelet/cri/remote/remote_runtime.go CheckpointContainer)
        floor = self.sim.settings.runtime_request_timeout
        timeout = max(timeout, floor) if timeout else floor
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
        # the kubelet names the archive before the CRI call (KEP-2008: "In the checkpoint request
        # the kubelet will specify the name ... <timestamp>.tar"), so the name has the request's time
        stamp = rfc3339(time.time(), self.sim.settings.node_utc_offset_minutes)
        job = asyncio.ensure_future(self._write(node_name, pod, pod_name, namespace, container,
                                                status, duration, stamp))
        if fault is not None and fault.drop:
            # the HTTP connection dies (a load balancer's idle timeout, say) while CRI-O goes
            # on writing the archive on the node
            await asyncio.sleep(fault.drop)
            raise ConnectionResetError("connection to the kubelet dropped")
        return await job

    async def _write(self, node_name, pod, pod_name, namespace, container, status, duration,
                     stamp):
        await asyncio.sleep(duration)
        now = time.time()
        name = "checkpoint-%s_%s-%s-%s.tar" % (pod_name, namespace, container, stamp)
        directory = self.sim.node_checkpoint_dir(node_name)
        container_id = status.get("containerID", "").partition("://")[2]
        await asyncio.get_event_loop().run_in_executor(
            None, functools.partial(
                write_archive, os.path.join(directory, name), pod, container, container_id,
                rfc3339(now), fixture=fixture_for(pod, container),
                fresh=container_id not in self.sim.original_containers))
        body = json.dumps({"items": [CHECKPOINT_DIR + "/" + name]}).encode()
        return 200, "application/json", body
