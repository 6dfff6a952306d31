# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Simulator configuration: versions, timings (changeable at run time) and paths."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import dataclasses
import os
import re

PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
DATA_DIR = os.path.join(PACKAGE_DIR, "data")
# The real checkpoint archives the kubelets serve live with the collection's test fixtures
# (tests/fixtures/archives/README.md); the package is installed editable from tools/simcluster/src,
# so they are found from here unless SIMCLUSTER_ARCHIVES names another directory.
ARCHIVES_DIR = os.environ.get("SIMCLUSTER_ARCHIVES") or os.path.join(
    PACKAGE_DIR, os.pardir, os.pardir, os.pardir, os.pardir, "tests", "fixtures", "archives")
ARCHIVES_DIR = os.path.normpath(ARCHIVES_DIR)
# The kubelet/CRI-O layout checkpoint of counters-7d9f8b6c5d-x2x4q (stored zstd-compressed and
# without the colons of its kubelet name).
CHECKPOINT_FIXTURE = os.path.join(ARCHIVES_DIR, "counters-crio.tar.zst")

# OpenShift minor -> Kubernetes minor it ships (and CRI-O follows Kubernetes' minor).
OPENSHIFT_KUBE_MINOR = {12: 25, 13: 26, 14: 27, 15: 28, 16: 29, 17: 30, 18: 31, 19: 32,
                        20: 33}
# ContainerCheckpoint is beta and on by default from 1.30; CRI-O enables CRIU support by default
# from 1.30 as well. Before that both steps of the workflow are needed.
CHECKPOINT_DEFAULT_ON_MINOR = 30
TOPOLOGIES = ("standard", "compact", "sno")
DISTRIBUTIONS = ("openshift", "kubernetes")
# plain Kubernetes (kubeadm-like, CRI-O): no OpenShift API group at all; only versions where
# ContainerCheckpoint (beta from 1.30) and CRI-O's enable_criu_support (true from CRI-O 1.30,
# reference notes section 2) default on, so nothing needs enabling
PLAIN_DEFAULT_KUBERNETES = "1.31.4"


def rendered_ignition_version(openshift_minor):
    """The Ignition spec the MCO renders to: 3.2.0 up to 4.13, 3.4.0 from 4.14 (MCO commit
    edaecd9c7 "ignition to 3.4", first in release-4.14), 3.5.0 from 4.19 (995bf2614 "Rework
    controller and server to support ign to 3.5", first in release-4.19)."""
    if openshift_minor >= 19:
        return "3.5.0"
    return "3.4.0" if openshift_minor >= 14 else "3.2.0"


@dataclasses.dataclass
class Settings:
    """Knobs the control API may change while the simulator runs."""

    rollout_delay: float = 3.0      # seconds the MCD spends updating one node
    render_delay: float = 1.0       # MachineConfig change -> new rendered config on the pool
    pod_start_delay: float = 0.5    # scheduled -> Running
    pod_stop_delay: float = 0.5     # cap on a pod's termination grace period
    checkpoint_delay: float = 0.3   # how long CRIU "takes" to dump a container
    runtime_request_timeout: float = 120.0  # the kubelet's floor for a checkpoint timeout
    drain: bool = True              # evict pods (Eviction API) from a node before rebooting it
    drain_retry: float = 1.0        # a refused drain is retried after this (MCO: 1 min)
    drain_failing_threshold: float = 600.0  # then DrainThresholdExceeded events (MCO: 10 min)
    node_utc_offset_minutes: int = 0  # node local time zone (kubelet checkpoint file names)
    image_pull_backoff: float = 1.0  # ErrImagePull -> ImagePullBackOff after this
    unpullable_images: str = ""      # regular expression: images no registry serves
    build_delay: float = 2.0         # a Build's Pending -> Complete
    time_scale: float = 1.0          # real seconds per cluster second of API outages
    apiserver_rollout: float = 0.0   # cluster seconds of kube-apiserver rollout after a
    #                                  FeatureGate change (0: none; OpenShift: minutes)
    build_failure: str = ""          # e.g. DockerBuildFailed: every build fails so

    def update(self, values):
        unknown = set(values) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise ValueError("unknown settings: %s" % ", ".join(sorted(unknown)))
        for key, value in values.items():
            kind = type(getattr(self, key))
            if kind is bool and not isinstance(value, bool):
                raise ValueError("%s must be a boolean" % key)
            if kind in (int, float) and (isinstance(value, bool) or
                                         not isinstance(value, (int, float)) or value < -1440):
                raise ValueError("%s must be a number" % key)
            setattr(self, key, kind(value))

    def as_dict(self):
        return dataclasses.asdict(self)


@dataclasses.dataclass
class SimConfig:
    state_dir: str
    host: str = "127.0.0.1"
    port: int = 0
    openshift_version: str = "4.13.0"
    kubernetes_version: str = ""    # derived from openshift_version when empty
    settings: Settings = dataclasses.field(default_factory=Settings)
    identities_file: str = ""
    workers: int = 3                # worker nodes besides the one master
    topology: str = "standard"      # standard | compact (3 schedulable masters) | sno
    pools: tuple = ()               # custom pools: ((name, (node, ...)), ...)
    workloads: tuple = ()           # extra seeded apps besides counters: lookup, criu41-worker
    preloaded_images: tuple = ()    # images present on every node (no pull with IfNotPresent)
    distribution: str = "openshift"  # openshift | kubernetes (no OpenShift API groups)

    def __post_init__(self):
        if self.topology not in TOPOLOGIES:
            raise ValueError("--topology must be one of %s" % ", ".join(TOPOLOGIES))
        if not re.match(r"^4\.\d+\.\d+$", self.openshift_version):
            raise ValueError("--openshift-version must look like 4.13.0")
        if self.distribution not in DISTRIBUTIONS:
            raise ValueError("--distribution must be one of %s" % ", ".join(DISTRIBUTIONS))
        if not self.openshift and not self.kubernetes_version:
            self.kubernetes_version = PLAIN_DEFAULT_KUBERNETES
        if not self.kubernetes_version:
            minor = OPENSHIFT_KUBE_MINOR.get(int(self.openshift_version.split(".")[1]), 26)
            self.kubernetes_version = "1.%d.9" % minor
        if not re.match(r"^1\.\d+\.\d+$", self.kubernetes_version):
            raise ValueError("--kubernetes-version must look like 1.26.9")
        if not self.openshift and (self.kube_minor < CHECKPOINT_DEFAULT_ON_MINOR or self.pools):
            raise ValueError("--distribution kubernetes needs --kubernetes-version 1.%d or newer "
                             "and no --pool" % CHECKPOINT_DEFAULT_ON_MINOR)

    @property
    def openshift(self):
        return self.distribution == "openshift"

    @property
    def kube_minor(self):
        return int(self.kubernetes_version.split(".")[1])

    @property
    def openshift_minor(self):
        return int(self.openshift_version.split(".")[1])

    @property
    def git_version(self):
        return "v%s+simcluster" % self.kubernetes_version

    @property
    def crio_version(self):
        return "1.%d.4" % self.kube_minor

    @property
    def ignition_version(self):
        return rendered_ignition_version(self.openshift_minor)

    @property
    def checkpoint_default_on(self):
        return self.kube_minor >= CHECKPOINT_DEFAULT_ON_MINOR

    def path(self, *parts):
        return os.path.join(self.state_dir, *parts)
