# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Images: pull failures as the kubelet reports them, SCC refusals as the admission plugin
words them, and in-cluster builds (BuildConfig -> Build -> ImageStream) whose images pull."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from simtest import value_if, wait_for

NS = "/api/v1/namespaces/demo"
REGISTRY = "image-registry.openshift-image-registry.svc:5000"


def pod_spec(name, image, **extra):
    spec = {"containers": [{"name": "c", "image": image}]}
    spec.update(extra)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}


def waiting(sim, name):
    pod = sim.get(NS + "/pods/" + name)
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return statuses and (statuses[0].get("state") or {}).get("waiting")


def test_an_image_no_node_can_pull_backs_off_with_the_kubelets_message(start_sim):
    sim = start_sim()
    image = "localhost/forensic-checkpoint-analyser:0.1.0"
    sim.json("POST", NS + "/pods", pod_spec("local", image), expect=201)
    first = wait_for("ErrImagePull", lambda: value_if(
        waiting(sim, "local"), lambda w: w["reason"] == "ErrImagePull"))
    assert 'pinging container registry localhost: Get "https://localhost/v2/"' in \
        first["message"]
    later = wait_for("ImagePullBackOff", lambda: value_if(
        waiting(sim, "local"), lambda w: w["reason"] == "ImagePullBackOff"))
    assert later["message"] == 'Back-off pulling image "%s"' % image
    pod = sim.get(NS + "/pods/local")
    assert pod["status"]["phase"] == "Pending"
    ready = next(c for c in pod["status"]["conditions"] if c["type"] == "Ready")
    assert ready["reason"] == "ContainersNotReady"


def test_invalid_image_names_and_preloaded_images(start_sim):
    image = "localhost/forensic-checkpoint-analyser:0.1.0"
    sim = start_sim("--preloaded-image", image)
    sim.json("POST", NS + "/pods", pod_spec("bad", "Quay.io/Example/App"), expect=201)
    bad = wait_for("InvalidImageName", lambda: waiting(sim, "bad"))
    assert bad == {"reason": "InvalidImageName", "message": (
        'Failed to apply default image tag "Quay.io/Example/App": couldn\'t parse image '
        'reference "Quay.io/Example/App": invalid reference format: repository name must be '
        'lowercase')}
    sim.json("POST", NS + "/pods", pod_spec("pre", image), expect=201)
    wait_for("the preloaded image to run", lambda: sim.get(NS + "/pods/pre")["status"].get(
        "phase") == "Running")
    always = pod_spec("always", image)
    always["spec"]["containers"][0]["imagePullPolicy"] = "Always"
    sim.json("POST", NS + "/pods", always, expect=201)
    assert wait_for("a pull", lambda: waiting(sim, "always"))["reason"] in (
        "ErrImagePull", "ImagePullBackOff")


def test_scc_refusals_name_every_provider(start_sim):
    sim = start_sim()
    spec = pod_spec("hostpath", "quay.io/example/a:1", volumes=[
        {"name": "ck", "hostPath": {"path": "/var/lib/kubelet/checkpoints"}}])
    spec["spec"]["containers"][0]["securityContext"] = {"privileged": True}
    # admin may use every SCC: the pod is admitted under privileged
    created = sim.json("POST", NS + "/pods", spec, expect=201)
    assert created["metadata"]["annotations"]["openshift.io/scc"] == "privileged"
    # a DaemonSet's pods are admitted for their ServiceAccount only
    sim.json("POST", "/apis/apps/v1/namespaces/demo/daemonsets", {
        "metadata": {"name": "analyser"}, "spec": {
            "selector": {"matchLabels": {"app": "analyser"}},
            "template": {"metadata": {"labels": {"app": "analyser"}},
                         "spec": spec["spec"]}}}, expect=201)

    def refused():
        events = sim.get(NS + "/events")["items"]
        return next((e for e in events if e["reason"] == "FailedCreate" and
                     e["involvedObject"]["name"] == "analyser"), None)
    event = wait_for("FailedCreate", refused)
    assert event["type"] == "Warning" and event["message"].startswith(
        'Error creating: pods "analyser-" is forbidden: unable to validate against any security '
        'context constraint: [')
    assert 'provider "privileged": Forbidden: not usable by user or serviceaccount' in \
        event["message"]
    assert 'spec.volumes[0]: Invalid value: "hostPath": hostPath volumes are not allowed to be ' \
        'used' in event["message"]
    assert "spec.containers[0].securityContext.privileged: Invalid value: true: Privileged " \
        "containers are not allowed" in event["message"]


def _build_config(dockerfile):
    return {"apiVersion": "build.openshift.io/v1", "kind": "BuildConfig",
            "metadata": {"name": "analyser"},
            "spec": {"source": {"type": "Dockerfile", "dockerfile": dockerfile},
                     "strategy": {"type": "Docker", "dockerStrategy": {}},
                     "output": {"to": {"kind": "ImageStreamTag", "name": "analyser:0.1.0"}},
                     "triggers": [{"type": "ConfigChange"}]}}


