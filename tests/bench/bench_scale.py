# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Scale of the forensic workflow (issue 8): checkpoint and analyse PODS pods spread over the
simulated cluster's nodes with playbooks/checkpoint.yml in one run, against PODS one-pod runs of
the same playbook, really run one after the other in the same session (nothing is extrapolated).
Checkpoints are taken in parallel by container_checkpoint and the analysis runs in one fork per
node, so one PODS-pod run should cost far less than PODS one-pod runs.

PODS is 6 by default (BENCH_SCALE_PODS overrides): a one-pod run costs 20-50 s on the shared
2-core machine, so 50 real one-pod runs (17-40 min) would not fit in `make bench`; 6 keeps this
bench near 6 minutes (8 pods: 8 minutes, speed-up 4.0x). Set-up (not timed): a simulated
cluster with fast timings, checkpointing enabled, the analyser deployed, a Deployment of PODS
pods that tolerates every node of a five-node simulated cluster (one master, four workers). Both
ways must analyse the same pods. It fails (exit 1) if the PODS-pod run is not at least twice as
fast as the PODS one-pod runs.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import shutil
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests"))

from simcluster.testing import Ansible, SimulatedCluster  # noqa: E402  pylint: disable=wrong-import-position

PODS = int(os.environ.get("BENCH_SCALE_PODS", "6"))
FORKS = 10
SETTINGS = ("--workers", "4", "--rollout-delay", "0.2", "--render-delay", "0.2", "--pod-start-delay", "0.1",
            "--pod-stop-delay", "0.1", "--checkpoint-delay", "0.05")
COMMON = {"forensic_enable": False, "forensic_deploy_analyser": False, "forensic_checkpoint_report": False,
          "forensic_checkpoint_parallel": 8}


def _playbook(name):
    return os.path.join(REPO, "playbooks", name)


def _check(result, what):
    if result.rc != 0:
        print("%s failed (rc %s):\n%s\n%s" % (what, result.rc, result.stdout[-4000:], result.stderr[-2000:]))
        raise SystemExit(1)


def _deploy_pods(cluster):
    """PODS replicas of the counters container, allowed on every node (masters included)."""
    api = cluster.dynamic()
    counters = api.resources.get(api_version="apps/v1", kind="Deployment").get(namespace="demo", name="counters")
    template = counters.to_dict()["spec"]["template"]
    template["metadata"]["labels"] = {"app": "scale"}
    template["spec"]["tolerations"] = [{"operator": "Exists"}]
    api.resources.get(api_version="v1", kind="Namespace").create(body={"metadata": {"name": "scale"}})
    api.resources.get(api_version="apps/v1", kind="Deployment").create(namespace="scale", body={
        "metadata": {"name": "scale"},
        "spec": {"replicas": PODS, "selector": {"matchLabels": {"app": "scale"}}, "template": template}})
    pods_api = api.resources.get(api_version="v1", kind="Pod")
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        pods = [p for p in pods_api.get(namespace="scale", label_selector="app=scale").items
                if p.status.phase == "Running"]
        if len(pods) >= PODS:
            return pods
        time.sleep(1)
    print("only %d of %d pods running after 300 s" % (len(pods), PODS))
    raise SystemExit(1)


def _analysed(output):
    """The analyses (one file per pod) written under ``output``'s run directories."""
    return sorted(name for run_dir in os.listdir(output)
                  for name in os.listdir(os.path.join(output, run_dir, "analysis")))


def _timed(ansible, extra, output):
    started = time.monotonic()
    result = ansible.playbook(_playbook("checkpoint.yml"), dict(COMMON, forensic_checkpoint_output_dir=output, **extra),
                              env={"ANSIBLE_FORKS": str(FORKS)})
    return result, time.monotonic() - started


def run():
    workdir = tempfile.mkdtemp(prefix="bench-scale-")
    cluster = SimulatedCluster.start(os.path.join(workdir, "sim"), extra_args=SETTINGS)
    ansible = Ansible(cluster)
    try:
        ready = ansible.playbook(_playbook("forensic.yml"), {
            "enable_checkpointing_accept_irreversible": True, "enable_checkpointing_wait_sleep": 1,
            "enable_checkpointing_crio_criu_roles": ["master", "worker"],
            "forensic_checkpoint_namespace": "demo", "forensic_checkpoint_label_selectors": "app=counters",
            "forensic_checkpoint_report": False, "forensic_checkpoint_output_dir": os.path.join(workdir, "warm-up")})
        _check(ready, "set-up (enable, analyser, one warm-up run)")
        pods = _deploy_pods(cluster)
        nodes = sorted({p.spec.nodeName for p in pods})

        serial = []
        for pod in pods[:PODS]:
            one, seconds = _timed(ansible, {"forensic_checkpoint_namespace": "scale",
                                            "forensic_checkpoint_pod": pod.metadata.name}, os.path.join(workdir, "one"))
            _check(one, "one-pod run (%s)" % pod.metadata.name)
            serial.append(seconds)
        many, t_many = _timed(ansible, {"forensic_checkpoint_namespace": "scale",
                                        "forensic_checkpoint_label_selectors": "app=scale"}, os.path.join(workdir, "many"))
        _check(many, "%d-pod run" % PODS)
        one_by_one, together = _analysed(os.path.join(workdir, "one")), _analysed(os.path.join(workdir, "many"))
        if len(together) != PODS or one_by_one != together:
            print("FAIL: analysed one by one %s, together %s" % (one_by_one, together))
            raise SystemExit(1)

        print("nodes:            %d (%s), forks %d" % (len(nodes), ", ".join(nodes), FORKS))
        print("1 pod:            median %.1f s (min %.1f, max %.1f, n=%d) (checkpoint.yml: checkpoint, analyse on the "
              "node, custody record)" % (statistics.median(serial), min(serial), max(serial), len(serial)))
        print("%d one-pod runs:   %6.1f s (measured, one after the other)" % (PODS, sum(serial)))
        print("%d pods in one run: %6.1f s (%.2f s per pod) -> speed-up %.1fx; %d pods cost %.1f one-pod runs"
              % (PODS, t_many, t_many / PODS, sum(serial) / t_many, PODS, t_many / statistics.median(serial)))
        if sum(serial) / t_many < 2.0:
            print("FAIL: the %d-pod run is not twice as fast as %d one-pod runs" % (PODS, PODS))
            raise SystemExit(1)
    finally:
        ansible.close()
        cluster.close()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    run()
