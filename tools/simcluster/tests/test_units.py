# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The simulator's pure parts, without a server: selectors, patches, Ignition, the MCO's
status rules, FeatureGate validation and the checkpoint re-labelling."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import gzip
import io
import json
import tarfile

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simcluster import admission, errors, ignition, kubelet, patch, selectors
from simcluster.openshift import CURRENT, DESIRED, REASON, STATE, pool_status
from simcluster.resources import Registry

REG = Registry()
FEATUREGATE = REG.get("config.openshift.io", "featuregates")


# --- selectors --------------------------------------------------------------------------------

@pytest.mark.parametrize("text,labels,expected", [
    ("app=counters", {"app": "counters"}, True),
    ("app==counters", {"app": "other"}, False),
    ("app!=counters", {}, True),
    ("tier in (a, b)", {"tier": "b"}, True),
    ("tier notin (a,b)", {"tier": "b"}, False),
    ("tier notin (a,b)", {}, True),
    ("!tier", {"tier": "x"}, False),
    ("tier", {"tier": ""}, True),
    ("app=counters,tier in (a)", {"app": "counters", "tier": "a"}, True),
    ("example.com/role=worker", {"example.com/role": "worker"}, True),
    ("size>3", {"size": "4"}, True),
])
def test_label_selector_semantics(text, labels, expected):
    assert selectors.match_labels(selectors.parse_label_selector(text), labels) is expected


@pytest.mark.parametrize("text", ["app=", "=x", "app in a", "a b"])
def test_bad_label_selector_is_a_400(text):
    if text == "app=":  # an empty value is valid Kubernetes syntax
        assert selectors.parse_label_selector(text) == [("app", "=", [""])]
        return
    with pytest.raises(errors.ApiError) as info:
        selectors.parse_label_selector(text)
    assert info.value.code == 400


def test_field_selector_refuses_unknown_labels_like_the_server():
    allowed = REG.get("", "pods").field_labels
    assert selectors.parse_field_selector("spec.nodeName=worker-1", allowed) == [
        ("spec.nodeName", "=", "worker-1")]
    with pytest.raises(errors.ApiError) as info:
        selectors.parse_field_selector("spec.image=x", allowed)
    assert info.value.message == "field label not supported: spec.image"


def test_label_selector_objects():
    sel = {"matchLabels": {"app": "a"},
           "matchExpressions": [{"key": "tier", "operator": "In", "values": ["x", "y"]}]}
    assert selectors.label_selector_object_matches(sel, {"app": "a", "tier": "y"})
    assert not selectors.label_selector_object_matches(sel, {"app": "a", "tier": "z"})
    assert not selectors.label_selector_object_matches(None, {"app": "a"})


# --- patches ----------------------------------------------------------------------------------

def test_merge_patch_is_rfc7386():
    target = {"a": {"b": 1, "c": 2}, "l": [1, 2]}
    assert patch.merge_patch(target, {"a": {"b": None, "d": 3}, "l": [3]}) == {
        "a": {"c": 2, "d": 3}, "l": [3]}
    assert target == {"a": {"b": 1, "c": 2}, "l": [1, 2]}  # not modified in place


def test_json_patch_operations_and_test_failure():
    doc = {"a": [1, 2], "b": {"c": "d"}}
    out = patch.json_patch(doc, [{"op": "add", "path": "/a/-", "value": 3},
                                 {"op": "replace", "path": "/b/c", "value": "e"},
                                 {"op": "move", "from": "/b/c", "path": "/m"},
                                 {"op": "copy", "from": "/a/0", "path": "/n"},
                                 {"op": "remove", "path": "/a/1"},
                                 {"op": "test", "path": "/m", "value": "e"}])
    assert out == {"a": [1, 3], "b": {}, "m": "e", "n": 1}
    with pytest.raises(errors.ApiError) as info:
        patch.json_patch(doc, [{"op": "test", "path": "/b/c", "value": "zz"}])
    assert info.value.code == 422
    with pytest.raises(errors.ApiError) as info:
        patch.json_patch(doc, [{"op": "remove", "path": "/nope"}])
    assert info.value.code == 422


