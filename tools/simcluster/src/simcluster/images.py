# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which images the nodes can pull, and OpenShift's SecurityContextConstraints admission.

Pulls (kubelet pkg/kubelet/images/image_manager.go ``EnsureImageExists``): a reference that
does not parse is ``InvalidImageName`` ("Failed to apply default image tag ..."); a failed pull
is ``ErrImagePull`` with CRI-O's error, then ``ImagePullBackOff`` ("Back-off pulling image
..."). What fails here: ``localhost/...`` (only exists where someone built it on that node),
internal-registry images no ImageStream tag holds, and images matching the
``unpullable_images`` setting (a regular expression).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from .auth import Attributes, Identity, sa_groups, sa_user
from .util import dig

INTERNAL_REGISTRY = "image-registry.openshift-image-registry.svc:5000"
# distribution/reference: lowercase path components, an optional host[:port], tag or digest
_COMPONENT = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")


def parse(image):
    """(host, path, tag), or None when the reference is invalid. A first component with a
    dot or a colon, or "localhost", is a registry host (docker's normalisation)."""
    ref, _sep, digest = (image or "").partition("@")
    if digest and not re.match(r"^sha256:[0-9a-f]{64}$", digest):
        return None
    tag = ""
    if ":" in ref.rsplit("/", 1)[-1]:
        ref, _sep, tag = ref.rpartition(":")
        if not re.match(r"^\w[\w.-]{0,127}$", tag):
            return None
    parts = ref.split("/")
    host = "docker.io"
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        host = parts.pop(0)
    if not all(_COMPONENT.match(p) for p in parts):
        return None
    return host, "/".join(parts), tag or ("" if digest else "latest")


def invalid_reason(image):
    if parse(image) is not None:
        return None
    detail = "repository name must be lowercase" if image != image.lower() else \
        "invalid reference format"
    if detail != "invalid reference format":
        detail = "invalid reference format: " + detail
    return 'Failed to apply default image tag "%s": couldn\'t parse image reference "%s": %s' % (
        image, image, detail)


def pull_error(sim, image, namespace):
    """CRI-O's error text for an image this node cannot pull, or None."""
    host, path, tag = parse(image)
    pattern = sim.settings.unpullable_images
    if host == "localhost":
        return ('rpc error: code = Unknown desc = initializing source docker://%s: pinging '
                'container registry localhost: Get "https://localhost/v2/": dial tcp [::1]:443: '
                'connect: connection refused' % (image if ":" in image.split("/")[-1]
                                                 else image + ":latest"))
    if host == INTERNAL_REGISTRY and not sim.config.openshift:
        return ('rpc error: code = Unknown desc = pinging container registry %s: Get '
                '"https://%s/v2/": dial tcp: lookup %s: no such host'
                % (host, host, host.partition(":")[0]))
    if host == INTERNAL_REGISTRY:
        ns, _sep, name = path.partition("/")
        stream = sim.store.peek(sim.registry.get("image.openshift.io", "imagestreams"), ns, name)
        tags = dig(stream or {}, "status", "tags", default=[])
        # by digest, any image the stream's tag histories hold pulls (the registry serves the
        # stream's images by digest: openshift/image-registry pkg/dockerregistry/server)
        digest = image.partition("@")[2]
        held = any(item.get("image") == digest for t in tags for item in t.get("items") or []) \
            if digest else tag in {t.get("tag") for t in tags}
        if not held:
            return ("rpc error: code = Unknown desc = reading manifest %s in %s/%s: manifest "
                    "unknown" % (digest or tag, host, path))
    if pattern and re.search(pattern, image):
        return ("rpc error: code = Unknown desc = reading manifest %s in %s/%s: manifest "
                "unknown" % (tag, host, path))
    return None


def back_off_message(image):
    return 'Back-off pulling image "%s"' % image


# --- SecurityContextConstraints -------------------------------------------------------------

def _needs(pod):
    """(field path, what the pod asks for, the SCC field that must allow it)."""
    spec = pod.get("spec") or {}
    out = []
    for index, volume in enumerate(spec.get("volumes") or []):
        if "hostPath" in volume:
            out.append(("spec.volumes[%d]" % index, '"hostPath"', "hostPath volumes are not "
                        "allowed to be used", "allowHostDirVolumePlugin"))
    for flag, text in (("hostNetwork", "Host network is not allowed to be used"),
                       ("hostPID", "Host PID is not allowed to be used"),
                       ("hostIPC", "Host IPC is not allowed to be used")):
        if spec.get(flag):
            out.append(("spec.securityContext.%s" % flag, "true", text,
                        "allow" + flag[0].upper() + flag[1:]))
    for index, ctr in enumerate(spec.get("containers") or []):
        if dig(ctr, "securityContext", "privileged"):
            out.append(("spec.containers[%d].securityContext.privileged" % index, "true",
                        "Privileged containers are not allowed", "allowPrivilegedContainer"))
    return out


def scc_admit(sim, pod, requester=None):
    """Pick the SCC a pod validates against (annotate ``openshift.io/scc``) or raise the
    refusal the SCC admission plugin words: ``unable to validate against any security context
    constraint: [provider "NAME": Forbidden: not usable by user or serviceaccount, ...]``.
    Usable: granted to the pod's ServiceAccount (or to ``requester``, the user creating the pod
    directly; controllers count as nobody) by RBAC ``use`` on the SCC, or listed in its
    users/groups; restricted-v2 is usable by every authenticated user, as on OpenShift."""
    from . import errors
    rt_scc = sim.registry.get("security.openshift.io", "securitycontextconstraints")
    if rt_scc is None:
        return  # plain Kubernetes has no SCC admission plugin (Pod Security admission only)
    meta = pod["metadata"]
    ns = meta.get("namespace", "")
    sa = dig(pod, "spec", "serviceAccountName", default="default") or "default"
    identity = Identity(sa, sa_user(ns, sa), tuple(sa_groups(ns)) + ("system:authenticated",))
    required = (meta.get("annotations") or {}).get("openshift.io/required-scc")
    needs = _needs(pod)
    problems = []
    candidates = sorted(sim.store.iter(rt_scc), key=lambda s: (
        -(s.get("priority") or 0), len([n for n in needs if s.get(n[3])]), s["metadata"]["name"]))
    for scc in candidates:
        name = scc["metadata"]["name"]
        if required and name != required:
            continue
        attrs = Attributes("use", "security.openshift.io", "securitycontextconstraints", "",
                           ns, name)
        usable = name == "restricted-v2" or any(
            who.user in (scc.get("users") or []) or
            set(who.groups) & set(scc.get("groups") or []) or sim.authz.allowed(who, attrs)
            for who in (identity, requester) if who is not None)
        if not usable:
            problems.append('provider "%s": Forbidden: not usable by user or serviceaccount'
                            % name)
            continue
        refused = [n for n in needs if not scc.get(n[3])]
        if not refused:
            meta.setdefault("annotations", {})["openshift.io/scc"] = name
            return name
        problems.extend("%s: Invalid value: %s: %s" % (n[0], n[1], n[2]) for n in refused)
    raise errors.ApiError(403, "Forbidden", 'pods "%s" is forbidden: unable to validate against '
                          'any security context constraint: [%s]'
                          % (meta.get("name") or meta.get("generateName", ""),
                             ", ".join(problems)),
                          {"name": meta.get("name") or "", "kind": "pods"})
