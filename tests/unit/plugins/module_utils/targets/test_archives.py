# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Archives tied to their pod, node and analyser pod (targets/archives.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.forensic.checkpoint.plugins.module_utils.targets import archives

# What the kubelet names archives: colons and a UTC offset in the timestamp
PATH = "/var/lib/kubelet/checkpoints/checkpoint-web-0_demo-%s-2026-11-26T22:20:40+01:00.tar"


def pod(name, node, containers, uid="uid-1", phase="Running", deleting=False, ns="demo"):
    meta = {"name": name, "namespace": ns, "uid": uid}
    if deleting:
        meta["deletionTimestamp"] = "2026-11-26T22:00:00Z"
    return {"metadata": meta, "spec": {"nodeName": node, "containers": [{"name": c, "image": "img/%s:1" % c} for c in containers]},
            "status": {"phase": phase, "containerStatuses": [
                {"name": c, "image": "img/%s:1" % c, "imageID": "img/%s@sha256:%s" % (c, "a" * 64),
                 "containerID": "cri-o://%s" % c} for c in containers]}}


def checkpoint(container, node="worker-0", **extra):
    c = {"namespace": "demo", "pod": "web-0", "container": container, "node": node, "path": PATH % container, "duration": 1.5}
    c.update(extra)
    return c


def test_several_containers_of_one_pod_each_get_their_image_and_id():
    got = archives.match([checkpoint("app"), checkpoint("sidecar")], [pod("web-0", "worker-0", ["app", "sidecar"])],
                         [{"metadata": {"name": "worker-0"}, "status": {"nodeInfo": {"kubeletVersion": "v1.30"}}}],
                         [pod("analyser-x", "worker-0", ["analyser"], ns="forensic")])
    assert [a["key"] for a in got["archives"]] == ["demo/web-0/app", "demo/web-0/sidecar"]
    assert [a["container_id"] for a in got["archives"]] == ["cri-o://app", "cri-o://sidecar"]
    assert got["archives"][1]["image_id"].endswith("a" * 64) and got["archives"][0]["pod_uid"] == "uid-1"
    assert got["nodes"] == {"worker-0": {"kubeletVersion": "v1.30"}}
    assert got["missing"] == [] and got["hosts"] == ["forensic-analyser-worker-0"]
    assert got["archives"][0]["path"].endswith("T22:20:40+01:00.tar")  # the name is kept as the kubelet wrote it


def test_identity_from_the_checkpoint_wins_over_the_pod_read_after():
    (a,) = archives.match([checkpoint("app", pod_uid="uid-old", container_id="cri-o://old", identity_changed=["pod UID"])],
                          [pod("web-0", "worker-0", ["app"], uid="uid-new")], [], [])["archives"]
    assert a["pod_uid"] == "uid-old" and a["container_id"] == "cri-o://old" and a["identity_changed"] == ["pod UID"]


def test_no_checkpoints():
    assert archives.match([], [], [], []) == {"archives": [], "analysers": {}, "nodes": {}, "missing": [], "hosts": []}


def test_nodes_without_a_running_analyser_are_missing():
    analysers = [pod("a1", "worker-0", ["analyser"], phase="Pending"), pod("a2", "worker-1", ["analyser"], deleting=True),
                 pod("a3", "worker-2", ["analyser"])]
    got = archives.match([checkpoint("app", node="worker-0"), checkpoint("app", node="worker-1"),
                          checkpoint("app", node="worker-2")], [], [], analysers)
    assert got["missing"] == ["worker-0", "worker-1"] and list(got["analysers"]) == ["worker-2"]


def test_a_pod_gone_before_it_was_read_leaves_unknowns_not_errors():
    (a,) = archives.match([checkpoint("app")], [], [], [])["archives"]
    assert a["image"] is None and a["pod_uid"] is None and a["container_id"] is None


def test_slugs_of_hostile_names_are_plain_file_names():
    assert archives.slug("demo", "../../etc", "a/b") == "demo_..-..-etc_a-b"
    assert archives.slug("..", "") == "_"
    assert archives.slug(".hidden") == "hidden"
    assert archives.slug("x:y", "2026-11-26T22:20:40+01:00") == "x-y_2026-11-26T22-20-40-01-00"
    assert archives.slug("") == "unnamed"


def test_local_archives_are_named_by_file():
    (a,) = archives.local([{"name": "checkpoint-web_demo-app-2026-11-26T22:20:40Z.tar.zst", "path": "/e/x.tar.zst",
                            "namespace": "demo", "pod": "web", "container": "app", "image": "i", "image_id": None, "id": "c1"}])
    assert a["slug"] == "checkpoint-web_demo-app-2026-11-26T22-20-40Z" and a["node"] == "controller" and a["container_id"] == "c1"


def test_analyser_info_and_pods_summary():
    p = pod("analyser-x", "worker-0", ["analyser"], ns="forensic")
    assert archives.analyser(p, "analyser")["image_id"].startswith("img/analyser@sha256:")
    assert archives.analyser(p, "other")["image"] == "img/analyser:1"  # from the spec when no status
    assert archives.analyser(p, "analyser", "/ckpt")["checkpoint_dir_writable"] is False  # not mounted at all
    p["spec"]["containers"][0]["volumeMounts"] = [{"name": "c", "mountPath": "/ckpt/", "readOnly": True}]
    assert archives.analyser(p, "analyser", "/ckpt")["checkpoint_dir_writable"] is False
    p["spec"]["containers"][0]["volumeMounts"][0]["readOnly"] = False
    assert archives.analyser(p, "analyser", "/ckpt")["checkpoint_dir_writable"] is True
    assert archives.pods_summary([p, {"metadata": {"name": "new"}}]) == [
        {"node": "worker-0", "pod": "analyser-x", "phase": "Running"}, {"node": "", "pod": "new", "phase": "Pending"}]
