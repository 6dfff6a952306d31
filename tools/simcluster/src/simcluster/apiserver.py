# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The API server's availability: outages (connections refused: the listening socket is
closed, open connections are reset) and kube-apiserver revision rollouts.

On OpenShift a FeatureGate change rolls a new kube-apiserver revision onto every master, one
at a time (openshift/cluster-kube-apiserver-operator); behind the load balancer clients then
meet, for a while, refused or reset connections, ``503 ServiceUnavailable`` and ``429
TooManyRequests`` with ``Retry-After`` (the graceful shutdown's "send retry-after"). On a
single-node cluster the API server is simply gone while the master reboots. Durations are in
cluster seconds, multiplied by the ``time_scale`` setting, so a 60 s outage can take 3 s.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import asyncio
import itertools
import logging
import time

from . import errors

log = logging.getLogger("simcluster.apiserver")


class Listener:
    """Closes and reopens the HTTPS listening socket (set up by the CLI)."""

    def __init__(self, runner, host, port, ssl_context):
        from aiohttp import web

        self._make = lambda: web.TCPSite(runner, host, port, ssl_context=ssl_context,
                                         reuse_address=True, shutdown_timeout=2.0)
        self.site = None

    async def start(self):
        self.site = self._make()
        await self.site.start()
        return self.site

    async def stop(self):
        if self.site is not None:
            await self.site.stop()
            self.site = None


class ApiServer:
    def __init__(self, sim):
        self.sim = sim
        self.listener = None       # a Listener, once serving
        self.down_until = 0.0      # refusing (monotonic time)
        self.down_reasons = set()  # e.g. "reboot:master-0" while a single master reboots
        self.rollout_until = 0.0
        self.outages = []          # (kind, started (wall clock), cluster seconds): a record
        self._cycle = itertools.count()
        self._task = None

    def scaled(self, seconds):
        return max(0.0, float(seconds)) * self.sim.settings.time_scale

    @property
    def down(self):
        return bool(self.down_reasons) or time.monotonic() < self.down_until

    # --- what a request meets ---------------------------------------------------------------

    def check(self, request):
        """Raise the answer an unavailable API server gives, or return None. A connection
        reset is ``ConnectionResetError`` (the server aborts the transport)."""
        if self.down:
            raise ConnectionResetError("the API server is down")
        if time.monotonic() >= self.rollout_until:
            return
        # one master's kube-apiserver restarting at a time: most requests still get through
        turn = next(self._cycle) % 4
        if turn == 1:
            raise errors.service_unavailable("the server is currently unable to handle the "
                                             "request")
        if turn == 2:
            raise errors.too_many_requests(1, "The apiserver is shutting down, please try again "
                                              "later.")
        if turn == 3:
            raise ConnectionResetError("kube-apiserver instance restarting")

    # --- outages ------------------------------------------------------------------------------

    def rollout(self, seconds):
        """A kube-apiserver revision rollout window (mixed 503/429/resets)."""
        if seconds <= 0:
            return
        self.rollout_until = max(self.rollout_until, time.monotonic() + self.scaled(seconds))
        self.outages.append(("rollout", time.time(), seconds))
        log.info("kube-apiserver rollout for %ss (scaled %.2fs)", seconds, self.scaled(seconds))

    def outage(self, seconds):
        """Refuse connections for ``seconds`` (cluster time)."""
        self.down_until = max(self.down_until, time.monotonic() + self.scaled(seconds))
        self.outages.append(("outage", time.time(), seconds))
        self._schedule()

    def set_down(self, reason, down):
        """Down for as long as ``reason`` holds (a single master rebooting)."""
        if down:
            if reason not in self.down_reasons:
                self.outages.append((reason, time.time(), None))
            self.down_reasons.add(reason)
        else:
            self.down_reasons.discard(reason)
        self._schedule()

    def _schedule(self):
        if self._task is None or self._task.done():
            self._task = asyncio.get_event_loop().create_task(self._run())

    async def _run(self):
        """Close the listener while down, reopen it after."""
        if self.listener is None:
            return
        await self.listener.stop()
        log.info("API server down: connections refused")
        while self.down:
            await asyncio.sleep(0.02)
        await self.listener.start()
        log.info("API server serving again")

    def as_dict(self):
        now = time.monotonic()
        return {"down": self.down, "down_reasons": sorted(self.down_reasons),
                "down_for": round(max(0.0, self.down_until - now), 3),
                "rollout_for": round(max(0.0, self.rollout_until - now), 3),
                "outages": [{"kind": k, "started": s, "seconds": d} for k, s, d in self.outages]}

    async def stop(self):
        if self._task is not None:
            self._task.cancel()
