#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: kubelet_checkpoint_access
short_description: Let the kubelets accept checkpoints the API server forwards
version_added: 0.2.0
description:
  - A checkpoint through the API server's node proxy reaches the kubelet as the API server's own
    client identity, never as the caller. The kubelet authorises that identity for C(create) on
    C(nodes/checkpoint), the subresource the kubelet has mapped C(/checkpoint) to since the endpoint
    came (Kubernetes 1.25), on every version and not only with the C(KubeletFineGrainedAuthz)
    gate. Clusters that bind
    the API server only to C(nodes/proxy) (or to the built-in C(system:kubelet-api-admin) role,
    which lacks C(nodes/checkpoint), kubernetes issue 126232) refuse every checkpoint with a
    kubelet 403.
  - Asks the API with a SubjectAccessReview whether O(user) in O(groups) may do that and, when it
    may not and O(grant=true), creates the ClusterRole and ClusterRoleBinding
    C(forensic-checkpoint-kube-apiserver-kubelet-checkpoint) granting exactly that.
  - Granting anything to the caller instead changes nothing; the caller needs C(create) on
    C(nodes/proxy) at the API server.
author:
  - forensic.checkpoint contributors (@forensic-checkpoint)
options:
  user:
    description:
      - The API server's kubelet-client identity (the subject of its kubelet client certificate).
        On OpenShift C(system:kube-apiserver).
    type: str
    default: system:kube-apiserver
  groups:
    description:
      - Its groups. On OpenShift C(kube-master).
    type: list
    elements: str
    default: [kube-master]
  grant:
    description:
      - Grant the permission when it is missing. V(false) only checks, and fails naming what is missing.
    type: bool
    default: true
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
  - forensic.checkpoint.cluster
notes:
  - Needs C(create) on C(subjectaccessreviews.authorization.k8s.io) and, to grant, C(create) and
    C(update) on C(clusterroles) and C(clusterrolebindings) (and the permission granted, as RBAC
    requires of whoever grants it).
attributes:
  check_mode:
    support: full
    description: Asks the same question; the grant is a server-side dry run.
  diff_mode:
    support: full
    description: Shows the ClusterRole and ClusterRoleBinding it creates.
seealso:
  - module: forensic.checkpoint.container_checkpoint
  - name: Kubelet authentication/authorization
    description: How the kubelet maps its API paths to resources and subresources.
    link: https://kubernetes.io/docs/reference/access-authn-authz/kubelet-authn-authz/
"""

EXAMPLES = r"""
- name: Make sure the kubelets accept checkpoints forwarded by the API server
  forensic.checkpoint.kubelet_checkpoint_access:

- name: Only check, for another API server identity
  forensic.checkpoint.kubelet_checkpoint_access:
    user: kube-apiserver-kubelet-client
    groups: []
    grant: false
"""

RETURN = r"""
allowed_before:
  description: Whether the identity had C(create) on C(nodes/checkpoint) before the run.
  returned: always
  type: bool
  sample: false
allowed:
  description: Whether it has it now (in check mode, whether it would).
  returned: success
  type: bool
  sample: true
identity:
  description: The identity asked about.
  returned: always
  type: dict
  sample: {user: "system:kube-apiserver", groups: [kube-master]}
msg:
  description: What was found or done, in one line.
  returned: always
  type: str
  sample: granted create on nodes/checkpoint to system:kube-apiserver (ClusterRole and ClusterRoleBinding ...)
"""

from ansible_collections.forensic.checkpoint.plugins.module_utils.cluster import client, kubelet_access


def main():
    module = client.new_module(
        argument_spec=client.argument_spec(
            user=dict(type="str", default="system:kube-apiserver"),
            groups=dict(type="list", elements="str", default=["kube-master"]),
            grant=dict(type="bool", default=True),
        ),
        supports_check_mode=True,
    )
    p = module.params
    client.run_module(module, lambda: kubelet_access.ensure(client.connect(module), p["user"], p["groups"], p["grant"],
                                                            module.check_mode))


if __name__ == "__main__":
    main()
