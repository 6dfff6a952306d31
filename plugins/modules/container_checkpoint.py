#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: container_checkpoint
short_description: Checkpoint running containers through the kubelet checkpoint API
version_added: 0.1.0
description:
  - Takes a forensic checkpoint of running containers with the kubelet's checkpoint API
    (C(POST /checkpoint/{namespace}/{pod}/{container})), reached through the API server's node
    proxy. The container keeps running; the kubelet writes a CRIU archive of it, every memory page
    included, to C(/var/lib/kubelet/checkpoints) on the pod's node.
  - Select one pod with O(pod) or many with O(label_selectors), for example the pods of a
    Deployment. Every container of each pod is checkpointed unless O(containers) says which.
  - Pods are checked first (they must be running, the containers must exist and run), then
    checkpointed in parallel, at most O(parallel) at a time. A pod a label selector matches that
    cannot be checkpointed (Pending, evicted, terminating, a container in CrashLoopBackOff or not
    running) is skipped and reported in RV(skipped_pods) with the reason; the module fails only when
    nothing could be checkpointed, or with O(all_or_nothing) on any skipped pod or failed checkpoint.
    A pod named with O(pod) that cannot be checkpointed fails the module.
  - Every archive is tied to the container asked for. The pod UID, container ID, container start
    time and restart count are read just before the request and again just after, and compared
    with O(baseline) when given. If the pod was recreated or the container restarted, the archive
    holds the new container's state, not the evidence asked for, and the module says so loudly
    (RV(not_the_evidence), RV(checkpoints[].identity_changed), a warning).
  - Failures say what to do. A 404 from the kubelet means the C(ContainerCheckpoint) feature gate
    is not enabled on that node, see M(forensic.checkpoint.feature_gate). A 500 about missing
    checkpoint/restore support means CRI-O has no CRIU support, see
    M(forensic.checkpoint.machine_config) O(forensic.checkpoint.machine_config#module:preset=crio_criu).
    A 403 from the API server means the caller lacks C(create) on C(nodes/proxy). Through the node
    proxy the kubelet authorises the API server's own client identity, never the caller; a 403
    from the kubelet (C(create) on C(nodes/checkpoint)) names that identity.
  - Each checkpoint creates a new archive, so the module reports a change whenever it takes one.
    In check mode it only reports what it would checkpoint.
  - The archives contain the full memory of the containers, secrets included. Treat them as evidence.
author:
  - forensic.checkpoint contributors (@forensic-checkpoint)
options:
  timeout:
    description:
      - Seconds the kubelet may spend on one checkpoint (its C(timeout) query parameter). The
        kubelet raises any value below its C(runtimeRequestTimeout) (2 minutes by default) to
        that value, so a shorter timeout does not make a checkpoint fail sooner. The container
        runtime's default applies if omitted.
    type: int
  parallel:
    description:
      - How many checkpoints to take at the same time. Each freezes its container while CRIU dumps it.
    type: int
    default: 4
  all_or_nothing:
    description:
      - Fail when any matched pod cannot be checkpointed or any checkpoint fails. By default those
        are reported and the others are taken.
    type: bool
    default: false
  baseline:
    description:
      - Identities recorded when the run began, as M(forensic.checkpoint.checkpoint_preflight)
        returns them in RV(forensic.checkpoint.checkpoint_preflight#module:targets) (C(namespace),
        C(pod), C(container), C(pod_uid), C(container_id), C(started_at), C(restart_count)).
        A checkpoint of a container that differs from its baseline entry, or of a pod of a
        baseline namespace that was not there, is reported as not the evidence asked for.
    type: list
    elements: dict
    default: []
  recover:
    description:
      - Find the archive when the HTTP connection drops during a checkpoint. The kubelet goes on
        dumping after the connection is cut (a load balancer's idle timeout, an API server
        restart), and the archive still lands in its checkpoint directory. The kubelet serves no
        listing of that directory, so with this option the module lists it through the analyser
        pod on that node (one exec of its Python that only lists and stats files), waits for this
        request's archive C(checkpoint-<pod>_<namespace>-<container>-<time>.tar) to stop growing, and
        reports it in RV(checkpoints) with RV(checkpoints[].dropped) saying so. Without this option, or
        when no archive appears within O(recover.wait), the checkpoint is a failure whose message says so.
      - The kubelet names an archive when the request reaches it, so this request's is the earliest named
        from the request's start to two seconds later (on the node's clock, which the listing reads).
        An archive of the same container named later belongs to another checkpoint taken meanwhile; it is
        named in RV(checkpoints[].dropped), not taken. Two checkpoints started within the same two
        seconds cannot be told apart.
      - The caller needs C(create) on C(pods/exec) in O(recover.namespace).
    type: dict
    suboptions:
      namespace:
        description: Namespace of the analyser pods (role forensic.checkpoint.checkpoint_analyser).
        type: str
        required: true
      label_selectors:
        description: Labels that select the analyser pods; the one running on the node is used.
        type: list
        elements: str
        default: [app.kubernetes.io/name=checkpoint-analyser]
      container:
        description: The analyser pods' container.
        type: str
        default: analyser
      python:
        description: The Python interpreter in that container.
        type: str
        default: /usr/bin/python3
      checkpoint_dir:
        description: Where the analyser pods mount the kubelet's checkpoint directory (the same path as on the node).
        type: str
        default: /var/lib/kubelet/checkpoints
      wait:
        description: Seconds to wait for the archive to appear and stop growing.
        type: int
        default: 300
      interval:
        description: Seconds between two listings; an archive is complete when two listings show it unchanged.
        type: int
        default: 2
