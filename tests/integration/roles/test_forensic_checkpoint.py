# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Role forensic_checkpoint and playbooks forensic.yml, checkpoint.yml and analyze.yml: the whole
workflow on the simulated cluster, the chain-of-custody record, the SHA-256 check of fetched
evidence failing loudly when an archive is altered in transit, check mode, the single-play entry
point, local archives and the severity gate."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import glob
import os
import shutil
import stat
import sys

import pytest

from rolehelpers import FAST, custody, explain, load_json, playbook, tasks_named

pytestmark = pytest.mark.simulated_only  # the counters workload and enabling are the simulator's

TARGET = {"forensic_checkpoint_namespace": "demo", "forensic_checkpoint_label_selectors": "app=counters",
          "forensic_checkpoint_report": False}
SECRET = "RANDOM_1432_KEY"
# Its shape: enable.yml rebooted the node, so the counters process is a new one with new digits.
SECRET_SHAPE = "RANDOM_[0-9]{4}_KEY"


def has_module(name):
    return os.path.exists(os.path.join(os.path.dirname(playbook("x")), "..", "plugins", "modules", name + ".py"))


def run_dirs(output):
    return sorted(glob.glob(os.path.join(str(output), "run-*")))


def archives_on_nodes(cluster):
    nodes = cluster.dynamic().resources.get(api_version="v1", kind="Node").get().items
    return {n.metadata.name: sorted(os.listdir(cluster.sim.checkpoint_dir(n.metadata.name)))
            for n in nodes if os.path.isdir(cluster.sim.checkpoint_dir(n.metadata.name))}


@pytest.fixture(scope="module")
def workflow(cluster, ansible, tmp_path_factory):
    """enable.yml, then forensic.yml once on a reset cluster: deploy the analyser, checkpoint, analyze."""
    if cluster.sim is None:
        pytest.skip("needs the simulated cluster")
    cluster.sim.reset()
    output = tmp_path_factory.mktemp("forensic-output")
    extra = dict(FAST, **TARGET)
    extra.update({"enable_checkpointing_accept_irreversible": True, "forensic_checkpoint_fetch": True,
                  "forensic_checkpoint_memory_searches": [{"regex": SECRET_SHAPE}], "forensic_checkpoint_output_dir": str(output)})
    # enable.yml is the preparation (it reboots nodes); forensic.yml the incident run after it
    prepared = ansible.playbook(playbook("enable.yml"), extra)
    assert prepared.rc == 0, explain(prepared)
    result = ansible.playbook(playbook("forensic.yml"), extra)
    assert result.rc == 0, explain(result)
    (run,) = run_dirs(output)
    return result, run


def test_custody_record_and_outputs(workflow, cluster):
    result, run = workflow
    record = custody(run)
    assert stat.S_IMODE(os.stat(os.path.join(run, "chain-of-custody.json")).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(run).st_mode) == 0o700
    assert record["collection"] == {"name": "forensic.checkpoint", "version": "0.1.0"}
    assert record["operator"]["controller_user"]
    assert record["cluster"]["api_server"] == cluster.host
    assert record["cluster"]["cluster_id"] and record["cluster"]["openshift_version"] == "4.13.0"
    (item,) = record["items"]
    pods = cluster.dynamic().resources.get(api_version="v1", kind="Pod").get(
        namespace="demo", label_selector="app=counters").items
    pod = next(p for p in pods if p.metadata.name == item["container"]["pod"])
    assert item["container"]["pod_uid"] == pod.metadata.uid
    assert item["container"]["image"] and item["container"]["image_id"].split("@")[1].startswith("sha256:")
    assert item["node"]["name"] == pod.spec.nodeName and item["node"]["kubeletVersion"]
    archive = item["checkpoint"]["archive"]
    on_node = os.path.join(cluster.sim.checkpoint_dir(pod.spec.nodeName), os.path.basename(archive))
    assert item["checkpoint"]["size"] == os.path.getsize(on_node)
    (transfer,) = item["transfers"]
    assert transfer["verified"] is True and transfer["sha256"] == item["checkpoint"]["sha256"]
    assert stat.S_IMODE(os.stat(transfer["path"]).st_mode) == 0o600
    assert item["analysis"]["analyser"]["node"] == pod.spec.nodeName
    assert item["analysis"]["analyser"]["pod"].startswith("checkpoint-analyser-")
    analysis = load_json(os.path.join(run, "analysis", "demo_%s_counter.json" % pod.metadata.name))
    assert analysis["processes"][0]["comm"] == "python3"
    assert os.path.exists(os.path.join(run, "summary.md"))
    shown = "\n".join(tasks_named(result, "Show the findings")[-1]["msg"])
    assert "demo/%s/counter" % pod.metadata.name in shown and "sha256 verified" in shown


