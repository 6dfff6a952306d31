# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""OpenShift builds, reduced to the Docker strategy: BuildConfig -> Build -> ImageStream tag in
the internal registry, as openshift/openshift-controller-manager's build controllers and the
OpenShift docs ("Builds using BuildConfig", build phases) describe.

* A BuildConfig with a ``ConfigChange`` trigger starts build 1 when created; POST
  ``buildconfigs/<name>/instantiate`` (``oc start-build``) or ``instantiatebinary`` starts the
  next (``status.lastVersion`` + 1). Builds are named ``<bc>-<n>``.
* A Build goes New -> Pending -> Running -> Complete, pushing to
  ``image-registry.openshift-image-registry.svc:5000/<ns>/<stream>:<tag>`` and recording the
  tag in the ImageStream's ``status.tags``; images there then pull on every node.
  An output ImageStream that does not exist keeps the build New with reason
  ``InvalidOutputReference``; a ``FROM`` image no registry serves, or the ``build_failure``
  setting, fails it (``DockerBuildFailed``, "Docker build strategy has failed.").
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import re
import time

from . import images
from .controller import Controller
from .util import dig, hex_id, now_iso, parse_iso

BUILD_GROUP = "build.openshift.io"
MESSAGES = {
    "DockerBuildFailed": "Docker build strategy has failed.",
    "FetchSourceFailed": "Failed to fetch the input source.",
    "PullBuilderImageFailed": "Failed pulling builder image.",
    "PushImageToRegistryFailed": "Failed to push the image to the registry.",
    "InvalidOutputReference": "Output image could not be resolved.",
}