def test_a_build_pushes_to_the_internal_registry_and_every_node_pulls_it(start_sim):
    sim = start_sim()
    sim.control("PATCH", "/settings", {"build_delay": 0.6})
    sim.json("POST", "/apis/build.openshift.io/v1/namespaces/demo/buildconfigs",
             _build_config("FROM registry.access.redhat.com/ubi9/python-311\n"), expect=201)
    builds = "/apis/build.openshift.io/v1/namespaces/demo/builds/analyser-1"
    held = wait_for("the build to wait for its ImageStream", lambda: sim.get(builds).get(
        "status", {}).get("reason") == "InvalidOutputReference")
    assert held and sim.get(builds)["status"]["phase"] == "New"
    sim.json("POST", "/apis/image.openshift.io/v1/namespaces/demo/imagestreams",
             {"apiVersion": "image.openshift.io/v1", "kind": "ImageStream",
              "metadata": {"name": "analyser"}}, expect=201)
    phases = []

    def complete():
        phase = sim.get(builds)["status"]["phase"]
        if not phases or phases[-1] != phase:
            phases.append(phase)
        return phase == "Complete"
    wait_for("the build", complete, interval=0.05)
    # Polling can miss a short phase on a loaded machine: the phases seen keep the real order, and
    # the Build records when it started running and when it completed (as OpenShift's Build does).
    order = ["New", "Pending", "Running", "Complete"]
    assert phases == sorted(phases, key=order.index) and phases[-1] == "Complete", phases
    build = sim.get(builds)
    assert build["status"]["startTimestamp"] <= build["status"]["completionTimestamp"]
    image = "%s/demo/analyser:0.1.0" % REGISTRY
    assert build["status"]["outputDockerImageReference"] == image
    stream = sim.get("/apis/image.openshift.io/v1/namespaces/demo/imagestreams/analyser")
    assert stream["status"]["dockerImageRepository"] == REGISTRY + "/demo/analyser"
    assert [t["tag"] for t in stream["status"]["tags"]] == ["0.1.0"]
    for node in ("worker-0", "worker-1", "worker-2"):
        sim.json("POST", NS + "/pods", pod_spec("run-" + node, image, nodeName=node),
                 expect=201)
    wait_for("the built image on every node", lambda: all(
        sim.get(NS + "/pods/run-" + n)["status"].get("phase") == "Running"
        for n in ("worker-0", "worker-1", "worker-2")))
    # an image the registry does not hold (no such tag) does not pull
    sim.json("POST", NS + "/pods", pod_spec("missing", "%s/demo/analyser:9.9" % REGISTRY),
             expect=201)
    assert "manifest unknown" in wait_for("a pull failure", lambda: waiting(sim, "missing"))[
        "message"]
    # by digest: the build's image pulls, a digest the stream never held does not
    digest = build["status"]["output"]["to"]["imageDigest"]
    sim.json("POST", NS + "/pods", pod_spec("pinned", "%s/demo/analyser@%s" % (REGISTRY, digest)),
             expect=201)
    wait_for("the pinned image", lambda: sim.get(NS + "/pods/pinned")["status"].get(
        "phase") == "Running")
    other = "sha256:" + "0" * 64
    sim.json("POST", NS + "/pods", pod_spec("unheld", "%s/demo/analyser@%s" % (REGISTRY, other)),
             expect=201)
    assert "reading manifest %s in" % other in wait_for(
        "a pull failure", lambda: waiting(sim, "unheld"))["message"]


def test_start_build_and_a_failing_build(start_sim):
    sim = start_sim()
    sim.control("PATCH", "/settings", {"build_delay": 0.3, "build_failure": "DockerBuildFailed"})
    sim.json("POST", "/apis/image.openshift.io/v1/namespaces/demo/imagestreams",
             {"metadata": {"name": "analyser"}}, expect=201)
    config = _build_config("FROM registry.access.redhat.com/ubi9/python-311\n")
    config["spec"]["triggers"] = []
    sim.json("POST", "/apis/build.openshift.io/v1/namespaces/demo/buildconfigs", config,
             expect=201)
    started = sim.json("POST", "/apis/build.openshift.io/v1/namespaces/demo/buildconfigs/"
                       "analyser/instantiate", {"kind": "BuildRequest", "apiVersion":
                                                "build.openshift.io/v1",
                                                "metadata": {"name": "analyser"}}, expect=201)
    assert started["metadata"]["name"] == "analyser-1"
    path = "/apis/build.openshift.io/v1/namespaces/demo/builds/analyser-1"
    wait_for("the failure", lambda: sim.get(path)["status"]["phase"] == "Failed")
    status = sim.get(path)["status"]
    assert (status["reason"], status["message"]) == ("DockerBuildFailed",
                                                     "Docker build strategy has failed.")
    # a base image no registry serves fails the build the same way
    sim.control("PATCH", "/settings", {"build_failure": ""})
    config["metadata"]["name"] = "local-base"
    config["spec"]["source"]["dockerfile"] = "FROM localhost/base:1\n"
    sim.json("POST", "/apis/build.openshift.io/v1/namespaces/demo/buildconfigs", config,
             expect=201)
    sim.json("POST", "/apis/build.openshift.io/v1/namespaces/demo/buildconfigs/local-base/"
             "instantiate", {"metadata": {"name": "local-base"}}, expect=201)
    path = "/apis/build.openshift.io/v1/namespaces/demo/builds/local-base-1"
    wait_for("the failure", lambda: sim.get(path)["status"]["phase"] == "Failed")
    assert json.dumps(sim.get(path)["status"]).count("DockerBuildFailed") == 1