@pytest.mark.skipif(not has_module("checkpoint_memory"), reason="checkpoint_memory is not there yet")
def test_memory_search_found_the_secret(workflow):
    shown = "\n".join(tasks_named(workflow[0], "Show the findings")[-1]["msg"])
    assert "%s: 1 match(es): pid 1 at 0x" % SECRET_SHAPE in shown, shown


def _mitm_kubectl(tmp_path):
    """A kubectl on PATH that flips one byte of every file fetched with `dd if=...`."""
    real = shutil.which("kubectl")
    script = tmp_path / "kubectl"
    script.write_text("""#!/bin/sh
case "$*" in
  *"dd if="*) "%s" "$@" | "%s" -c 'import sys
data = bytearray(sys.stdin.buffer.read())
if data:
    data[len(data) // 2] ^= 0xFF
sys.stdout.buffer.write(data)' ;;
  *) exec "%s" "$@" ;;
esac
""" % (real, sys.executable, real))
    script.chmod(0o755)
    return str(tmp_path)


def test_archive_altered_in_transit_fails_loudly(workflow, ansible, tmp_path):
    output = tmp_path / "out"
    extra = dict(TARGET, forensic_deploy_analyser=False, forensic_checkpoint_fetch=True,
                 forensic_checkpoint_output_dir=str(output))
    path = os.pathsep.join([_mitm_kubectl(tmp_path), ansible.bindir, os.environ.get("PATH", "")])
    result = ansible.playbook(playbook("checkpoint.yml"), extra, env={"PATH": path})
    assert result.rc != 0, explain(result)
    assert "EVIDENCE ALTERED IN TRANSIT" in result.stdout, explain(result)
    (run,) = run_dirs(output)
    (item,) = custody(run)["items"]
    (transfer,) = item["transfers"]
    assert transfer["verified"] is False and transfer["sha256"] != transfer["node_sha256"]
    assert transfer["path"].endswith(".sha256-MISMATCH") and os.path.exists(transfer["path"])
    assert not os.path.exists(transfer["path"][:-len(".sha256-MISMATCH")])


def test_check_mode_takes_no_checkpoint(workflow, cluster, ansible, tmp_path):
    before = archives_on_nodes(cluster)
    extra = dict(TARGET, forensic_checkpoint_output_dir=str(tmp_path))
    result = ansible.playbook(playbook("checkpoint.yml"), extra, check=True)
    assert result.rc == 0, explain(result)
    assert archives_on_nodes(cluster) == before
    assert run_dirs(tmp_path) == []
    said = tasks_named(result, "Say what would be checkpointed")
    assert said and "counters" in str(said[-1]["msg"])


def test_role_in_one_play_with_a_pod_name(workflow, cluster, ansible, tmp_path):
    pod = cluster.dynamic().resources.get(api_version="v1", kind="Pod").get(
        namespace="demo", label_selector="app=counters").items[0].metadata.name
    play = """
- hosts: localhost
  gather_facts: false
  roles:
    - role: forensic.checkpoint.forensic_checkpoint
      forensic_checkpoint_namespace: demo
      forensic_checkpoint_pod: %s
      forensic_checkpoint_containers: counter
      forensic_checkpoint_report: false
      forensic_checkpoint_output_dir: %s
  post_tasks:
    - name: Expose the facts
      ansible.builtin.debug:
        msg: "{{ checkpoint_analysis.keys() | list }}"
""" % (pod, tmp_path)
    result = ansible.playbook(play)
    assert result.rc == 0, explain(result)
    assert tasks_named(result, "Expose the facts")[-1]["msg"] == ["demo/%s/counter" % pod]
    (run,) = run_dirs(tmp_path)
    assert custody(run)["items"][0]["transfers"] == []


