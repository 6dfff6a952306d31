# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Different workloads give different archives: counters, the compromised lookup service and
the CRIU 4.1.1 job worker each checkpoint to their own real archive, in the CRI-O layout."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import tarfile

import pytest
from simtest import value_if, wait_for

PODMAN_ONLY = {"artifacts", "devshm-checkpoint.tar", "network.status", "ctr.log"}


def app_pod(sim, app):
    pods = sim.get("/api/v1/namespaces/demo/pods?labelSelector=app%3D" + app)["items"]
    return next(p for p in pods if not p["metadata"].get("deletionTimestamp"))


def checkpoint(sim, pod):
    ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
    ctr, node = pod["spec"]["containers"][0]["name"], pod["spec"]["nodeName"]
    body = sim.json("POST", "/api/v1/nodes/%s/proxy/checkpoint/%s/%s/%s" % (node, ns, name, ctr))
    return os.path.join(sim.control("GET", "/state")["nodes"][node]["checkpoint_dir"],
                        os.path.basename(body["items"][0]))


def contents(path):
    with tarfile.open(path) as archive:
        names = archive.getnames()
        spec = json.load(archive.extractfile("spec.dump"))
        config = json.load(archive.extractfile("config.dump"))
        log = archive.extractfile("dump.log").read().decode()
        pages = b"".join(archive.extractfile(m).read() for m in archive.getmembers()
                         if m.name.startswith("checkpoint/pages-"))
    return names, spec, config, log, pages


@pytest.mark.parametrize("app, args, criu, secret", [
    ("counters", "/app/counter.py", "4.2", b"RANDOM_1432_KEY"),
    ("lookup", "/app/lookup.py", "4.2", b"ghp_R4nd0mT0k3nV4lu3F0rF0r3ns1csTest01"),
    ("job-worker", "sh", "4.1.1", b"OLD_CRIU_SECRET_5521"),
])
def test_each_workload_checkpoints_to_its_own_archive(start_sim, app, args, criu, secret):
    sim = start_sim("--openshift-version", "4.17.0", "--workload", "lookup",
                    "--workload", "criu41-worker")
    pod = app_pod(sim, app)
    names, spec, config, log, pages = contents(checkpoint(sim, pod))
    assert not PODMAN_ONLY & {n.split("/")[0] for n in names}
    assert {"bind.mounts", "dump.log", "io.kubernetes.cri-o.LogPath", "stats-dump"} <= set(names)
    ann = spec["annotations"]
    assert ann["io.container.manager"] == "cri-o"
    assert ann["io.kubernetes.pod.name"] == pod["metadata"]["name"]
    assert ann["io.kubernetes.cri-o.ContainerID"] == \
        pod["status"]["containerStatuses"][0]["containerID"].split("//")[1]
    assert config["id"] == ann["io.kubernetes.cri-o.ContainerID"]
    assert config["rootfsImageName"] == pod["spec"]["containers"][0]["image"]
    assert any(args in a for a in spec["process"]["args"]), spec["process"]["args"]
    assert "Version: %s " % criu in log
    assert secret in pages  # the seeded pod is the very process the fixture was taken from


def test_a_new_lookup_pod_is_a_new_process(start_sim):
    """A replacement pod (deleted, recreated by its ReplicaSet) holds another session token."""
    sim = start_sim("--openshift-version", "4.17.0", "--workload", "lookup")
    pod = app_pod(sim, "lookup")
    sim.json("DELETE", "/api/v1/namespaces/demo/pods/" + pod["metadata"]["name"])
    new = wait_for("the replacement", lambda: value_if(
        app_pod(sim, "lookup"), lambda p: p["metadata"]["uid"] != pod["metadata"]["uid"] and
        p["status"].get("phase") == "Running"))
    _names, spec, _config, _log, pages = contents(checkpoint(sim, new))
    assert b"ghp_R4nd0mT0k3nV4lu3F0rF0r3ns1csTest01" not in pages
    assert b"ghp_" in pages and any("/app/lookup.py" in a for a in spec["process"]["args"])
