# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Preflight: per node, whether checkpointing works now, from the node, its rendered config, its
pool and the kubelet probe; nothing is written."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

import pytest

from cluster_fake import FakeCluster, api_error

from ansible_collections.forensic.checkpoint.plugins.module_utils.cluster import machine_config, preflight
from ansible_collections.forensic.checkpoint.plugins.module_utils.errors import CheckpointError

try:
    from urllib.parse import quote
except ImportError:  # pragma: no cover
    from urllib import quote

PODS = "/api/v1/namespaces/demo/pods"
MCS = "/apis/machineconfiguration.openshift.io/v1/machineconfigs"
POOLS = "/apis/machineconfiguration.openshift.io/v1/machineconfigpools"
MCO = "machineconfiguration.openshift.io/"
PROBE = "/api/v1/nodes/worker-0/proxy/checkpoint/demo/forensic-checkpoint-preflight-probe/probe"
SUMMARY = "/api/v1/nodes/worker-0/proxy/stats/summary"


def data(text):
    return {"source": "data:," + quote(text, safe=""), "compression": ""}


def rendered(name, gate=None, criu=None):
    gates = {"NodeSwap": False}
    if gate is not None:
        gates["ContainerCheckpoint"] = gate
    files = [{"path": "/etc/kubernetes/kubelet.conf", "contents": data(json.dumps({"featureGates": gates}))},
             {"path": "/etc/crio/crio.conf.d/00-default", "contents": data("[crio.runtime]\nselinux = true\n")}]
    if criu is not None:
        files.append({"path": "/etc/crio/crio.conf.d/05-enable-criu",
                      "contents": data("[crio.runtime]\nenable_criu_support = %s\n" % str(criu).lower())})
    return {"metadata": {"name": name}, "spec": {"config": {"storage": {"files": files}}}}


def node(current="rendered-worker-1", desired=None, state="Done", ready="True", kubelet="v1.26.9+abc",
         crio="cri-o://1.26.4-3.rhaos4.13.el9"):
    annotations = {MCO + "currentConfig": current, MCO + "desiredConfig": desired or current, MCO + "state": state} \
        if current else {}
    return {"metadata": {"name": "worker-0", "labels": {"node-role.kubernetes.io/worker": ""}, "annotations": annotations},
            "status": {"conditions": [{"type": "Ready", "status": ready, "message": "kubelet stopped posting"}],
                       "nodeInfo": {"kubeletVersion": kubelet, "containerRuntimeVersion": crio}}}


def pool(name="worker", paused=False):
    return {"metadata": {"name": name},
            "spec": {"paused": paused, "nodeSelector": {"matchLabels": {"node-role.kubernetes.io/%s" % name: ""}}},
            "status": {"conditions": [{"type": "Updating", "status": "False"}]}}


def summary(available, working_set=300 * 2 ** 20):
    """The kubelet's Summary API (/stats/summary): node.fs is the kubelet's root filesystem."""
    return {"node": {"nodeName": "worker-0", "fs": {"availableBytes": available, "capacityBytes": 100 * 2 ** 30}},
            "pods": [{"podRef": {"name": "one", "namespace": "demo", "uid": "u1"},
                      "containers": [{"name": "counter", "memory": {"workingSetBytes": working_set}}]},
                     {"podRef": {"name": "other", "namespace": "demo"},
                      "containers": [{"name": "counter", "memory": {"workingSetBytes": 2 ** 40}}]}]}


def cluster_with(the_node, configs=(), pools=(pool(),), probe=None, available=20 * 2 ** 30):
    target = {"metadata": {"name": "one", "namespace": "demo", "uid": "u1"},
              "spec": {"nodeName": "worker-0", "containers": [{"name": "counter"}]},
              "status": {"phase": "Running", "containerStatuses": [
                  {"name": "counter", "containerID": "cri-o://c1", "restartCount": 2,
                   "state": {"running": {"startedAt": "2026-11-26T21:00:00Z"}}}]}}
    objects = {PODS + "/one": target, "/api/v1/nodes/worker-0": the_node, SUMMARY: summary(available)}
    objects.update(("%s/%s" % (MCS, c["metadata"]["name"]), c) for c in configs)
    objects.update(("%s/%s" % (POOLS, p["metadata"]["name"]), p) for p in pools)
    cluster = FakeCluster(objects)
    cluster.answers[("POST", PROBE)] = probe or api_error(404, "404 page not found")
    return cluster


