# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fault injection through ``cluster.sim``: API errors, throttling, slow answers, reset."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import time

import pytest
from kubernetes import client as k8s
from kubernetes.client.rest import ApiException

from harness.client import SimControlError

pytestmark = pytest.mark.simulated_only
POOLS = "/apis/machineconfiguration.openshift.io/v1/machineconfigpools"


def test_500_for_matching_requests_only_and_only_so_often(cluster):
    with cluster.sim.fault(status=500, resource="machineconfigpools", verb="get", times=2,
                           message="etcdserver: request timed out") as rule:
        status, _headers, body = cluster.request("GET", POOLS + "/worker")
        assert status == 500
        error = json.loads(body)
        assert (error["reason"], error["code"]) == ("InternalError", 500)
        assert error["message"] == "Internal error occurred: etcdserver: request timed out"
        assert cluster.request("GET", POOLS)[0] == 200  # a list is not a get
        assert cluster.request("GET", POOLS + "/master")[0] == 500
        assert rule.hits == 2
    assert cluster.request("GET", POOLS + "/worker")[0] == 200


def test_429_carries_retry_after_and_kubectl_retries(cluster):
    with cluster.sim.fault(status=429, retry_after=1, resource="nodes", verb="list", times=1):
        status, headers, body = cluster.request("GET", "/api/v1/nodes")
    assert status == 429
    assert headers["Retry-After"] == "1"
    assert json.loads(body)["details"]["retryAfterSeconds"] == 1
    with cluster.sim.fault(status=429, retry_after=1, resource="nodes", verb="list", times=1):
        started = time.monotonic()
        proc = cluster.kubectl("get", "nodes", "-o", "name")
        elapsed = time.monotonic() - started
    assert proc.returncode == 0, proc.stderr
    assert "node/worker-0" in proc.stdout.split()
    assert elapsed >= 1.0  # client-go waited as told


def test_slow_answers_and_per_user_faults(cluster):
    with cluster.sim.fault(delay=0.8, path="^/api/v1/namespaces/demo/pods"):
        started = time.monotonic()
        assert cluster.request("GET", "/api/v1/namespaces/demo/pods")[0] == 200
        assert time.monotonic() - started >= 0.8
    with cluster.sim.fault(status=503, user="system:serviceaccount:forensic-identities:viewer"):
        v1 = k8s.CoreV1Api(cluster.api_client("viewer"))
        with pytest.raises(ApiException) as info:
            v1.list_node()
        assert info.value.status == 503
        assert k8s.CoreV1Api(cluster.api_client()).list_node().items


def test_bad_fault_requests_are_refused(cluster):
    with pytest.raises(SimControlError) as info:
        cluster.sim.fault(status=200)
    assert info.value.code == 400
    with pytest.raises(SimControlError):
        cluster.sim.fault(status=500, colour="blue")
    with pytest.raises(SimControlError):
        cluster.sim.settings(rollout_delay="fast")


def test_reset_restores_the_initial_cluster(cluster):
    dyn = cluster.dynamic()
    cms = dyn.resources.get(api_version="v1", kind="ConfigMap")
    cms.create(body={"metadata": {"name": "before-reset"}}, namespace="demo")
    cluster.sim.settings(rollout_delay=9)
    rule = cluster.sim.fault(status=500, resource="secrets")
    cluster.sim.reset()
    with pytest.raises(ApiException):
        cms.get(name="before-reset", namespace="demo")
    state = cluster.sim.state()
    assert state["faults"] == [] and state["settings"]["rollout_delay"] == 0.2
    assert rule.hits is None
    pods = dyn.resources.get(api_version="v1", kind="Pod").get(namespace="demo").to_dict()
    assert [p["metadata"]["name"] for p in pods["items"]] == ["counters-7d9f8b6c5d-x2x4q"]
    assert cluster.token("viewer")  # identities and tokens survive a reset
    assert k8s.CoreV1Api(cluster.api_client("viewer")).list_node().items
