# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The simulated cluster: the store, the controllers, the kubelets and the node directories.

On disk (under the state directory) each node has ``nodes/<node>/checkpoints`` (its kubelet
checkpoint directory) and ``nodes/<node>/host`` (the rest of its file system that hostPath
volumes see, including the files its current MachineConfig wrote); each pod that was exec'd
into has ``pods/<uid>``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import asyncio
import copy
import logging
import os
import shutil
import signal

from .apiserver import ApiServer
from .auth import Authenticator, Authorizer
from .builds import Builds
from .faults import Faults
from .kubelet import Kubelets
from .openshift import NodeRuntime, OpenShift
from .resources import RESOURCES, Registry
from .sandbox import Sandbox
from .seed import seed
from .store import Store
from .workloads import Workloads

log = logging.getLogger("simcluster")


class Simulator:
    def __init__(self, config):
        self.config = config
        self.settings = config.settings
        self._initial_settings = copy.deepcopy(config.settings.as_dict())
        self.registry = Registry(tuple(
            rt for rt in RESOURCES if config.openshift or not rt.group.endswith(".openshift.io")))
        self.authn = Authenticator()
        self.faults = Faults()
        self.apiserver = ApiServer(self)
        self.port = 0
        self.ca_pem = ""
        self.watchers = set()
        self._procs = set()
        self._tasks = []
        self.identities = {}
        self.on_identities_changed = None  # the CLI rewrites tokens.json
        self._build(first_rv=1000)
        for identity in self.identities.values():
            self.authn.add(identity)

    def _build(self, first_rv):
        # containers whose memory is the one their checkpoint fixture was taken from (seeded)
        self.original_containers = set()
        for sub in ("nodes", "pods"):
            path = self.config.path(sub)
            if os.path.isdir(path):
                shutil.rmtree(path)
            os.makedirs(path, mode=0o700)
        self._runtimes = {}
        self.store = Store(self.registry, first_rv=first_rv)
        self.authz = Authorizer(self.store, self.registry)
        self.workloads = Workloads(self)
        self.openshift = OpenShift(self)
        self.builds = Builds(self)
        self.kubelets = Kubelets(self)
        self.sandbox = Sandbox(self)
        identities = seed(self, self.config.identities_file)
        if not self.identities:
            self.identities = identities
        self.store.subscribe(self.workloads.on_event)
        self.store.subscribe(self.openshift.on_event)
        self.store.subscribe(self.builds.on_event)

    # --- nodes ----------------------------------------------------------------------------

    def node_runtime(self, name):
        runtime = self._runtimes.get(name)
        if runtime is None:
            runtime = self._runtimes[name] = NodeRuntime(name)
        return runtime

    def node_checkpoint_dir(self, name):
        path = self.config.path("nodes", name, "checkpoints")
        os.makedirs(path, mode=0o700, exist_ok=True)
        return path

    def node_host_dir(self, name):
        path = self.config.path("nodes", name, "host")
        os.makedirs(path, mode=0o755, exist_ok=True)
        return path

    def write_node_files(self, name, files):
        """Lay a MachineConfig's files onto the node's host directory."""
        root = self.node_host_dir(name)
        for path, data in files.items():
            target = os.path.normpath(os.path.join(root, path.lstrip("/")))
            if not target.startswith(root + os.sep):
                continue
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, "wb") as handle:
                handle.write(data)

    # --- lifecycle ------------------------------------------------------------------------

    def track_process(self, proc):
        self._procs.add(proc)
        asyncio.ensure_future(proc.wait()).add_done_callback(
            lambda _f: self._procs.discard(proc))

    async def start(self):
        loop = asyncio.get_event_loop()
        self._tasks = [loop.create_task(self.workloads.run()),
                       loop.create_task(self.openshift.run()),
                       loop.create_task(self.builds.run())]
        self.openshift.trigger.set()
        self.builds.trigger.set()
        self.workloads.trigger.set()

    async def stop(self):
        for task in self._tasks:
            task.cancel()
        for runtime in self._runtimes.values():
            if runtime.task is not None:
                runtime.task.cancel()
        tasks = self._tasks + [r.task for r in self._runtimes.values() if r.task is not None]
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks = []
        for proc in list(self._procs):
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        for queue in list(self.watchers):
            queue.put_nowait(None)

    async def reset(self):
        """Back to the initial cluster (same tokens and port), settings and no faults."""
        await self.stop()
        self.faults.clear()
        self.apiserver.down_until = self.apiserver.rollout_until = 0.0
        self.apiserver.down_reasons.clear()
        self.settings.update(self._initial_settings)
        self.authn.minted.clear()
        self._build(first_rv=self.store._rv + 1000)
        await self.start()