def test_analyze_local_archives(ansible, archives, tmp_path):
    extra = {"forensic_checkpoint_local_archives": [archives["counters"], archives["crio"]],
             "forensic_checkpoint_report": False, "forensic_checkpoint_output_dir": str(tmp_path),
             "forensic_checkpoint_memory_patterns": SECRET}
    result = ansible.playbook(playbook("analyze.yml"), extra)
    assert result.rc == 0, explain(result)
    (run,) = run_dirs(tmp_path)
    record = custody(run)
    assert sorted(i["checkpoint"]["archive"] for i in record["items"]) == sorted([archives["counters"], archives["crio"]])
    assert all(i["analysis"]["analyser"]["node"] == "controller" for i in record["items"])
    if has_module("checkpoint_memory"):
        shown = "\n".join(tasks_named(result, "Show the findings")[-1]["msg"])
        assert shown.count("%s: 1 match(es)" % SECRET) == 2, shown


def test_severity_gate(ansible, archives, tmp_path):
    extra = {"forensic_checkpoint_local_archives": archives["lookup"], "forensic_checkpoint_report": False,
             "forensic_checkpoint_output_dir": str(tmp_path), "forensic_checkpoint_fail_on_severity": "high"}
    result = ansible.playbook(playbook("analyze.yml"), extra)
    (run,) = run_dirs(tmp_path)
    (analysis,) = [load_json(p) for p in glob.glob(os.path.join(run, "analysis", "*.json"))]
    high = [f for f in analysis.get("findings", []) if f["severity"] in ("high", "critical")]
    if high:
        assert result.rc != 0 and "at or above high" in result.stdout, explain(result)
        assert os.path.exists(os.path.join(run, "chain-of-custody.json"))  # written before the gate
    else:  # checkpoint_analyze without findings yet (issue 7)
        assert result.rc == 0, explain(result)


def test_bearer_token_reaches_kubectl_but_never_the_log(workflow, cluster, ansible, tmp_path):
    """K8S_AUTH_HOST/API_KEY only (no kubeconfig): the analyser pods are reached with a private
    temporary kubeconfig made from them, and the token appears nowhere in -vvvv output."""
    extra = dict(TARGET, forensic_deploy_analyser=False,
                 forensic_checkpoint_output_dir=str(tmp_path))
    result = ansible.playbook(playbook("checkpoint.yml"), extra, identity="admin", args=("-vvvv",),
                              env={"KUBECONFIG": os.devnull})
    assert result.rc == 0, explain(result)
    token = cluster.token("admin")
    assert token not in result.stdout and token not in result.stderr
    (run,) = run_dirs(tmp_path)
    assert token not in open(os.path.join(run, "chain-of-custody.json")).read()