extends_documentation_fragment:
  - forensic.checkpoint.pod_targets
  - kubernetes.core.k8s_auth_options
  - forensic.checkpoint.cluster
notes:
  - The caller needs C(get)/C(list) on C(pods) in O(namespace) and C(create) on C(nodes/proxy). The
    kubelet authorises the API server's client identity, not the caller, for C(create) on
    C(nodes/checkpoint), see M(forensic.checkpoint.kubelet_checkpoint_access).
  - The C(ContainerCheckpoint) gate (alpha in Kubernetes 1.25 to 1.29, on by default from 1.30) and
    CRIU support in the container runtime are needed on the pod's node.
attributes:
  check_mode:
    support: full
    description: Checks the pods and containers and reports what would be checkpointed; takes no checkpoint.
  diff_mode:
    support: none
    description: Checkpoints create new archives; there is nothing to diff.
seealso:
  - module: forensic.checkpoint.feature_gate
  - module: forensic.checkpoint.machine_config
  - name: Kubernetes kubelet checkpoint API
    description: The API this module calls.
    link: https://kubernetes.io/docs/reference/node/kubelet-checkpoint-api/
"""

EXAMPLES = r"""
- name: Checkpoint every container of the counters Deployment, wherever its pods run
  forensic.checkpoint.container_checkpoint:
    namespace: demo
    label_selectors: [app=counters]
  register: taken

- name: Checkpoint one container of one pod, giving CRIU two minutes
  forensic.checkpoint.container_checkpoint:
    namespace: demo
    pod: counters-7d9f8b6c5d-x2x4q
    containers: [counter]
    timeout: 120

- name: Checkpoint, and find the archive on the node if the connection drops on the way
  forensic.checkpoint.container_checkpoint:
    namespace: demo
    label_selectors: [app=counters]
    recover:
      namespace: forensic-checkpoint
      wait: 600

- name: List the archives
  ansible.builtin.debug:
    msg: "{{ item.node }}:{{ item.path }} ({{ item.duration }} s)"
  loop: "{{ taken.checkpoints }}"