def check(cluster, **kwargs):
    return preflight.check(lambda: cluster, "demo", pod="one", **kwargs)


def test_a_node_without_the_gate_and_drop_in_is_refused_saying_why_and_what_to_do():
    cluster = cluster_with(node(), [rendered("rendered-worker-1")])
    result = check(cluster)
    verdict = result["nodes"]["worker-0"]
    assert result["failed"] is True and result["ready"] is False and verdict["ready"] is False
    assert verdict["gate"] == {"enabled": False,
                               "source": "the kubelet has no checkpoint API (probe: plain 404): the ContainerCheckpoint gate is off"}
    assert verdict["criu"] == {"enabled": False, "source": "default of CRI-O 1.26 (on from 1.30)"}
    assert "drains and reboots the node" in result["msg"] and "playbooks/enable.yml ahead of time" in result["msg"]
    assert "forensic_enable_reboots_nodes=true" in result["msg"]
    assert result["targets"] == [{"node": "worker-0", "namespace": "demo", "pod": "one", "container": "counter",
                                  "pod_uid": "u1", "container_id": "cri-o://c1", "started_at": "2026-11-26T21:00:00Z",
                                  "restart_count": 2}]
    assert cluster.writes == [] or all(w["path"] == PROBE for w in cluster.writes)
    assert check(cluster, fail_when_not_ready=False)["failed"] is False


def test_enabled_node_passes_from_its_rendered_config_and_the_probe():
    cluster = cluster_with(node(), [rendered("rendered-worker-1", gate=True, criu=True)],
                           probe=api_error(404, "pod does not exist"))
    result = check(cluster)
    verdict = result["nodes"]["worker-0"]
    assert result["ready"] is True and result["failed"] is False, result["msg"]
    assert verdict["gate"]["enabled"] is True and "pod does not exist" in verdict["gate"]["source"]
    assert verdict["criu"] == {"enabled": True, "source": "enable_criu_support in /etc/crio/crio.conf.d/ of rendered-worker-1"}
    assert result["msg"] == "checkpointing works on node(s) worker-0 for 1 container(s)"
    # without the probe, the rendered kubelet.conf answers for the gate
    assert check(cluster, probe=False)["nodes"]["worker-0"]["gate"] == {
        "enabled": True, "source": "featureGates in /etc/kubernetes/kubelet.conf of rendered-worker-1"}


DROPIN = "/etc/crio/crio.conf.d/"
# Drop-ins a line-by-line regex misreads; each file's own value of enable_criu_support in [crio.runtime]
TRICKY = [
    ("comment", "[crio.runtime]\n# enable_criu_support = true\nenable_criu_support = false # not true\n", False),
    ("other tables", "[crio.api]\nenable_criu_support = true\n[crio.runtime.runtimes.runc]\n"
                     "enable_criu_support = true\n", None),
    ("quoted keys", '["crio"."runtime"]\n"enable_criu_support" = true\n', True),
    ("dotted key", "[crio]\nruntime.enable_criu_support = true\n", True),
    ("top-level dotted key", "crio.runtime.enable_criu_support = true\n", True),
    ("multi-line array", '[crio.runtime]\ndefault_capabilities = [\n  "CHOWN",\n  "SETUID",\n'
                         ']\nenable_criu_support = true\n', True),
    ("multi-line string", '[crio.runtime]\nconmon_env = """\nenable_criu_support = true\n"""\n', None),
    ("table closed", "[crio.runtime]\n[crio.image]\nenable_criu_support = true\n", None),
]


@pytest.fixture(params=["tomllib", "minimal"])
def toml_reader(request, monkeypatch):
    """Both readers: tomllib/tomli, and the documented minimal one for Python 3.10 without tomli."""
    if request.param == "minimal":
        monkeypatch.setattr(machine_config, "_toml", None)
    return request.param


