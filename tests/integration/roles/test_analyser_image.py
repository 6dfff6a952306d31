# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Issue 13 §2: the analyser image the nodes can pull. On OpenShift the role builds
files/Containerfile in the cluster (ImageStream + BuildConfig, Docker strategy, binary context) and
runs the DaemonSet from the internal registry by digest; a failed build fails at once with the
build's reason; without the build API a user image is required and its syntax checked.

The build test runs against a real OpenShift cluster as is (a real build, minutes); the others
need the simulator (fault injection, forced build failures)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
import time

import pytest

from rolehelpers import changed_tasks, explain, tasks_named

NS = "forensic-analyser-build"
NAME = "checkpoint-analyser"
REGISTRY = "image-registry.openshift-image-registry.svc:5000"
PLAY = """
- hosts: localhost
  gather_facts: false
  roles:
    - forensic.checkpoint.checkpoint_analyser
"""
BUILD_TASK = "Build the analyser image"


def _get(cluster, api_version, kind, name, namespace=None):
    from kubernetes.dynamic.exceptions import NotFoundError, ResourceNotFoundError

    try:
        api = cluster.dynamic().resources.get(api_version=api_version, kind=kind)
        return api.get(name=name, namespace=namespace).to_dict()
    except (NotFoundError, ResourceNotFoundError):
        return None


def _builds(cluster):
    api = cluster.dynamic().resources.get(api_version="build.openshift.io/v1", kind="Build")
    return sorted((b.to_dict() for b in api.get(namespace=NS).items), key=lambda b: b["metadata"]["name"])


@pytest.fixture
def values(cluster):
    if cluster.sim is not None:
        cluster.sim.reset()
    return {"checkpoint_analyser_namespace": NS, "checkpoint_analyser_wait_timeout": 300,
            "checkpoint_analyser_build_timeout": 1800}


def test_the_image_is_built_in_the_cluster_and_every_node_runs_it_from_the_internal_registry(cluster, ansible, values):
    try:
        cluster.dynamic().resources.get(api_version="build.openshift.io/v1", kind="BuildConfig")
    except Exception:  # pylint: disable=broad-except
        pytest.skip("not OpenShift: no build API")
    if cluster.sim is not None:
        cluster.sim.settings(build_delay=8)  # longer than a poll (3 s), as real builds are: phases show
    checked = ansible.playbook(PLAY, values, check=True)
    assert checked.rc == 0, explain(checked)
    assert _get(cluster, "build.openshift.io/v1", "BuildConfig", NAME, NS) is None

    first = ansible.playbook(PLAY, values)
    assert first.rc == 0, explain(first)
    build = tasks_named(first, BUILD_TASK)[0]
    phases = [p["phase"] for p in build["progress"]]
    assert phases[0] == "New" and "Running" in phases and phases[-1] == "Complete", build["progress"]
    assert build["built"] is True and build["build"] == NAME + "-1"
    done = _builds(cluster)
    assert [b["metadata"]["name"] for b in done] == [NAME + "-1"]
    digest = done[0]["status"]["output"]["to"]["imageDigest"]
    assert build["image"] == "%s/%s/%s@%s" % (REGISTRY, NS, NAME, digest)
    assert re.search(r"Build %s/%s-1: New -> .*Running -> Complete in [0-9.]+s" % (NS, NAME), first.stdout), explain(first)

    bc = _get(cluster, "build.openshift.io/v1", "BuildConfig", NAME, NS)
    assert bc["spec"]["strategy"]["type"] == "Docker" and bc["spec"]["source"]["type"] == "Binary"
    assert "FROM registry.fedoraproject.org/fedora-minimal:40" in bc["spec"]["source"]["dockerfile"]
    assert "COPY requirements.txt" in bc["spec"]["source"]["dockerfile"]
    stream = _get(cluster, "image.openshift.io/v1", "ImageStream", NAME, NS)
    assert any(item["image"] == digest for tag in stream["status"]["tags"] for item in tag["items"])

    ds = _get(cluster, "apps/v1", "DaemonSet", NAME, NS)
    assert ds["spec"]["template"]["spec"]["containers"][0]["image"] == build["image"]
    nodes = cluster.dynamic().resources.get(api_version="v1", kind="Node").get().items
    assert ds["status"]["numberReady"] == ds["status"]["desiredNumberScheduled"] == len(nodes)

    again = ansible.playbook(PLAY, values)
    assert again.rc == 0, explain(again)
    assert changed_tasks(again) == [], "second run changed: %s" % changed_tasks(again)
    assert len(_builds(cluster)) == 1, "rebuilt an unchanged source"
    assert tasks_named(again, BUILD_TASK)[0]["image"] == build["image"]

    # a mirrored base image (disconnected clusters) changes the source: one new build, pods follow
    mirrored = dict(values, checkpoint_analyser_base_image="mirror.example.com:5000/fedora/fedora-minimal:40")
    checked = ansible.playbook(PLAY, mirrored, check=True)
    assert checked.rc == 0 and len(_builds(cluster)) == 1, explain(checked)
    rebuilt = ansible.playbook(PLAY, mirrored)
    assert rebuilt.rc == 0, explain(rebuilt)
    assert [b["metadata"]["name"] for b in _builds(cluster)] == [NAME + "-1", NAME + "-2"]
    assert "FROM mirror.example.com:5000/fedora/fedora-minimal:40" in _get(
        cluster, "build.openshift.io/v1", "BuildConfig", NAME, NS)["spec"]["source"]["dockerfile"]
    second = tasks_named(rebuilt, BUILD_TASK)[0]["image"]
    assert second != build["image"] and second.startswith("%s/%s/%s@sha256:" % (REGISTRY, NS, NAME))
    assert _get(cluster, "apps/v1", "DaemonSet", NAME, NS)["spec"]["template"]["spec"]["containers"][0]["image"] == second

    gone = ansible.playbook(PLAY, dict(values, checkpoint_analyser_state="absent"))
    assert gone.rc == 0, explain(gone)
    assert _get(cluster, "build.openshift.io/v1", "BuildConfig", NAME, NS) is None
    assert _get(cluster, "image.openshift.io/v1", "ImageStream", NAME, NS) is None


