# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A node's results and the chain-of-custody record built from what the role's tasks registered
(custody/results.py, custody/record.py), validated against schema/custody-v1.json."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

import jsonschema
import pytest

from ansible_collections.forensic.checkpoint.plugins.module_utils.custody import record, results
from ansible_collections.forensic.checkpoint.plugins.module_utils.targets import archives

SCHEMA_PATH = os.path.join(os.path.dirname(record.__file__), "schema", "custody-v1.json")
DIR = "/var/lib/kubelet/checkpoints"
SHA_A, SHA_B, SHA_X = "a" * 64, "b" * 64, "f" * 64


def schema():
    with open(SCHEMA_PATH) as handle:
        return json.load(handle)


def ckpt(container, node="worker-0", pod="web-0"):
    return {"namespace": "demo", "pod": pod, "container": container, "node": node, "duration": 2.0,
            "path": "%s/checkpoint-%s_demo-%s-2026-11-26T22:20:40+01:00.tar" % (DIR, pod, container),
            "pod_uid": "uid-" + pod, "container_id": "cri-o://" + container}


ARCHIVES = archives.match([ckpt("app"), ckpt("sidecar"), ckpt("gone")], [], [], [])["archives"]
APP, SIDECAR, GONE = ARCHIVES


def info(a, sha):
    return {"item": a, "checkpoints": [{"archive": {"size": 1234, "sha256": sha, "compression": "none"},
                                        "engine": "criu", "created": None, "checkpointed": "2026-11-26T21:20:40Z"}]}


INFO = [info(APP, SHA_A), info(SIDECAR, SHA_B),
        {"item": GONE, "failed": True, "msg": "%s: no such file or directory" % GONE["path"]}]


def stat(item, got):
    return {"item": {"item": item, "dest": "/out/evidence/" + item["dest"]},
            "stat": {"exists": True, "path": "/out/evidence/" + item["dest"], "checksum": got}}


def test_archives_missing_on_a_node_are_neither_fetched_nor_fatal():
    assert results.described(ARCHIVES, INFO) == [APP, SIDECAR]
    items = results.fetch_items(ARCHIVES, INFO, [])
    assert [(i["key"], i["sha256"]) for i in items] == [(APP["key"], SHA_A), (SIDECAR["key"], SHA_B)]
    assert items[0]["dest"] == "worker-0/" + os.path.basename(APP["path"])  # colons and the offset kept


def test_cores_are_fetched_under_the_containers_slug():
    cores = [{"item": APP, "cores": [{"pid": 1, "path": "/w/web-cores/core.1", "sha256": SHA_X, "size": 9}]},
             {"item": SIDECAR, "skipped": True}]
    (core,) = [i for i in results.fetch_items([], INFO, cores) if i["kind"] == "core"]
    assert core["dest"] == "worker-0/%s-cores/core.1" % APP["slug"] and core["sha256"] == SHA_X


def test_sha256_mismatch_is_set_aside_and_never_removable():
    fetch = results.fetch_items(ARCHIVES, INFO, [])
    arrived = results.transfers([stat(fetch[0], SHA_A), stat(fetch[1], SHA_X)])
    assert [t["verified"] for t in arrived] == [True, False]
    assert arrived[1]["path"].endswith(".sha256-MISMATCH") and arrived[1]["node_sha256"] == SHA_B
    # what checkpoint_archive_remove checks on the node: the file there still has the verified SHA-256
    assert results.removable(arrived, ARCHIVES, DIR) == [{"key": APP["key"], "node": APP["node"], "path": APP["path"],
                                                          "sha256": SHA_A}]


def test_removal_stays_inside_the_checkpoint_directory():
    evil = dict(APP, path=DIR + "/../../../etc/shadow")
    arrived = [{"key": APP["key"], "kind": "archive", "source": evil["path"], "verified": True, "sha256": SHA_A}]
    assert results.removable(arrived, [evil], DIR) == []
    assert results.removable(arrived, [evil], None) == []
    assert results.removable([], ARCHIVES, DIR) == []  # nothing fetched: nothing removed


FINDINGS = [{"severity": "high", "title": "shell"}, {"severity": "low", "id": "x"}, {"severity": "high"}]