@pytest.mark.parametrize("what, text, expected", TRICKY, ids=[t[0] for t in TRICKY])
def test_drop_ins_are_read_as_toml(toml_reader, what, text, expected):
    assert machine_config.crio_criu_setting({DROPIN + "10-x": text}) is expected, what


def test_a_later_drop_in_wins_in_crio_order(toml_reader):
    """CRI-O reads crio.conf, then crio.conf.d with Go's filepath.Walk: lexical order, into
    subdirectories (cri-o pkg/config/config.go UpdateFromPath); a later file that sets the key wins,
    one that does not set it changes nothing."""
    on, off = "[crio.runtime]\nenable_criu_support = true\n", "[crio.runtime]\nenable_criu_support = false\n"
    files = {"/etc/crio/crio.conf": on, DROPIN + "05-enable-criu": on, DROPIN + "99-off": off}
    assert machine_config.crio_criu_setting(files) is False
    assert machine_config.crio_criu_setting(dict(files, **{DROPIN + "99-off/10-on": on})) is True
    # Walk visits directory "sub" (and its files) before the file "sub-x": "sub" < "sub-x"
    assert machine_config.crio_criu_setting({DROPIN + "sub/x": on, DROPIN + "sub-x": off}) is False
    assert machine_config.crio_criu_setting({DROPIN + "sub/x": off, DROPIN + "sub-x": on}) is True
    assert machine_config.crio_criu_setting({"/etc/crio/crio.conf": off, DROPIN + "50-other": "[crio]\n"}) is False


@pytest.mark.parametrize("text, problem", [
    ("[crio.runtime\nenable_criu_support = true\n", "not valid TOML (CRI-O would not start): "),
    ('[crio.runtime]\nenable_criu_support = "true"\n', "enable_criu_support is 'true', not true or false"),
])
def test_a_drop_in_crio_would_refuse_is_named(toml_reader, text, problem):
    with pytest.raises(CheckpointError) as err:
        machine_config.crio_criu_setting({DROPIN + "50-broken": text})
    assert str(err.value).startswith("CRI-O configuration /etc/crio/crio.conf.d/50-broken: " + problem)
    assert "\n" not in str(err.value)


def test_newer_versions_default_on():
    # OpenShift 4.17 (Kubernetes 1.30): nothing configured, both on by default
    cluster = cluster_with(node(kubelet="v1.30.4", crio="cri-o://1.30.2"), [rendered("rendered-worker-1")])
    verdict = check(cluster, probe=False)["nodes"]["worker-0"]
    assert verdict["ready"] is True
    assert verdict["gate"]["source"] == "default of Kubernetes 1.30 (on from 1.30)"


@pytest.mark.parametrize("the_node, problem", [
    (node(desired="rendered-worker-2", state="Working"), "is being updated by the Machine Config Operator "
                                                         "(currentConfig rendered-worker-1, desiredConfig rendered-worker-2"),
    (node(ready="False"), "node worker-0 is not Ready (kubelet stopped posting)"),
])
def test_a_node_mid_update_or_not_ready_is_refused(the_node, problem):
    cluster = cluster_with(the_node, [rendered("rendered-worker-1", gate=True, criu=True)],
                           probe=api_error(404, "pod does not exist"))
    result = check(cluster)
    assert result["failed"] is True and problem in result["msg"]


def test_a_paused_pool_and_unreadable_openshift_objects_are_warnings():
    cluster = cluster_with(node(), [rendered("rendered-worker-1", gate=True, criu=True)],
                           pools=(pool(paused=True),), probe=api_error(404, "pod does not exist"))
    result = check(cluster)
    assert result["ready"] is True
    assert result["warnings"] == ["MachineConfigPool worker is paused: configuration changes will not reach node "
                                  "worker-0 until it is unpaused"]
    cluster.answers[("GET", MCS + "/rendered-worker-1")] = api_error(403, "forbidden")
    cluster.answers[("GET", POOLS)] = api_error(403, "forbidden")
    result = check(cluster)
    # CRI-O 1.26 whose drop-ins cannot be read: unknown (the probe answered for the gate), a warning
    assert result["nodes"]["worker-0"]["criu"] == {"enabled": None, "source": None}
    assert result["ready"] is True
    assert "MachineConfig rendered-worker-1: cannot read it (HTTP 403)" in result["warnings"][0]
    assert "cannot tell whether the container runtime on node worker-0 (cri-o://1.26.4-3.rhaos4.13.el9) can " \
           "checkpoint" in result["warnings"]