@pytest.mark.simulated_only
@pytest.mark.parametrize("settings, extra", [
    ({"build_failure": "DockerBuildFailed"}, {}),
    # a mirror that does not serve the base image: the build cannot pull its FROM
    ({"unpullable_images": "^mirror.example.com/"}, {"checkpoint_analyser_base_image": "mirror.example.com/fedora:40"}),
])
def test_a_failed_build_fails_the_role_at_once_with_the_builds_reason(cluster, ansible, values, settings, extra):
    cluster.sim.settings(**settings)
    started = time.monotonic()
    result = ansible.playbook(PLAY, dict(values, **extra))
    seconds = time.monotonic() - started
    assert result.rc != 0, explain(result)
    assert seconds < 90, "the build failure took %ds to report" % seconds
    assert "Build %s/%s-1: Failed: DockerBuildFailed: Docker build strategy has failed." % (NS, NAME) in result.stdout, \
        explain(result)
    assert _get(cluster, "apps/v1", "DaemonSet", NAME, NS) is None


@pytest.mark.simulated_only
def _left_behind(cluster):
    """What a failed deployment left in the cluster: the namespace, ServiceAccount, DaemonSet."""
    return [kind for api_version, kind, name, ns in (("v1", "Namespace", NS, None), ("v1", "ServiceAccount", NAME, NS),
                                                     ("apps/v1", "DaemonSet", NAME, NS))
            if _get(cluster, api_version, kind, name, ns) is not None]


def test_without_the_build_api_an_image_is_required_and_checked(cluster, ansible, values):
    """Plain Kubernetes answers 404 for the OpenShift API groups (the simulator's OpenShift mode
    serves them, so the test hides them the same way). The image is resolved before anything is
    created: both failures leave no namespace, ServiceAccount or DaemonSet behind."""
    hidden = [cluster.sim.fault(status=404, path=r"^/apis/%s(/|$)" % re.escape(group), message="the server could "
                                "not find the requested resource")
              for group in ("build.openshift.io", "image.openshift.io")]
    try:
        started = time.monotonic()
        missing = ansible.playbook(PLAY, values)
        seconds = time.monotonic() - started
        after_missing = _left_behind(cluster)
        invalid = ansible.playbook(PLAY, dict(values, checkpoint_analyser_image="Quay.io/Bad//Name"))
        after_invalid = _left_behind(cluster)
        given = ansible.playbook(PLAY, dict(values, checkpoint_analyser_image="quay.io/example/analyser:0.1.0"))
    finally:
        for rule in hidden:
            rule.remove()
    assert missing.rc != 0, explain(missing)
    assert seconds < 30, "the missing image took %ds to report" % seconds
    assert [t for t in tasks_named(missing, "Resolve the analyser image before creating anything") if t.get("failed")], \
        explain(missing)
    assert "analyser image: none given, and this cluster serves no OpenShift build API" in missing.stdout, \
        explain(missing)
    assert "checkpoint_analyser_image" in missing.stdout
    assert invalid.rc != 0 and "'Quay.io/Bad//Name' is not a valid image reference" in invalid.stdout, explain(invalid)
    assert after_missing == [] and after_invalid == [], (after_missing, after_invalid)
    assert given.rc == 0, explain(given)
    ds = _get(cluster, "apps/v1", "DaemonSet", NAME, NS)
    assert ds["spec"]["template"]["spec"]["containers"][0]["image"] == "quay.io/example/analyser:0.1.0"
    assert _get(cluster, "build.openshift.io/v1", "BuildConfig", NAME, NS) is None