def node_results():
    fetch = results.fetch_items(ARCHIVES, INFO, [])
    registered = {
        "info": INFO,
        "analyze": [{"item": APP, "analysis": {"findings": FINDINGS}},
                    {"item": SIDECAR, "analysis": {}}],
        "memory": [{"item": [APP, {"pattern": "KEY"}], "matches": [{"pid": 1}]}],
        "reports": [{"item": APP, "dest": "/out/reports/%s.html" % APP["slug"]}],
        "stats": [stat(fetch[0], SHA_A), stat(fetch[1], SHA_X)],
        "removed": {"changed": True, "removed": [{"node": APP["node"], "path": APP["path"]}], "absent": [], "kept": []},
    }
    analyser = {"node": "worker-0", "namespace": "forensic", "pod": "analyser-x", "pod_uid": "u", "image": "i", "image_id": None}
    return results.node_results(ARCHIVES, registered, analyser, "2026-11-26T21:21:00Z")


def test_node_results_per_archive():
    app, sidecar, gone = node_results()
    assert app["archive"]["sha256"] == SHA_A and app["memory"][0]["matches"] == [{"pid": 1}]
    assert app["report"].endswith(".html") and app["removed_from_node"] and not sidecar["removed_from_node"]
    assert [t["verified"] for t in sidecar["fetched"]] == [False]
    assert gone["analysis"] is None and "no such file or directory" in gone["skipped"] and gone["fetched"] == []


def run():
    return {"id": "20261126T212000123456Z", "started": "2026-11-26T21:20:00Z", "dir": "/out/run-x",
            "collection": {"name": "forensic.checkpoint", "version": "0.1.0"},
            "operator": {"controller_user": "ir", "controller_host": "jump", "ansible_version": "2.18.1",
                         "aap_user": None, "aap_job_id": None},
            "cluster": {"api_server": "https://api:6443", "context": None, "cluster_id": "c-1", "openshift_version": "4.16.3"},
            "nodes": {"worker-0": {"kubeletVersion": "v1.29"}}}


def test_record_validates_and_says_everything():
    rows = node_results()
    stats = [{"item": p, "stat": {"checksum": SHA_X}} for p in record.output_paths(rows, run())]
    skipped = [{"namespace": "demo", "pod": "crashy", "reason": "container app is not running (CrashLoopBackOff)"}]
    rec = record.record(rows, run(), [], skipped, stats, "2026-11-26T21:22:00Z")
    jsonschema.validate(rec, schema())
    app, sidecar, gone = rec["items"]
    assert app["analysis"]["findings"] == {"high": 2, "low": 1} and list(app["analysis"]["findings"]) == ["high", "low"]
    assert app["analysis"]["report_sha256"] == SHA_X and app["checkpoint"]["removed_from_node"] is True
    assert [o["path"] for o in app["outputs"]] == [app["analysis"]["report"], "/out/run-x/analysis/%s.json" % APP["slug"]]
    assert app["node"] == {"name": "worker-0", "kubeletVersion": "v1.29"}
    assert sidecar["transfers"][0]["verified"] is False
    assert [s["reason"][:20] for s in rec["skipped"]] == ["container app is not", "archive not readable"]
    assert rec["skipped"][1]["path"] == GONE["path"] and gone["outputs"] == []


def test_record_of_no_targets_validates():
    rec = record.record([], run(), [], [], [], "2026-11-26T21:22:00Z")
    jsonschema.validate(rec, schema())
    assert rec["items"] == [] and rec["skipped"] == []


def test_schema_rejects_a_record_without_who_ran_it():
    rec = record.record([], run(), finished="2026-11-26T21:22:00Z")
    del rec["operator"]["ansible_version"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(rec, schema())


def test_gather_tells_failed_nodes_from_finished_ones():
    hosts = {"forensic-analyser-b": {"_forensic_checkpoint_results": [{"key": "z"}, {"key": "a"}]},
             "forensic-analyser-a": {"_forensic_checkpoint_error": "Analyze: boom", "_forensic_checkpoint_analyser": {"node": "a"},
                                     "forensic_checkpoint_archives": [{"path": "/p"}]}}
    got = record.gather(hosts)
    assert [r["key"] for r in got["results"]] == ["a", "z"]
    assert got["failed_nodes"] == [{"node": "a", "error": "Analyze: boom", "archives": ["/p"]}]
    assert record.gather({}) == {"results": [], "failed_nodes": []}


def test_severity_gate_and_altered_lines():
    rows = node_results()
    assert record.over(rows, "none") == []
    assert record.over(rows, "high") == ["%s: high shell" % APP["key"], "%s: high " % APP["key"]]
    assert len(record.over(rows, "info")) == 3
    assert record.over([{"key": "k", "analysis": {"findings": [{"severity": "weird"}]}}], "info") == ["k: weird "]
    (line,) = record.altered(rows)
    assert SHA_B in line and SHA_X in line and ".sha256-MISMATCH" in line