def test_plain_kubernetes_without_mco_annotations():
    cluster = cluster_with(node(current=None, kubelet="v1.31.1", crio="cri-o://1.31.0"), pools=(),
                           probe=api_error(404, "pod does not exist"))
    result = check(cluster)
    assert result["ready"] is True and "pool" not in result["nodes"]["worker-0"]
    containerd = cluster_with(node(current=None, kubelet="v1.31.1", crio="containerd://2.0.0"), pools=(),
                              probe=api_error(404, "pod does not exist"))
    result = check(containerd)
    assert result["ready"] is True
    assert "cannot tell whether the container runtime on node worker-0 (containerd://2.0.0) can checkpoint" in result["warnings"]


def test_nothing_to_checkpoint_is_an_error():
    cluster = cluster_with(node())
    cluster.objects[PODS + "/one"]["status"]["phase"] = "Pending"
    cluster.answers[("GET", PODS)] = {"items": [cluster.objects[PODS + "/one"]]}
    with pytest.raises(CheckpointError) as caught:
        preflight.check(lambda: cluster, "demo", label_selectors=["app=counters"])
    assert str(caught.value) == "pods in namespace demo: nothing can be checkpointed: one is Pending: only running " \
                                "containers can be checkpointed"


def test_free_space_is_reported_and_an_archive_that_cannot_fit_is_refused():
    enabled = [rendered("rendered-worker-1", gate=True, criu=True)]
    fits = check(cluster_with(node(), enabled, probe=api_error(404, "pod does not exist")))
    assert fits["nodes"]["worker-0"]["space"] == {"available_bytes": 20 * 2 ** 30, "capacity_bytes": 100 * 2 ** 30,
                                                  "estimated_archive_bytes": 300 * 2 ** 20}
    full = check(cluster_with(node(), enabled, probe=api_error(404, "pod does not exist"), available=100 * 2 ** 20))
    assert full["failed"] is True
    assert ("node worker-0 has 100.0 MiB free on the kubelet's filesystem (where /var/lib/kubelet/checkpoints is) "
            "but the archives need about 300.0 MiB") in full["msg"]
    unreadable = cluster_with(node(), enabled, probe=api_error(404, "pod does not exist"))
    unreadable.answers[("GET", SUMMARY)] = api_error(403, "forbidden")
    result = check(unreadable)
    assert result["ready"] is True and "cannot read node worker-0's free space" in result["warnings"][0]


def test_a_drop_in_crio_would_refuse_makes_the_node_not_ready():
    """CRI-O 1.30 defaults CRIU on, but a drop-in CRI-O cannot decode stops CRI-O itself: the
    preflight names the file instead of falling back to the default."""
    config = rendered("rendered-worker-1", gate=True)
    config["spec"]["config"]["storage"]["files"].append(
        {"path": "/etc/crio/crio.conf.d/50-broken", "contents": data("[crio.runtime]\nenable_criu_support = yes\n")})
    cluster = cluster_with(node(kubelet="v1.30.4", crio="cri-o://1.30.2"), [config])
    result = check(cluster, probe=False, fail_when_not_ready=False)
    verdict = result["nodes"]["worker-0"]
    assert result["ready"] is False and verdict["criu"]["enabled"] is None
    (problem,) = verdict["problems"]
    assert problem.startswith("node worker-0's rendered config rendered-worker-1: CRI-O configuration "
                              "/etc/crio/crio.conf.d/50-broken: not valid TOML (CRI-O would not start): ")
