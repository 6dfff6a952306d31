# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A container for ``pods/exec``, made with bubblewrap.

Each pod gets a persistent, writable root (``<state>/pods/<uid>/rootfs``) over which the
machine's ``/usr``, ``/etc``, ``/opt`` and library directories are bound read-only: the
machine's programs play the role of the image, and anything written elsewhere (``/tmp``,
``/root``, ``/var``, ``/app`` ...) stays with the pod between execs, as in a container.
Volumes are mounted where the container asks: hostPath volumes show the *node's* directories
(``/var/lib/kubelet/checkpoints`` is the node's checkpoint directory), emptyDir is per pod,
configMap and secret volumes hold their keys as files. PID, IPC and UTS namespaces are
private; the network is the machine's (so the pod can reach the API server on loopback, with
the service-account token mounted where in-cluster clients look for it).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import os
import shutil

from .kubelet import CHECKPOINT_DIR
from .util import dig

HOST_RO_DIRS = ("/usr", "/etc", "/opt")
HOST_LINKABLE = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"


class SandboxError(Exception):
    pass


def bwrap_path():
    return shutil.which("bwrap")


class Sandbox:
    def __init__(self, sim):
        self.sim = sim
        self._tokens = {}

    def pod_dir(self, pod):
        return self.sim.config.path("pods", pod["metadata"]["uid"])

    def _rootfs(self, pod):
        root = os.path.join(self.pod_dir(pod), "rootfs")
        if not os.path.isdir(root):
            os.makedirs(root, mode=0o755)
            for name in ("tmp", "var/tmp"):
                os.makedirs(os.path.join(root, name), exist_ok=True)
                os.chmod(os.path.join(root, name), 0o1777)
            os.makedirs(os.path.join(root, "root"), mode=0o700, exist_ok=True)
            for link in HOST_LINKABLE:
                if os.path.islink(link):
                    os.symlink(os.readlink(link), os.path.join(root, link.lstrip("/")))
        return root

    def host_path(self, node_name, path):
        """Where a node's host path lives on this machine."""
        path = os.path.normpath("/" + path.lstrip("/"))
        if path == CHECKPOINT_DIR or path.startswith(CHECKPOINT_DIR + "/"):
            return self.sim.node_checkpoint_dir(node_name) + path[len(CHECKPOINT_DIR):]
        return os.path.join(self.sim.node_host_dir(node_name), path.lstrip("/"))

    def _write_keys(self, target, data, items, decode):
        if os.path.isdir(target):
            shutil.rmtree(target)
        os.makedirs(target, mode=0o755)
        wanted = {i["key"]: i.get("path", i["key"]) for i in items or []} or \
            {k: k for k in data}
        for key, rel in wanted.items():
            if key not in data:
                continue
            dest = os.path.join(target, rel)
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            value = base64.b64decode(data[key]) if decode else data[key].encode()
            with open(dest, "wb") as handle:
                handle.write(value)

    def _volume_source(self, pod, volume, extra_binds):
        """Host directory for a pod volume (materialised when needed)."""
        node_name = dig(pod, "spec", "nodeName")
        name = volume["name"]
        vol_dir = os.path.join(self.pod_dir(pod), "volumes", name)
        ns = pod["metadata"]["namespace"]
        if "hostPath" in volume:
            host = volume["hostPath"].get("path", "/")
            source = self.host_path(node_name, host)
            os.makedirs(source, exist_ok=True)
            norm = os.path.normpath(host)
            if CHECKPOINT_DIR.startswith(norm.rstrip("/") + "/"):
                # A parent of the checkpoint directory: show the node's checkpoints inside it.
                extra_binds.append((CHECKPOINT_DIR[len(norm.rstrip("/")):],
                                    self.sim.node_checkpoint_dir(node_name)))
            return source
        if "configMap" in volume:
            rt = self.sim.registry.get("", "configmaps")
            cm = self.sim.store.peek(rt, ns, volume["configMap"].get("name")) or {}
            self._write_keys(vol_dir, cm.get("data") or {}, volume["configMap"].get("items"),
                             False)
            return vol_dir
        if "secret" in volume:
            rt = self.sim.registry.get("", "secrets")
            secret = self.sim.store.peek(rt, ns, volume["secret"].get("secretName")) or {}
            self._write_keys(vol_dir, secret.get("data") or {}, volume["secret"].get("items"),
                             True)
            return vol_dir
        os.makedirs(vol_dir, exist_ok=True)  # emptyDir and anything else: a pod directory
        return vol_dir

    def _service_account(self, pod):
        if dig(pod, "spec", "automountServiceAccountToken") is False:
            return None
        ns = pod["metadata"]["namespace"]
        sa_name = dig(pod, "spec", "serviceAccountName", default="default")
        sa = self.sim.store.peek(self.sim.registry.get("", "serviceaccounts"), ns, sa_name)
        if sa is None:
            return None
        target = os.path.join(self.pod_dir(pod), "serviceaccount")
        key = pod["metadata"]["uid"]
        token = self._tokens.get(key)
        if token is None or not os.path.isdir(target):
            token, _expiry = self.sim.authn.mint(ns, sa_name, sa["metadata"]["uid"], 3600 * 24)
            self._tokens[key] = token
            os.makedirs(target, exist_ok=True)
            for name, value in (("token", token), ("namespace", ns),
                                ("ca.crt", self.sim.ca_pem)):
                with open(os.path.join(target, name), "w") as handle:
                    handle.write(value)
        return target

    def _pod_files(self, pod):
        name = pod["metadata"]["name"]
        ip = dig(pod, "status", "podIP", default="")
        files = {"/etc/hostname": name + "\n",
                 "/etc/hosts": "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost "
                               "ip6-loopback\n%s\t%s\n" % (ip or "127.0.1.1", name)}
        out = {}
        for target, text in files.items():
            path = os.path.join(self.pod_dir(pod), "etc-" + os.path.basename(target))
            with open(path, "w") as handle:
                handle.write(text)
            out[target] = path
        return out

    def _env(self, pod, container):
        ns = pod["metadata"]["namespace"]
        fields = {"metadata.name": pod["metadata"]["name"], "metadata.namespace": ns,
                  "metadata.uid": pod["metadata"]["uid"],
                  "spec.nodeName": dig(pod, "spec", "nodeName", default=""),
                  "spec.serviceAccountName": dig(pod, "spec", "serviceAccountName",
                                                 default=""),
                  "status.podIP": dig(pod, "status", "podIP", default=""),
                  "status.hostIP": dig(pod, "status", "hostIP", default="")}
        env = {"PATH": DEFAULT_PATH, "HOSTNAME": pod["metadata"]["name"], "HOME": "/root",
               "KUBERNETES_SERVICE_HOST": self.sim.config.host,
               "KUBERNETES_SERVICE_PORT": str(self.sim.port),
               "KUBERNETES_SERVICE_PORT_HTTPS": str(self.sim.port)}
        for var in container.get("env") or []:
            if "value" in var:
                env[var["name"]] = str(var["value"])
                continue
            source = var.get("valueFrom") or {}
            if "fieldRef" in source:
                env[var["name"]] = fields.get(source["fieldRef"].get("fieldPath"), "")
            elif "configMapKeyRef" in source:
                ref = source["configMapKeyRef"]
                cm = self.sim.store.peek(self.sim.registry.get("", "configmaps"), ns,
                                         ref.get("name")) or {}
                if ref.get("key") in (cm.get("data") or {}):
                    env[var["name"]] = cm["data"][ref["key"]]
            elif "secretKeyRef" in source:
                ref = source["secretKeyRef"]
                secret = self.sim.store.peek(self.sim.registry.get("", "secrets"), ns,
                                             ref.get("name")) or {}
                if ref.get("key") in (secret.get("data") or {}):
                    env[var["name"]] = base64.b64decode(secret["data"][ref["key"]]).decode(
                        "utf-8", "replace")
        return env

    def resolve(self, command, env):
        """Find the program like runc does (PATH lookup); None when it does not exist."""
        program = command[0]
        if "/" in program:
            return program  # a path: let the sandbox itself say whether it exists
        for directory in env.get("PATH", DEFAULT_PATH).split(":"):
            if directory.startswith(HOST_RO_DIRS + HOST_LINKABLE) and \
                    os.access(os.path.join(directory, program), os.X_OK):
                return os.path.join(directory, program)
        return None

    def command(self, pod, container_name, command, tty=False):
        """The bwrap argv running ``command`` in the pod's container, and its environment."""
        bwrap = bwrap_path()
        if not bwrap:
            raise SandboxError("bubblewrap (bwrap) is not installed: pods/exec needs it")
        container = next(c for c in pod["spec"]["containers"] if c["name"] == container_name)
        root = self._rootfs(pod)
        args = [bwrap, "--die-with-parent", "--unshare-pid", "--unshare-ipc", "--unshare-uts",
                "--hostname", pod["metadata"]["name"][:63], "--bind", root, "/"]
        for path in HOST_RO_DIRS:
            if os.path.isdir(path):
                args += ["--ro-bind", path, path]
        for path in HOST_LINKABLE:
            if os.path.isdir(path) and not os.path.islink(path):
                args += ["--ro-bind", path, path]
        args += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/run"]
        for target, source in self._pod_files(pod).items():  # what the kubelet mounts
            args += ["--ro-bind", source, target]
        if not tty:
            args.append("--new-session")
        volumes = {v["name"]: v for v in dig(pod, "spec", "volumes", default=[])}
        mounts = sorted(container.get("volumeMounts") or [],
                        key=lambda m: len(m.get("mountPath", "")))
        for mount in mounts:
            volume = volumes.get(mount.get("name"))
            if volume is None:
                continue
            extra = []
            source = self._volume_source(pod, volume, extra)
            if mount.get("subPath"):
                source = os.path.join(source, mount["subPath"])
                os.makedirs(source, exist_ok=True)
            flag = "--ro-bind" if mount.get("readOnly") else "--bind"
            args += [flag, source, mount["mountPath"]]
            for rel, src in extra:
                os.makedirs(src, exist_ok=True)
                args += [flag, src, mount["mountPath"].rstrip("/") + rel]
        sa_dir = self._service_account(pod)
        if sa_dir:
            args += ["--ro-bind", sa_dir, SA_DIR]
        workdir = container.get("workingDir") or "/"
        if workdir != "/":
            args += ["--dir", workdir]
        args += ["--chdir", workdir, "--clearenv"]
        env = self._env(pod, container)
        for key, value in env.items():
            args += ["--setenv", key, value]
        if tty and shutil.which("setsid"):
            # The terminal must be the controlling one of a session *inside* the PID
            # namespace, or shells cannot set its process group (job control).
            command = ["setsid", "--wait", "--ctty", "--"] + list(command)
        return args + ["--"] + list(command), env