def test_archive_found_after_a_dropped_connection_is_analysed_and_fetched(workflow, cluster, ansible, tmp_path):
    """Issue 13 §4: the connection to the kubelet drops mid-checkpoint (simulator fault ``drop``);
    the kubelet still writes the archive, the role finds it through the analyser pod on that node,
    then analyses, fetches and verifies it like any other, and the record says what happened."""
    pod = cluster.dynamic().resources.get(api_version="v1", kind="Pod").get(
        namespace="demo", label_selector="app=counters").items[0]
    extra = {"forensic_checkpoint_namespace": "demo", "forensic_checkpoint_pod": pod.metadata.name,
             "forensic_checkpoint_report": False, "forensic_deploy_analyser": False,
             "forensic_checkpoint_fetch": True, "forensic_checkpoint_output_dir": str(tmp_path),
             "forensic_checkpoint_progress_interval": 1}
    with cluster.sim.kubelet_fault(pod.spec.nodeName, delay=3, drop=0.5):
        result = ansible.playbook(playbook("checkpoint.yml"), extra)
    assert result.rc == 0, explain(result)
    # the slow checkpoint ran in the background and was polled: one progress line per poll
    (polled,) = tasks_named(result, "Wait for the checkpoints")[-1]["results"]
    assert polled["attempts"] >= 3 and polled["finished"], polled
    (run,) = run_dirs(tmp_path)
    (item,) = custody(run)["items"]
    dropped = item["checkpoint"]["connection_dropped"]
    assert dropped.startswith("connection dropped (") and "archive found at %s" % item["checkpoint"]["archive"] in dropped
    (transfer,) = item["transfers"]
    assert transfer["verified"] is True and transfer["sha256"] == item["checkpoint"]["sha256"]
    on_node = os.path.join(cluster.sim.checkpoint_dir(pod.spec.nodeName), os.path.basename(item["checkpoint"]["archive"]))
    assert os.path.getsize(transfer["path"]) == os.path.getsize(on_node)
    assert item["analysis"]["findings"] is not None
    assert "the archive was found on the node" in open(os.path.join(run, "summary.md")).read()


def _checkpoint_mount(cluster):
    ds = cluster.dynamic().resources.get(api_version="apps/v1", kind="DaemonSet").get(
        namespace="forensic-checkpoint", name="checkpoint-analyser").to_dict()
    (mount,) = [m for m in ds["spec"]["template"]["spec"]["containers"][0]["volumeMounts"] if m["name"] == "checkpoints"]
    return mount


def test_removal_asked_with_a_read_only_analyser_keeps_the_archives_and_says_why(workflow, cluster, ansible, tmp_path):
    """Removal asked, but the analyser the workflow deployed mounts the checkpoint directory
    read-only (the default) and is not redeployed: nothing is removed, and the run says why."""
    assert _checkpoint_mount(cluster)["readOnly"] is True
    readonly = dict(TARGET, forensic_deploy_analyser=False, forensic_checkpoint_fetch=True,
                    forensic_checkpoint_remove_verified_archives=True, forensic_checkpoint_output_dir=str(tmp_path))
    result = ansible.playbook(playbook("checkpoint.yml"), readonly)
    assert result.rc == 0, explain(result)
    (run,) = run_dirs(tmp_path)
    (item,) = custody(run)["items"]
    host = "forensic-analyser-%s" % item["node"]["name"]
    (said,) = [t for t in tasks_named(result, "Say why the verified archives stay", host=host) if t.get("msg")]
    assert "read-only: nothing is removed" in said["msg"]
    assert all(t.get("skipped") for t in tasks_named(result, "Remove from the node the archives", host=host))
    assert item["transfers"][0]["verified"] is True and item["checkpoint"]["removed_from_node"] is False
    assert os.path.basename(item["checkpoint"]["archive"]) in os.listdir(cluster.sim.checkpoint_dir(item["node"]["name"]))


def test_unverified_archive_is_kept_when_removal_is_asked(workflow, cluster, ansible, tmp_path):
    """Issue 13 §4, opt-in removal: a copy altered in transit is not verified, so its archive stays on
    the node even with forensic_checkpoint_remove_verified_archives, and the record says so."""
    extra = dict(TARGET, forensic_checkpoint_fetch=True, forensic_checkpoint_remove_verified_archives=True,
                 forensic_checkpoint_output_dir=str(tmp_path / "out"))
    path = os.pathsep.join([_mitm_kubectl(tmp_path), ansible.bindir, os.environ.get("PATH", "")])
    result = ansible.playbook(playbook("checkpoint.yml"), extra, env={"PATH": path})
    assert result.rc != 0 and "EVIDENCE ALTERED IN TRANSIT" in result.stdout, explain(result)
    assert _checkpoint_mount(cluster)["readOnly"] is False  # removal asked: the mount is writable
    (run,) = run_dirs(tmp_path / "out")
    (item,) = custody(run)["items"]
    assert item["transfers"][0]["verified"] is False and item["checkpoint"]["removed_from_node"] is False
    node_dir = cluster.sim.checkpoint_dir(item["node"]["name"])
    assert os.path.basename(item["checkpoint"]["archive"]) in os.listdir(node_dir)


