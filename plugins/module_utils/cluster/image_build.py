# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The analyser image: built inside OpenShift, or a user-supplied reference elsewhere.

On OpenShift (the ``build.openshift.io`` and ``image.openshift.io`` groups are served) an
ImageStream and a BuildConfig with the Docker strategy build the Containerfile. The source is
Binary: the Containerfile COPYs ``requirements.txt``, which lives with the collection on the
controller, not in a Git repository the cluster could reach (disconnected clusters, private
forks), so it is sent as the build context as ``oc start-build --from-dir`` does (POST
``buildconfigs/<name>/instantiatebinary``), while the Dockerfile itself is inline in the
BuildConfig (``source.dockerfile``, written into the context by the builder), where ``oc get bc
-o yaml`` shows what is built. Binary builds are never triggered by the cluster itself, so nothing
rebuilds behind the role's back. (OpenShift docs, "Build inputs": Dockerfile source may be used
together with Binary, the binary being the Docker build's context; binary builds cannot be
triggered automatically.)

Idempotence: the BuildConfig carries the SHA-256 of what it builds (Dockerfile, context, output)
and, once a build completed, the digest-pinned image it produced; the next run reuses that image
while the ImageStream still holds it. The DaemonSet runs ``<internal registry>/<ns>/<name>@sha256:``
(the Build's ``status.output.to.imageDigest``), so a later build never changes running pods.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import io
import json
import re
import tarfile
import time

from ansible_collections.forensic.checkpoint.plugins.module_utils.cluster.checkpoint import quote_path
from ansible_collections.forensic.checkpoint.plugins.module_utils.cluster.client import Patient
from ansible_collections.forensic.checkpoint.plugins.module_utils.errors import CheckpointError

GROUPS = ("build.openshift.io", "image.openshift.io")
SOURCE = "forensic.checkpoint/source-sha256"
BUILT_SOURCE = "forensic.checkpoint/built-source-sha256"
BUILT_IMAGE = "forensic.checkpoint/built-image"
DONE = ("Complete", "Failed", "Error", "Cancelled")
NO_BUILD_API = ("none given, and this cluster serves no OpenShift build API (%s) to build one: build "
                "roles/checkpoint_analyser/files/Containerfile, push it to a registry the nodes can pull from and "
                "pass its reference (role variable checkpoint_analyser_image)" % ", ".join(GROUPS))

# distribution/reference's grammar: [domain[:port]/]path-component(/path-component)*[:tag][@digest]
_DOMAIN = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?"
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REFERENCE = re.compile(r"^(?:%s/)?%s(?:/%s)*(?::[\w][\w.-]{0,127})?(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*"
                        r":[0-9a-fA-F]{32,})?$" % (_DOMAIN, _COMPONENT, _COMPONENT))
_FROM_ARG = re.compile(r"(?m)^(FROM\s+)\$\{?BASE_IMAGE\}?(?=\s|$)")


def validate_reference(reference, what):
    """Raise a one-line error unless ``reference`` is an image reference a kubelet can parse."""
    name = reference.partition("@")[0]
    if not _REFERENCE.match(reference or "") or len(name.rpartition(":")[0] if ":" in name.rsplit("/", 1)[-1]
                                                    else name) > 255:
        raise CheckpointError(what, "%r is not a valid image reference ([registry[:port]/]path[:tag][@sha256:digest],"
                                    " path in lowercase)" % reference)
    return reference


def has_build_api(cluster):
    """Whether the cluster serves OpenShift builds and image streams (plain Kubernetes answers 404)."""
    return all(cluster.get("/apis/%s/v1" % group, "API group %s" % group, missing_ok=True) is not None
               for group in GROUPS)


def dockerfile_for(text, base_image=""):
    """The Containerfile with its ``FROM ${BASE_IMAGE}`` resolved: the mirror given, else the ARG default."""
    default = re.search(r"(?m)^ARG\s+BASE_IMAGE=(\S+)", text)
    base = base_image or (default.group(1) if default else "")
    if not _FROM_ARG.search(text):
        return text
    if not base:
        raise CheckpointError("Containerfile", "FROM ${BASE_IMAGE} without a default: give the base image")
    validate_reference(base, "base image")
    return _FROM_ARG.sub(lambda m: m.group(1) + base, text)


def context_tar(files):
    """The build context as an uncompressed tar, byte-identical for the same files."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, content in sorted(files.items()):
            data = content.encode("utf-8")
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


class BuildFailed(CheckpointError):
    """The Build failed or did not finish; ``result`` has what was seen."""

    def __init__(self, subject, problem, result):
        super(BuildFailed, self).__init__(subject, problem)
        self.result = result


class Builder(object):
    """ImageStream + BuildConfig ``name`` in ``namespace``; its builds and their image."""

    def __init__(self, cluster, namespace, name, sleep=time.sleep, clock=time.monotonic):
        self.cluster, self.namespace, self.name = cluster, namespace, name
        self.sleep, self.clock = sleep, clock
        ns = quote_path(namespace)
        self.streams = "/apis/image.openshift.io/v1/namespaces/%s/imagestreams" % ns
        self.configs = "/apis/build.openshift.io/v1/namespaces/%s/buildconfigs" % ns
        self.builds = "/apis/build.openshift.io/v1/namespaces/%s/builds" % ns
        self.bc_subject = "BuildConfig %s/%s" % (namespace, name)
        self.is_subject = "ImageStream %s/%s" % (namespace, name)

    def _buildconfig(self, dockerfile, tag, labels, digest):
        return {"apiVersion": "build.openshift.io/v1", "kind": "BuildConfig",
                "metadata": {"name": self.name, "namespace": self.namespace, "labels": labels,
                             "annotations": {SOURCE: digest}},
                "spec": {"runPolicy": "Serial", "triggers": [],
                         "source": {"type": "Binary", "binary": {}, "dockerfile": dockerfile},
                         "strategy": {"type": "Docker", "dockerStrategy": {}},
                         "output": {"to": {"kind": "ImageStreamTag", "name": "%s:%s" % (self.name, tag)}},
                         "successfulBuildsHistoryLimit": 2, "failedBuildsHistoryLimit": 2}}

    def ensure(self, dockerfile, files, base_image="", tag="latest", labels=None, timeout=1800, interval=3,
               check=False):
        """The module result: ``image`` (digest-pinned after a build), ``built``, ``build``, ``progress``."""
        labels = labels or {}
        dockerfile = dockerfile_for(dockerfile, base_image)
        context = context_tar(files)
        wanted = self._buildconfig(dockerfile, tag, labels, "")
        digest = hashlib.sha256(json.dumps([wanted["spec"], hashlib.sha256(context).hexdigest()],
                                           sort_keys=True).encode()).hexdigest()
        wanted["metadata"]["annotations"][SOURCE] = digest
        result = {"changed": False, "openshift": True, "built": False, "build": None, "progress": [],
                  "outages": []}

        stream = self.cluster.get("%s/%s" % (self.streams, quote_path(self.name)), self.is_subject, missing_ok=True)
        if stream is None:
            self.cluster.create(self.streams, self.is_subject, {
                "apiVersion": "image.openshift.io/v1", "kind": "ImageStream",
                "metadata": {"name": self.name, "namespace": self.namespace, "labels": labels}})
            result["changed"] = True
        bc = self.cluster.get("%s/%s" % (self.configs, quote_path(self.name)), self.bc_subject, missing_ok=True)
        annotations = ((bc or {}).get("metadata") or {}).get("annotations") or {}
        if bc is None:
            self.cluster.create(self.configs, self.bc_subject, wanted)
            result["changed"] = True
        elif annotations.get(SOURCE) != digest:
            self.cluster.merge_patch("%s/%s" % (self.configs, quote_path(self.name)), self.bc_subject,
                                     {"metadata": wanted["metadata"], "spec": wanted["spec"]})
            result["changed"] = True
        image = annotations.get(BUILT_IMAGE)
        if annotations.get(BUILT_SOURCE) == digest and self._holds(stream, image):
            result.update(image=image, msg="%s: image %s is current (built from the same source)"
                          % (self.bc_subject, image))
            return result
        result["changed"] = True
        if check:
            repo = ((stream or {}).get("status") or {}).get("dockerImageRepository") or \
                "image-registry.openshift-image-registry.svc:5000/%s/%s" % (self.namespace, self.name)
            result.update(image="%s:%s" % (repo, tag), msg="%s: would build %s:%s" % (self.bc_subject, repo, tag))
            return result
        build = self._running(bc, digest) or self.cluster.request(
            "POST", "%s/%s/instantiatebinary" % (self.configs, quote_path(self.name)), self.bc_subject,
            body=context, content_type="application/octet-stream", write=True)
        result.update(self.wait(build["metadata"]["name"], timeout, interval, first=build))
        self.cluster.merge_patch("%s/%s" % (self.configs, quote_path(self.name)), self.bc_subject,
                                 {"metadata": {"annotations": {BUILT_SOURCE: digest, BUILT_IMAGE: result["image"]}}})
        return result

    @staticmethod
    def _holds(stream, image):
        """Whether the ImageStream still has ``image`` (repo@digest) in one of its tags' histories."""
        if not image or "@" not in image:
            return False
        wanted = image.partition("@")[2]
        return any(item.get("image") == wanted for tag in ((stream or {}).get("status") or {}).get("tags") or []
                   for item in tag.get("items") or [])

    def _running(self, bc, digest):
        """The BuildConfig's latest build when it is still running this same source (a run cut short)."""
        if not bc or (((bc.get("metadata") or {}).get("annotations") or {}).get(SOURCE) != digest):
            return None
        version = ((bc.get("status") or {}).get("lastVersion")) or 0
        build = self.cluster.get("%s/%s-%d" % (self.builds, quote_path(self.name), version),
                                 "Build %s/%s-%d" % (self.namespace, self.name, version), missing_ok=True) \
            if version else None
        return build if build and ((build.get("status") or {}).get("phase") not in DONE) else None

    def wait(self, build_name, timeout=1800, interval=3, first=None):
        """Until the Build completes; each phase change is recorded (from ``first``, the Build as
        started, when given). A failed build raises at once."""
        subject = "Build %s/%s" % (self.namespace, build_name)
        api = Patient(min(timeout, 900), self.sleep, self.clock)
        start, progress, last = self.clock(), [], None
        while True:
            build = first or api.call(self.cluster.get, "%s/%s" % (self.builds, quote_path(build_name)), subject)
            first = None
            status = build.get("status") or {}
            phase, reason = status.get("phase") or "New", status.get("reason") or ""
            elapsed = round(self.clock() - start, 1)
            if (phase, reason) != last:
                last = (phase, reason)
                progress.append(dict({"elapsed": elapsed, "phase": phase}, **({"reason": reason} if reason else {})))
            result = {"build": build_name, "progress": progress, "outages": api.outages}
            if phase == "Complete":
                reference = status.get("outputDockerImageReference") or ""
                image_digest = ((status.get("output") or {}).get("to") or {}).get("imageDigest")
                repo = reference.rpartition(":")[0] if ":" in reference.rsplit("/", 1)[-1] else reference
                result.update(built=True, image="%s@%s" % (repo, image_digest) if image_digest else reference)
                result["msg"] = "%s: %s in %.1fs; image %s" % (
                    subject, " -> ".join(p["phase"] for p in progress), elapsed, result["image"])
                return result
            if phase in DONE:
                raise BuildFailed(subject, "%s: %s: %s (see: oc logs build/%s -n %s)" % (
                    phase, reason or "no reason given", status.get("message") or "", build_name, self.namespace),
                    result)
            if elapsed >= timeout:
                raise BuildFailed(subject, "still %s after %ds%s" % (phase, timeout, ": %s: %s" % (
                    reason, status.get("message") or "") if reason else ""), result)
            self.sleep(interval)

    def remove(self, check=False):
        """Delete the BuildConfig (its builds go with it) and the ImageStream; whether anything was there."""
        changed = False
        for path, subject in (("%s/%s" % (self.configs, quote_path(self.name)), self.bc_subject),
                              ("%s/%s" % (self.streams, quote_path(self.name)), self.is_subject)):
            if self.cluster.get(path, subject, missing_ok=True) is not None:
                if not check:
                    self.cluster.request("DELETE", path, subject, body={"propagationPolicy": "Background"},
                                         write=True)
                changed = True
        return changed


def run(cluster, params, check=False):
    """The image_build module: the image to run, built in-cluster when none is given."""
    subject = "analyser image"
    if params["image"]:
        validate_reference(params["image"], subject)
    openshift = has_build_api(cluster)
    builder = Builder(cluster, params["namespace"], params["name"])
    if params["state"] == "resolved":
        if not params["image"] and not openshift:
            raise CheckpointError(subject, NO_BUILD_API)
        return {"changed": False, "openshift": openshift, "image": params["image"] or None,
                "build_needed": not params["image"],
                "msg": "using the image given: %s" % params["image"] if params["image"] else
                "no image given: it will be built in the cluster (%s)" % builder.bc_subject}
    if params["state"] == "absent":
        changed = openshift and builder.remove(check)
        return {"changed": changed, "openshift": openshift, "msg": "%s removed" % builder.bc_subject
                if changed else "nothing to remove"}
    if params["image"]:
        return {"changed": False, "openshift": openshift, "built": False, "image": params["image"],
                "progress": [], "msg": "using the image given: %s" % params["image"]}
    if not openshift:
        raise CheckpointError(subject, NO_BUILD_API)
    if not params["dockerfile"].strip():
        raise CheckpointError(subject, "nothing to build: the dockerfile is empty")
    return builder.ensure(params["dockerfile"], params["context_files"] or {}, params["base_image"] or "", params["tag"],
                          params["labels"] or {}, params["wait_timeout"], params["wait_sleep"], check)
