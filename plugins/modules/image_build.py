#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: image_build
short_description: Build an image inside OpenShift (ImageStream, BuildConfig, Build), or validate a given one
version_added: 0.2.0
description:
  - With O(image) given, validates its syntax and returns it; nothing is built.
  - Otherwise, on OpenShift (the C(build.openshift.io) and C(image.openshift.io) API groups are
    served), ensures an ImageStream and a BuildConfig O(name) in O(namespace) with the Docker
    strategy, the Dockerfile inline (O(dockerfile)) and a Binary source, starts a build with
    O(context_files) as its build context (as C(oc start-build --from-dir) does), waits for it and
    returns the image in the internal registry, pinned to the digest the Build reports.
  - A failed build fails at once with the Build's reason and message. The phases seen are
    returned in RV(progress).
  - Idempotent; the BuildConfig records a SHA-256 of what it builds and the image it built, and no
    build starts while they are unchanged and the ImageStream still holds that image.
  - On a cluster without the OpenShift build API and without O(image), fails saying so.
author:
  - forensic.checkpoint contributors (@forensic-checkpoint)
options:
  namespace:
    description: Namespace of the ImageStream and BuildConfig (the DaemonSet's, so its pods may pull the image).
    type: str
    required: true
  name:
    description: Name of the ImageStream and the BuildConfig.
    type: str
    required: true
  image:
    description:
      - A user-supplied image reference (V(registry[:port]/path[:tag][@sha256:digest])). When given,
        nothing is built. Required where the cluster cannot build.
    type: str
    default: ""
  dockerfile:
    description:
      - The Containerfile text. A C(FROM ${BASE_IMAGE}) line takes O(base_image), else the
        C(ARG BASE_IMAGE=) default.
    type: str
    default: ""
  base_image:
    description: The base image (C(FROM)), e.g. a mirror on a disconnected cluster. Empty means the Containerfile's default.
    type: str
    default: ""
  context_files:
    description:
      - Files of the build context, name to text content (what the Containerfile COPYs). Not
        C(context), which names the kubeconfig context.
    type: dict
    default: {}
  tag:
    description: The ImageStream tag the build pushes.
    type: str
    default: latest
  labels:
    description: Labels of the ImageStream and the BuildConfig.
    type: dict
    default: {}
  state:
    description:
      - V(absent) deletes the BuildConfig (with its builds) and the ImageStream.
      - V(resolved) only decides, writing nothing and needing no O(namespace) yet. It validates
        O(image), or fails at once when none is given and the cluster cannot build one, or reports
        in RV(build_needed) that a build will be needed. Run it before creating the namespace and
        the ServiceAccount, so a plain Kubernetes cluster without O(image) fails before anything
        is created.
    type: str
    choices: [present, absent, resolved]
    default: present
  wait_timeout:
    description: Seconds to wait for the build.
    type: int
    default: 1800
  wait_sleep:
    description: Seconds between checks.
    type: int
    default: 3
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
  - forensic.checkpoint.cluster
notes:
  - Needs C(get), C(create) and C(patch) on C(imagestreams) and C(buildconfigs), C(create) on
    C(buildconfigs/instantiatebinary) and C(get) on C(builds) in O(namespace).
  - The cluster needs its internal image registry (the C(ImageRegistry) capability) and, for the
    default base image, access to C(registry.fedoraproject.org); otherwise set O(base_image) to a mirror.
attributes:
  check_mode:
    support: full
    description: Objects are dry-run created or patched; no build starts, RV(image) is then the tag a build would push.
  diff_mode:
    support: none
    description: No diff is reported.
seealso:
  - module: forensic.checkpoint.daemonset_wait
"""

EXAMPLES = r"""
- name: Build the analyser image in the cluster
  forensic.checkpoint.image_build:
    namespace: forensic-checkpoint
    name: checkpoint-analyser
    dockerfile: "{{ lookup('ansible.builtin.file', 'Containerfile', rstrip=false) }}"
    context_files:
      requirements.txt: "{{ lookup('ansible.builtin.file', 'requirements.txt', rstrip=false) }}"
    base_image: mirror.example.com/fedora/fedora-minimal:40
  register: analyser_image

- name: Before creating anything, fail at once when no image is given and the cluster cannot build one
  forensic.checkpoint.image_build:
    namespace: forensic-checkpoint
    name: checkpoint-analyser
    image: "{{ analyser_image_reference | default('') }}"
    state: resolved
  register: analyser_image_plan

- name: Only validate an image built elsewhere
  forensic.checkpoint.image_build:
    namespace: forensic-checkpoint
    name: checkpoint-analyser
    image: registry.example.com/forensic/checkpoint-analyser:0.1.0
"""

RETURN = r"""
image:
  description:
    - The image to run; after a build the internal registry's reference pinned by digest.
    - With O(state=resolved), O(image), or null when a build is needed.
  returned: state is present or resolved
  type: str
  sample: image-registry.openshift-image-registry.svc:5000/forensic-checkpoint/checkpoint-analyser@sha256:4f1c...
openshift:
  description: Whether the cluster serves the OpenShift build API.
  returned: always
  type: bool
build_needed:
  description: Whether the image will be built in the cluster (no O(image) given, OpenShift build API served).
  returned: state is resolved
  type: bool
built:
  description: Whether a build ran in this call.
  returned: state is present
  type: bool
build:
  description: Name of the Build waited for.
  returned: when a build ran
  type: str
  sample: checkpoint-analyser-1
progress:
  description: Each phase change of the Build, with C(elapsed) seconds and C(reason) when there is one.
  returned: state is present
  type: list
  elements: dict
  sample: [{elapsed: 0.0, phase: New}, {elapsed: 3.0, phase: Running}, {elapsed: 61.2, phase: Complete}]
outages:
  description: API outages ridden out while waiting.
  returned: when a build ran
  type: list
  elements: dict
msg:
  description: The outcome in one line.
  returned: always
  type: str
"""

from ansible_collections.forensic.checkpoint.plugins.module_utils.cluster import client, image_build


def main():
    module = client.new_module(
        argument_spec=client.argument_spec(
            namespace=dict(type="str", required=True),
            name=dict(type="str", required=True),
            image=dict(type="str", default=""),
            dockerfile=dict(type="str", default=""),
            base_image=dict(type="str", default=""),
            context_files=dict(type="dict", default={}),
            tag=dict(type="str", default="latest"),
            labels=dict(type="dict", default={}),
            state=dict(type="str", choices=["present", "absent", "resolved"], default="present"),
            wait_timeout=dict(type="int", default=1800),
            wait_sleep=dict(type="int", default=3),
        ),
        supports_check_mode=True,
    )
    client.run_module(module, lambda: image_build.run(client.connect(module), module.params, module.check_mode))


if __name__ == "__main__":
    main()