@pytest.fixture(scope="module")
def removal(workflow, cluster, ansible, tmp_path_factory):
    """One checkpoint.yml run with fetch and opt-in removal, shared by the tests below (each run
    deploys, checkpoints, fetches: run it once)."""
    output = tmp_path_factory.mktemp("removal")
    before = archives_on_nodes(cluster)
    extra = dict(TARGET, forensic_checkpoint_fetch=True, forensic_checkpoint_remove_verified_archives=True,
                 forensic_checkpoint_output_dir=str(output))
    result = ansible.playbook(playbook("checkpoint.yml"), extra)
    assert result.rc == 0, explain(result)
    (run,) = run_dirs(output)
    (item,) = custody(run)["items"]
    return result, run, item, before


def test_verified_archive_is_removed_through_the_module(removal, cluster):
    """The removal runs checkpoint_archive_remove (the file on the node is hashed again and must be
    the verified one, a regular checkpoint-*.tar in the checkpoint directory), for this run's
    archive only: every archive an earlier run left on the nodes is still there."""
    result, _run, item, before = removal
    node = item["node"]["name"]
    (removed,) = tasks_named(result, "Remove from the node the archives", host="forensic-analyser-%s" % node)
    asked = removed["invocation"]["module_args"]["archives"]
    assert [dict((k, a[k]) for k in ("node", "path", "sha256")) for a in asked] == [
        {"node": node, "path": item["checkpoint"]["archive"], "sha256": item["checkpoint"]["sha256"]}]
    assert removed["removed"] == [{"node": node, "path": item["checkpoint"]["archive"]}] and removed["kept"] == []
    assert removed["msg"] == "removed 1 archive(s)"
    assert archives_on_nodes(cluster) == before  # only this run's archive went; the others stay


def test_removal_is_in_the_record_and_the_summary_and_the_evidence_stays_here(removal, cluster):
    _result, run, item, _before = removal
    assert item["transfers"][0]["verified"] is True and item["checkpoint"]["removed_from_node"] is True
    assert os.path.basename(item["checkpoint"]["archive"]) not in os.listdir(cluster.sim.checkpoint_dir(item["node"]["name"]))
    assert os.path.getsize(item["transfers"][0]["path"]) == item["checkpoint"]["size"]  # the evidence is kept here
    assert "removed from the node after a verified fetch" in open(os.path.join(run, "summary.md")).read()


def test_skipped_target_is_in_the_record_and_the_summary(workflow, cluster, ansible, tmp_path):
    """A pod the selector matches that cannot be checkpointed (Pending: no node fits) is skipped, and
    the chain-of-custody record and the summary name it with the reason; the others are analyzed."""
    body = {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "counters-unschedulable", "namespace": "demo", "labels": {"app": "counters"}},
            "spec": {"nodeSelector": {"no-such-node": "x"},
                     "containers": [{"name": "counter", "image": "quay.io/example/counters-app:main"}]}}
    status, _headers, answer = cluster.request("POST", "/api/v1/namespaces/demo/pods", body)
    assert status == 201, answer
    try:
        extra = dict(TARGET, forensic_deploy_analyser=False, forensic_checkpoint_output_dir=str(tmp_path))
        result = ansible.playbook(playbook("checkpoint.yml"), extra)
    finally:
        cluster.request("DELETE", "/api/v1/namespaces/demo/pods/counters-unschedulable")
    assert result.rc == 0, explain(result)
    (run,) = run_dirs(tmp_path)
    record = custody(run)
    (skipped,) = record["skipped"]
    assert skipped["pod"] == "counters-unschedulable" and skipped["reason"].startswith("is Pending"), skipped
    assert [i["container"]["pod"] for i in record["items"]] != [] and \
        "counters-unschedulable" not in [i["container"]["pod"] for i in record["items"]]
    summary = open(os.path.join(run, "summary.md")).read()
    assert "## Skipped" in summary and "counters-unschedulable" in summary and "None" not in summary