class Builds(Controller):
    name = "builds"

    def __init__(self, sim):
        super().__init__()
        self.sim = sim
        self.store = sim.store
        reg = sim.registry
        self.rt_is = reg.get("image.openshift.io", "imagestreams")
        self.rt_bc = reg.get(BUILD_GROUP, "buildconfigs")
        self.rt_build = reg.get(BUILD_GROUP, "builds")
        self._watched = {rt.key for rt in (self.rt_is, self.rt_bc, self.rt_build) if rt is not None}

    def on_event(self, event):
        if event.rt.key in self._watched:
            self.trigger.set()

    def reconcile(self):
        if self.rt_is is None:
            return  # plain Kubernetes: no build or image API
        for stream in list(self.store.iter(self.rt_is)):
            self._sync_stream(stream)
        for bc in list(self.store.iter(self.rt_bc)):
            triggers = [t.get("type") for t in dig(bc, "spec", "triggers", default=[])]
            if "ConfigChange" in triggers and not dig(bc, "status", "lastVersion", default=0):
                self.instantiate(bc)
        for build in list(self.store.iter(self.rt_build)):
            self._progress(build)

    def _sync_stream(self, stream):
        meta = stream["metadata"]
        repo = "%s/%s/%s" % (images.INTERNAL_REGISTRY, meta["namespace"], meta["name"])
        if dig(stream, "status", "dockerImageRepository") != repo:
            self.store.mutate(self.rt_is, meta["namespace"], meta["name"], lambda o: o.setdefault(
                "status", {}).__setitem__("dockerImageRepository", repo))

    def instantiate(self, bc, cause="Image change"):
        """Start the BuildConfig's next build; returns the Build."""
        ns, name = bc["metadata"]["namespace"], bc["metadata"]["name"]
        version = dig(bc, "status", "lastVersion", default=0) + 1
        self.store.mutate(self.rt_bc, ns, name, lambda o: o.setdefault("status", {}).__setitem__(
            "lastVersion", version))
        spec = copy.deepcopy(bc.get("spec") or {})
        for key in ("triggers", "runPolicy", "successfulBuildsHistoryLimit",
                    "failedBuildsHistoryLimit"):
            spec.pop(key, None)
        spec["triggeredBy"] = [{"message": cause}]
        labels = {"buildconfig": name, "openshift.io/build-config.name": name,
                  "openshift.io/build.start-policy": "Serial"}
        return self.store.create(self.rt_build, {
            "metadata": {"name": "%s-%d" % (name, version), "namespace": ns, "labels": labels,
                         "annotations": {"openshift.io/build-config.name": name,
                                         "openshift.io/build.number": str(version)},
                         "ownerReferences": [{"apiVersion": "build.openshift.io/v1",
                                              "kind": "BuildConfig", "name": name,
                                              "uid": bc["metadata"]["uid"], "controller": True}]},
            "spec": spec,
            "status": {"phase": "New", "config": {"kind": "BuildConfig", "namespace": ns,
                                                  "name": name}},
        }, keep_status=True)

    def _output(self, build):
        """(stream, tag, pull spec) of the build's output ImageStreamTag, or None."""
        to = dig(build, "spec", "output", "to", default={}) or {}
        if to.get("kind") != "ImageStreamTag":
            return None
        stream, _sep, tag = to.get("name", "").partition(":")
        ns = to.get("namespace") or build["metadata"]["namespace"]
        return ns, stream, tag or "latest"

    def _failure(self, build):
        forced = self.sim.settings.build_failure
        if forced:
            return forced
        dockerfile = dig(build, "spec", "source", "dockerfile", default="") or ""
        for base in re.findall(r"(?im)^\s*FROM\s+(\S+)", dockerfile):
            if images.invalid_reason(base) or images.pull_error(
                    self.sim, base, build["metadata"]["namespace"]):
                return "DockerBuildFailed"
        return None

    def _set(self, build, **status):
        def apply(obj):
            obj.setdefault("status", {}).update(status)
        self.store.mutate(self.rt_build, build["metadata"]["namespace"],
                          build["metadata"]["name"], apply)

    def _progress(self, build):
        phase = dig(build, "status", "phase")
        if phase in ("Complete", "Failed", "Cancelled", "Error"):
            return
        delay = self.sim.settings.build_delay
        created = parse_iso(build["metadata"]["creationTimestamp"])
        elapsed = time.time() - created
        output = self._output(build)
        if phase == "New":
            stream = output and self.store.peek(self.rt_is, output[0], output[1])
            if output and stream is None:
                if dig(build, "status", "reason") != "InvalidOutputReference":
                    self._set(build, reason="InvalidOutputReference",
                              message=MESSAGES["InvalidOutputReference"])
                self._wake_at(time.monotonic() + 0.5)
                return
            self._set(build, phase="Pending", reason="", message="")
        elif phase == "Pending" and elapsed >= delay * 0.2:
            self._set(build, phase="Running", startTimestamp=now_iso())
        elif phase == "Running" and elapsed >= delay:
            failure = self._failure(build)
            if failure:
                self._set(build, phase="Failed", reason=failure,
                          message=MESSAGES.get(failure, failure),
                          completionTimestamp=now_iso())
                return
            self._complete(build, output)
            return
        self._wake_at(time.monotonic() + max(0.05, min(delay * 0.2, 0.5)))

    def _complete(self, build, output):
        digest = "sha256:" + hex_id(64)
        status = {"phase": "Complete", "completionTimestamp": now_iso(),
                  "output": {"to": {"imageDigest": digest}}}
        if output:
            ns, stream, tag = output
            repo = "%s/%s/%s" % (images.INTERNAL_REGISTRY, ns, stream)
            status["outputDockerImageReference"] = "%s:%s" % (repo, tag)

            def push(obj):
                tags = [t for t in dig(obj, "status", "tags", default=[]) if t.get("tag") != tag]
                old = next((t for t in dig(obj, "status", "tags", default=[])
                            if t.get("tag") == tag), {"items": []})
                tags.append({"tag": tag, "items": [{
                    "created": now_iso(), "dockerImageReference": "%s@%s" % (repo, digest),
                    "image": digest, "generation": obj["metadata"].get("generation", 1)}] +
                    old.get("items", [])})
                obj.setdefault("status", {})["tags"] = sorted(tags, key=lambda t: t["tag"])
            self.store.mutate(self.rt_is, ns, stream, push)
        self._set(build, **status)