"""

RETURN = r"""
checkpoints:
  description: One entry per container checkpointed (in check mode, per container that would be).
  returned: always
  type: list
  elements: dict
  contains:
    node:
      description: Node the pod runs on, where the archive is.
      type: str
      sample: worker-1
    namespace:
      description: Namespace of the pod.
      type: str
      sample: demo
    pod:
      description: Pod name.
      type: str
      sample: counters-7d9f8b6c5d-x2x4q
    container:
      description: Container name.
      type: str
      sample: counter
    path:
      description: The archive on the node, as the kubelet reported it; null in check mode.
      type: str
      sample: /var/lib/kubelet/checkpoints/checkpoint-counters-7d9f8b6c5d-x2x4q_demo-counter-2026-11-26T22:20:40Z.tar
    duration:
      description: Seconds the checkpoint request took (after a dropped connection, until the archive
        was found complete); null in check mode.
      type: float
      sample: 1.84
    dropped:
      description: Present when the connection dropped and the archive was found on the node with
        O(recover) instead of from the kubelet's answer; says where and after how long.
      type: str
      returned: when the connection dropped and the archive was found
      sample: >-
        connection dropped (...); archive found at
        /var/lib/kubelet/checkpoints/checkpoint-counters-7d9f8b6c5d-x2x4q_demo-counter-2026-11-26T22:20:40Z.tar
        on node worker-1 (5120000 bytes, complete after 4.1 s)
    pod_uid:
      description: The pod's UID, read just before the checkpoint.
      type: str
      sample: 6f1c1e4a-3b2d-4c1e-9f7a-2d3e4f5a6b7c
    container_id:
      description: The container's ID, read just before the checkpoint.
      type: str
      sample: cri-o://4b1f0c9e...
    started_at:
      description: When the container started, read just before the checkpoint.
      type: str
      sample: "2026-11-26T21:02:11Z"
    restart_count:
      description: The container's restart count, read just before the checkpoint.
      type: int
      sample: 0
    identity_changed:
      description: What differs between the container asked for (its O(baseline) entry, the
        selection, just before and just after the request); empty when it is the same container.
      type: list
      elements: str
      sample: ["restart_count 0 -> 1"]
skipped_pods:
  description: Pods the selector matched that cannot be checkpointed, each with C(namespace), C(pod) and C(reason).
  returned: always
  type: list
  elements: dict
  sample:
    - {namespace: demo, pod: counters-7d9f8b6c5d-zz9kq, reason: "container counter is not running (CrashLoopBackOff)"}
not_the_evidence:
  description: Checkpoints (namespace/pod/container) of a container that was recreated or restarted
    since it was selected or since O(baseline); their archives do not hold the state asked for.
  returned: success
  type: list
  elements: str
  sample: [demo/counters-7d9f8b6c5d-x2x4q/counter]
failures:
  description: The checkpoints that failed, each with C(node), C(namespace), C(pod), C(container),
    the HTTP C(status) and an explanation in C(msg).
  returned: when checkpoints were attempted
  type: list
  elements: dict
  sample:
    - node: worker-2
      namespace: demo
      pod: counters-7d9f8b6c5d-abcde
      container: counter
      status: 404
      msg: "demo/counters-7d9f8b6c5d-abcde/counter: the kubelet on node worker-2 answered 404, ..."
msg:
  description: What was done, in one line.
  returned: always
  type: str
  sample: checkpointed 3 container(s) on worker-0, worker-1, worker-2
"""

from ansible_collections.forensic.checkpoint.plugins.module_utils.cluster import client
from ansible_collections.forensic.checkpoint.plugins.module_utils.cluster import checkpoint
from ansible_collections.forensic.checkpoint.plugins.module_utils.cluster import node_archives


def main():
    module = client.new_module(
        argument_spec=client.argument_spec(
            timeout=dict(type="int"),
            parallel=dict(type="int", default=4),
            all_or_nothing=dict(type="bool", default=False),
            baseline=dict(type="list", elements="dict", default=[]),
            recover=dict(type="dict", options=node_archives.SPEC),
            **checkpoint.TARGET_SPEC
        ),
        supports_check_mode=True,
        **checkpoint.TARGET_RULES
    )
    p = module.params
    if p["parallel"] < 1 or (p["timeout"] is not None and p["timeout"] < 1):
        module.fail_json(msg="parallel and timeout must be positive numbers")
    client.run_module(module, lambda: checkpoint.checkpoint(
        lambda: client.connect(module), p["namespace"], p["pod"], p["label_selectors"], p["containers"], p["timeout"],
        p["parallel"], module.check_mode, p["all_or_nothing"], p["baseline"], p["recover"]), partial=dict(checkpoints=[]))


if __name__ == "__main__":
    main()
