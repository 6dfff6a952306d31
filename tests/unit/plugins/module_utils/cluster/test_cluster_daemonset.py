# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The analyser DaemonSet wait: only the target nodes count; pull failures and admission refusals
fail at once with the cluster's own message (the kubelet's waiting reasons, FailedCreate events)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from cluster_fake import Clock, FakeCluster

from ansible_collections.forensic.checkpoint.plugins.module_utils.cluster import daemonset

NS = "forensic-checkpoint"
DS = "/apis/apps/v1/namespaces/%s/daemonsets/checkpoint-analyser" % NS
PODS = "/api/v1/namespaces/%s/pods" % NS
EVENTS = "/api/v1/namespaces/%s/events" % NS


def pod(name, node, ready=True, waiting=None, generation="2"):
    status = {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
              "containerStatuses": [{"name": "analyser", "state": {"waiting": waiting} if waiting else {"running": {}}}]}
    return {"metadata": {"name": name, "labels": {"app": "a", "pod-template-generation": generation}},
            "spec": {"nodeName": node}, "status": status}


def cluster_with(pods, events=()):
    cluster = FakeCluster({DS: {"metadata": {"generation": 2}, "spec": {"selector": {"matchLabels": {"app": "a"}}}}})
    cluster.answers[("GET", PODS)] = {"items": pods}
    cluster.answers[("GET", EVENTS)] = {"items": list(events)}
    return cluster


def run(cluster, nodes, timeout=60):
    clock = Clock()
    return daemonset.wait(cluster, NS, "checkpoint-analyser", nodes, timeout, 3, clock.sleep, clock), clock


def test_only_the_target_nodes_must_be_ready():
    # worker-2 is NotReady and its pod cannot start: it holds no target, so it does not matter
    cluster = cluster_with([pod("a0", "worker-0"), pod("a2", "worker-2", ready=False)])
    result, clock = run(cluster, ["worker-0"])
    assert result["nodes"] == {"worker-0": {"pod": "a0", "ready": True}} and clock.now == 0
    with pytest.raises(daemonset.NotRunning) as caught:
        run(cluster, ["worker-0", "worker-2"], timeout=9)
    assert str(caught.value) == "DaemonSet forensic-checkpoint/checkpoint-analyser: not ready after 9s on node(s) worker-2"


def test_an_old_template_pod_does_not_count_and_progress_is_recorded():
    cluster = cluster_with([])
    cluster.answers[("GET", PODS)] = [{"items": [pod("old", "worker-0", generation="1")]},
                                      {"items": [pod("new", "worker-0", ready=False)]},
                                      {"items": [pod("new", "worker-0")]}]
    result, clock = run(cluster, ["worker-0"])
    assert [p["ready"] for p in result["progress"]] == [[], ["worker-0"]] and clock.now == 6


@pytest.mark.parametrize("waiting, expected", [
    ({"reason": "ImagePullBackOff", "message": 'Back-off pulling image "localhost/forensic-checkpoint-analyser:0.1.0"'},
     'pod a0 on node worker-0: ImagePullBackOff: Back-off pulling image "localhost/forensic-checkpoint-analyser:0.1.0"'),
    ({"reason": "InvalidImageName", "message": 'Failed to apply default image tag "Bad//name": invalid reference format'},
     "pod a0 on node worker-0: InvalidImageName: Failed to apply default image tag"),
])
def test_a_pull_failure_fails_at_once_with_the_pods_message(waiting, expected):
    with pytest.raises(daemonset.NotRunning) as caught:
        run(cluster_with([pod("a0", "worker-0", ready=False, waiting=waiting)]), ["worker-0"])
    assert expected in str(caught.value) and caught.value.result["nodes"]["worker-0"]["ready"] is False


def test_an_admission_refusal_fails_at_once_with_the_events_message():
    refusal = {"reason": "FailedCreate", "lastTimestamp": "2026-12-02T05:00:00Z",
               "message": 'Error creating: pods "checkpoint-analyser-" is forbidden: unable to validate against any '
                          'security context constraint: [provider "privileged": Forbidden: not usable by user or serviceaccount]'}
    with pytest.raises(daemonset.NotRunning) as caught:
        run(cluster_with([], [{"reason": "SuccessfulCreate", "message": "x"}, refusal]), ["worker-0"])
    assert str(caught.value).endswith("cannot create its pods: " + refusal["message"])


def test_a_daemonset_that_selects_no_node_fails_at_once():
    cluster = cluster_with([])
    cluster.objects[DS]["status"] = {"observedGeneration": 2, "desiredNumberScheduled": 0}
    with pytest.raises(daemonset.NotRunning) as caught:
        run(cluster, [])
    assert str(caught.value).endswith("selects no node: check its node selector and tolerations")
