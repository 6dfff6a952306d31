# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared fixtures for every test that talks to a cluster.

``cluster`` (session): the simulated OpenShift cluster (tools/simcluster), started once per
session, or the real cluster of ``FORENSIC_KUBECONFIG`` (optionally ``FORENSIC_KUBECONTEXT``).

    cluster.kubeconfig     path of a kubeconfig (current context: admin)
    cluster.host           API URL
    cluster.ca_cert        path of the CA bundle, or None (real cluster without one)
    cluster.token(name)    bearer token of "admin", "viewer", "enabler", "checkpointer",
                           "analyst" or "nobody" (tools/simcluster/src/simcluster/data/identities.yaml)
    cluster.env(identity=None)
                           K8S_AUTH_* (+ KUBECONFIG) for ansible/kubectl; with an identity:
                           K8S_AUTH_HOST/API_KEY/SSL_CA_CERT/VERIFY_SSL of that identity
    cluster.sim            SimControl (faults, degrade, timings, reset) or None on a real cluster
    cluster.real           True against a real cluster
    cluster.api_client(identity=None), cluster.dynamic(identity=None),
    cluster.request(method, path, body=None, identity="admin") -> (status, headers, bytes),
    cluster.kubectl(*args, identity=None, input=None) -> CompletedProcess

``ansible`` (session): ``ansible.module(name, args, identity=None, check=False)`` runs
``ansible localhost -m name -a <json>`` and ``ansible.playbook(path_or_yaml, extra_vars)``
runs ``ansible-playbook``, both from the repository root with ``cluster.env()`` and the
``ansible.posix.json`` callback, returning the parsed results (see harness.testing).

``fresh_cluster`` (function): ``cluster`` reset to its initial state before and after the
test (``cluster.sim.reset()``; simulator only, skipped on a real cluster).

``plain`` (module): ``(cluster, ansible)`` on plain Kubernetes (>= 1.30, CRI-O): a simulator of
its own started with ``--distribution kubernetes``, or the real cluster when it serves no
OpenShift API group (skipped when it is OpenShift).

Tests marked ``simulated_only`` are skipped against a real cluster; tests using ``cluster``
are marked ``cluster`` automatically.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

import pytest

from harness.testing import Ansible, RealCluster, SimulatedCluster, simulated


def _real_kubeconfig():
    return os.environ.get("FORENSIC_KUBECONFIG") or None


def pytest_collection_modifyitems(config, items):
    real = _real_kubeconfig()
    skip = pytest.mark.skip(reason="needs the simulated cluster (FORENSIC_KUBECONFIG is set)")
    for item in items:
        if "cluster" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.cluster)
        if real and item.get_closest_marker("simulated_only"):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def cluster(tmp_path_factory, request):
    kubeconfig = _real_kubeconfig()
    if kubeconfig:
        handle = RealCluster(kubeconfig, os.environ.get("FORENSIC_KUBECONTEXT"),
                             str(tmp_path_factory.mktemp("real-cluster")))
    else:
        handle = SimulatedCluster.start(str(tmp_path_factory.mktemp("simcluster")))
        reporter = request.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line("simcluster started in %.2fs at %s (state %s)"
                                % (handle.start_seconds, handle.host, handle.state_dir))
    yield handle
    handle.close()


@pytest.fixture
def fresh_cluster(cluster):
    if cluster.sim is None:
        pytest.skip("resetting needs the simulated cluster")
    cluster.sim.reset()
    yield cluster
    cluster.sim.reset()  # leave the initial cluster to whoever comes next


@pytest.fixture(scope="session")
def ansible(cluster):
    runner = Ansible(cluster)
    yield runner
    runner.close()


@pytest.fixture(scope="module")
def plain(cluster, tmp_path_factory):
    if cluster.sim is None:
        if cluster.request("GET", "/apis/config.openshift.io")[0] != 404:
            pytest.skip("the real cluster is OpenShift")
        runner = Ansible(cluster)
        yield cluster, runner
        runner.close()
        return
    with simulated(str(tmp_path_factory.mktemp("sim-kubernetes")), "--distribution", "kubernetes") as started:
        yield started
