# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The loop every simulated controller runs: level-triggered reconciliation, woken by store events
or by the earliest time a reconcile asked to be called back (a rollout delay, a pod start)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import asyncio
import logging
import time


class Controller:
    """Subclasses implement ``reconcile()`` and set ``trigger`` on the events they care about."""

    name = "controller"

    def __init__(self):
        self.trigger = asyncio.Event()
        self._wake = None

    async def run(self):
        while True:
            timeout = None if self._wake is None else max(0.0, self._wake - time.monotonic())
            try:
                await asyncio.wait_for(self.trigger.wait(), timeout)
            except asyncio.TimeoutError:
                pass
            self.trigger.clear()
            self._wake = None
            try:
                self.reconcile()
            except Exception:  # keep the controller alive; the log tells what went wrong
                logging.getLogger("simcluster." + self.name).exception("%s reconcile failed", self.name)

    def reconcile(self):
        raise NotImplementedError

    def _wake_at(self, when):
        """Reconcile again at ``when`` (time.monotonic()) at the latest."""
        if self._wake is None or when < self._wake:
            self._wake = when