KEYS = st.text(st.characters(blacklist_characters="~/"), min_size=1, max_size=8)


@given(st.dictionaries(KEYS, st.integers(), max_size=6), KEYS, st.integers())
def test_json_patch_add_then_remove_is_identity(doc, key, value):
    if key in doc:
        return
    added = patch.json_patch(doc, [{"op": "add", "path": "/" + key, "value": value}])
    assert added[key] == value
    assert patch.json_patch(added, [{"op": "remove", "path": "/" + key}]) == doc


def _deployment():
    return {"kind": "Deployment", "spec": {"template": {"spec": {"containers": [
        {"name": "a", "image": "a:1", "env": [{"name": "X", "value": "1"}]},
        {"name": "b", "image": "b:1"}]}}}}


def test_strategic_merge_uses_merge_keys():
    out = patch.strategic_merge_patch(_deployment(), {"spec": {"template": {"spec": {
        "containers": [{"name": "a", "env": [{"name": "Y", "value": "2"}]}]}}}}, "Deployment")
    containers = out["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["a", "b"]
    assert containers[0]["image"] == "a:1"
    assert containers[0]["env"] == [{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}]


def test_strategic_merge_directives():
    base = _deployment()
    deleted = patch.strategic_merge_patch(base, {"spec": {"template": {"spec": {
        "containers": [{"name": "b", "$patch": "delete"}]}}}}, "Deployment")
    assert [c["name"] for c in deleted["spec"]["template"]["spec"]["containers"]] == ["a"]
    replaced = patch.strategic_merge_patch(base, {"spec": {"template": {"spec": {
        "containers": [{"name": "c", "image": "c:1"}, {"$patch": "replace"}]}}}}, "Deployment")
    assert replaced["spec"]["template"]["spec"]["containers"] == [{"name": "c", "image": "c:1"}]
    ordered = patch.strategic_merge_patch(base, {"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "b"}, {"name": "a"}]}}}}, "Deployment")
    assert [c["name"] for c in ordered["spec"]["template"]["spec"]["containers"]] == ["b", "a"]
    finalizers = patch.strategic_merge_patch({"metadata": {"finalizers": ["x", "y"]}}, {
        "metadata": {"$deleteFromPrimitiveList/finalizers": ["x"]}}, "Pod")
    assert finalizers["metadata"]["finalizers"] == ["y"]


def test_strategic_merge_replaces_lists_without_merge_keys():
    out = patch.strategic_merge_patch({"spec": {"tolerations": [{"key": "a"}]}},
                                      {"spec": {"tolerations": [{"key": "b"}]}}, "Pod")
    assert out["spec"]["tolerations"] == [{"key": "b"}]


# --- Ignition and the node's view of its files ------------------------------------------------

CRIU_DROPIN = "[crio.runtime]\nenable_criu_support = true\n"


@pytest.mark.parametrize("source,compression", [
    ("data:,%5Bcrio.runtime%5D%0Aenable_criu_support%20%3D%20true%0A", ""),
    ("data:;base64," + base64.b64encode(CRIU_DROPIN.encode()).decode(), ""),
    ("data:;base64," + base64.b64encode(gzip.compress(CRIU_DROPIN.encode(), mtime=0)).decode(), "gzip"),
    (ignition.encode_source(CRIU_DROPIN), None),
])
def test_data_urls_decode_in_every_butane_form(source, compression):
    assert ignition.decode_source(source, compression).decode() == CRIU_DROPIN


def test_crio_dropins_apply_in_lexical_order():
    files = {"/etc/crio/crio.conf.d/00-default": b"[crio.runtime]\nselinux = true\n",
             "/etc/crio/crio.conf.d/05-enable-criu": CRIU_DROPIN.encode(),
             "/etc/crio/crio.conf.d/10-off": b"[crio.runtime]\nenable_criu_support = false\n"}
    settings, error = ignition.crio_config(files)
    assert error is None
    assert settings["crio.runtime"] == {"selinux": True, "enable_criu_support": False}
    del files["/etc/crio/crio.conf.d/10-off"]
    assert ignition.crio_config(files)[0]["crio.runtime"]["enable_criu_support"] is True
    files["/etc/crio/crio.conf.d/99-broken"] = b"[crio.runtime\n"
    assert "99-broken" in ignition.crio_config(files)[1]


def test_crio_reads_dropin_subdirectories_in_walk_order():
    """cri-o pkg/config/config.go UpdateFromPath: filepath.Walk, so subdirectories are read too,
    a directory's files where its name sorts ("sub" before "sub-x")."""
    on, off = CRIU_DROPIN.encode(), b"[crio.runtime]\nenable_criu_support = false\n"

    def value(files):
        return ignition.crio_config(files)[0]["crio.runtime"]["enable_criu_support"]
    assert value({"/etc/crio/crio.conf.d/05-off": off, "/etc/crio/crio.conf.d/sub/99-on": on}) is True
    assert value({"/etc/crio/crio.conf.d/sub/x": off, "/etc/crio/crio.conf.d/sub-x": on}) is True
    assert value({"/etc/crio/crio.conf.d/sub/x": on, "/etc/crio/crio.conf.d/sub-x": off}) is False


def test_merge_renders_later_machineconfigs_over_earlier_ones():
    def mc(name, data):
        return {"metadata": {"name": name}, "spec": {"config": {
            "ignition": {"version": "3.2.0"}, "storage": {"files": [
                {"path": "/etc/x", "contents": {"source": ignition.encode_source(data)}}]}}}}
    spec = ignition.merge([mc("99-b", "late"), mc("00-a", "early")])
    assert ignition.files_of(spec) == {"/etc/x": b"late"}
    assert ignition.rendered_name("worker", spec).startswith("rendered-worker-")
    with pytest.raises(ignition.IgnitionError):
        ignition.merge([{"metadata": {"name": "x"}, "spec": {"config": {
            "ignition": {"version": "9.9.9"}}}}])


# --- FeatureGate ------------------------------------------------------------------------------

def _fg(spec):
    return {"metadata": {"name": "cluster"}, "spec": spec}


@pytest.mark.parametrize("old,new,message", [
    ({"featureSet": "CustomNoUpgrade"}, {"featureSet": ""},
     'spec.featureSet: Invalid value: "string": CustomNoUpgrade may not be changed'),
    ({"featureSet": "CustomNoUpgrade"}, {},
     'spec: Invalid value: "object": .spec.featureSet cannot be removed'),
    ({"featureSet": "TechPreviewNoUpgrade"}, {"featureSet": ""},
     'spec.featureSet: Invalid value: "string": TechPreviewNoUpgrade may not be changed'),
    ({}, {"featureSet": "Bogus"}, 'spec.featureSet: Unsupported value: "Bogus"'),
    ({}, {"featureSet": "CustomNoUpgrade", "customNoUpgrade": {"enabled": ["has space"]}},
     "spec.customNoUpgrade.enabled[0]: Invalid value: \"has space\""),
])
def test_featuregate_rules(old, new, message):
    with pytest.raises(errors.ApiError) as info:
        admission.validate(FEATUREGATE, _fg(new), _fg(old))
    assert info.value.code == 422
    assert info.value.message.startswith('FeatureGate.config.openshift.io "cluster" is invalid:')
    assert message in info.value.message


def test_featuregate_allowed_transitions():
    admission.validate(FEATUREGATE, _fg({"featureSet": "CustomNoUpgrade"}),
                       _fg({"featureSet": "TechPreviewNoUpgrade"}))
    admission.validate(FEATUREGATE, _fg({"featureSet": "CustomNoUpgrade",
                                         "customNoUpgrade": {"enabled": ["A", "B"]}}),
                       _fg({"featureSet": "CustomNoUpgrade",
                            "customNoUpgrade": {"enabled": ["A"]}}))
    admission.validate(FEATUREGATE, _fg({"featureSet": "CustomNoUpgrade"}), _fg({}))


# --- MachineConfigPool status -----------------------------------------------------------------

def _node(name, current, desired, state="Done", ready=True, unschedulable=False, reason=""):
    return {"metadata": {"name": name, "annotations": {
        CURRENT: current, DESIRED: desired, STATE: state, REASON: reason}},
        "spec": {"unschedulable": True} if unschedulable else {},
        "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


def _pool(target, paused=False, status_config="old"):
    return {"metadata": {"name": "worker", "generation": 4},
            "spec": {"paused": paused, "configuration": {"name": target, "source": []}},
            "status": {"configuration": {"name": status_config}}}


def _conds(status):
    return {c["type"]: c for c in status["conditions"]}


def test_pool_status_while_one_node_updates():
    nodes = [_node("w0", "new", "new"), _node("w1", "old", "new", "Working",
                                              unschedulable=True), _node("w2", "old", "old")]
    status = pool_status(_pool("new"), nodes)
    assert (status["machineCount"], status["updatedMachineCount"], status["readyMachineCount"],
            status["unavailableMachineCount"], status["degradedMachineCount"]) == (3, 1, 1, 1, 0)
    conds = _conds(status)
    assert conds["Updated"]["status"] == "False"
    assert conds["Updating"] == dict(conds["Updating"], status="True",
                                     message="All nodes are updating to new")
    assert status["configuration"]["name"] == "old"
    assert status["observedGeneration"] == 4


def test_pool_status_done_paused_and_degraded():
    done = pool_status(_pool("new"), [_node("w0", "new", "new")])
    assert _conds(done)["Updated"]["message"] == "All nodes are updated with new"
    assert done["configuration"]["name"] == "new"
    paused = pool_status(_pool("new", paused=True), [_node("w0", "old", "old")])
    assert _conds(paused)["Updating"] == dict(_conds(paused)["Updating"], status="False",
                                              message="Pool is paused; will not update to new")
    degraded = pool_status(_pool("new"), [_node("w0", "old", "new", "Degraded",
                                                reason="disk on fire")])
    conds = _conds(degraded)
    assert degraded["degradedMachineCount"] == 1
    assert conds["NodeDegraded"]["reason"] == "1 nodes are reporting degraded status on sync"
    assert conds["NodeDegraded"]["message"] == 'Node w0 is reporting: "disk on fire"'
    assert conds["Degraded"]["status"] == "True"
    rendered = pool_status(_pool("new"), [_node("w0", "new", "new")], "bad source")
    assert _conds(rendered)["RenderDegraded"]["message"] == \
        "Failed to render configuration for pool worker: bad source"
    assert _conds(rendered)["Degraded"]["status"] == "True"


# --- checkpoint archives ----------------------------------------------------------------------

def test_relabelled_archive_keeps_criu_images(tmp_path):
    pod = {"metadata": {"name": "web-1", "namespace": "shop", "uid": "u-1"},
           "spec": {"containers": [{"name": "app", "image": "example/web:2"}]},
           "status": {"podIP": "10.1.2.3", "containerStatuses": [{
               "name": "app", "restartCount": 2, "containerID": "cri-o://abc",
               "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}}}]}}
    target = str(tmp_path / "out.tar")
    kubelet.write_archive(target, pod, "app", "abc", "2026-01-01T00:00:05Z")
    template = tarfile.open(fileobj=io.BytesIO(kubelet._template()))
    out = tarfile.open(target)
    assert out.getnames() == template.getnames()
    spec = json.load(out.extractfile("spec.dump"))
    ann = spec["annotations"]
    assert (ann["io.kubernetes.pod.name"], ann["io.kubernetes.pod.namespace"],
            ann["io.kubernetes.pod.uid"], ann["io.kubernetes.container.name"]) == (
        "web-1", "shop", "u-1", "app")
    assert json.loads(ann["io.kubernetes.cri-o.Metadata"]) == {"name": "app"}
    assert ann["io.kubernetes.cri-o.Name"] == "k8s_app_web-1_shop_u-1_2"
    assert ann["io.kubernetes.cri-o.IP.0"] == "10.1.2.3"
    config = json.load(out.extractfile("config.dump"))
    assert config["name"] == "k8s_app_web-1_shop_u-1_2" and config["id"] == "abc"
    for name in ("checkpoint/pages-1.img", "checkpoint/core-1.img", "rootfs-diff.tar"):
        assert out.extractfile(name).read() == template.extractfile(name).read()
