# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Helpers of the simulator's own tests: ``Sim``, a small HTTPS client holding the admin
token of a simulator started by the ``start_sim`` fixture (conftest.py), and ``wait_for``.
(Not in conftest.py: test modules import these, and ``conftest`` is an ambiguous module name
when these tests run together with the collection's.)"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request

FAST = ("--rollout-delay", "0.2", "--render-delay", "0.2", "--pod-start-delay", "0.1",
        "--pod-stop-delay", "0.1", "--checkpoint-delay", "0.05")


class Sim:
    def __init__(self, state_dir):
        self.state_dir = state_dir
        with open(os.path.join(state_dir, "ready.json")) as handle:
            self.ready = json.load(handle)
        with open(self.ready["tokens"]) as handle:
            self.tokens = json.load(handle)
        self.url = self.ready["url"]
        self.ssl = ssl.create_default_context(cafile=self.ready["ca_cert"])

    def request(self, method, path, body=None, identity="admin", content_type=None,
                timeout=30):
        """(status, headers, body bytes); never raises for HTTP errors."""
        data = None
        headers = {"Authorization": "Bearer " + self.tokens[identity]["token"]}
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            headers["Content-Type"] = content_type or "application/json"
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers=headers)
        try:
            with urllib.request.urlopen(req, context=self.ssl, timeout=timeout) as resp:
                return resp.status, dict(resp.headers), resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), exc.read()

    def json(self, method, path, body=None, expect=200, **kwargs):
        status, _headers, data = self.request(method, path, body, **kwargs)
        assert status == expect, (method, path, status, data[:500])
        return json.loads(data) if data else None

    def get(self, path, **kwargs):
        return self.json("GET", path, **kwargs)

    def patch(self, path, body, **kwargs):
        return self.json("PATCH", path, body, content_type="application/merge-patch+json",
                         **kwargs)

    def control(self, method, path, body=None, expect=200):
        return self.json(method, "/_simcluster/v1" + path, body, expect=expect)

    def stop(self):
        subprocess.run([sys.executable, "-m", "simcluster", "stop", "--state-dir",
                        self.state_dir], capture_output=True, timeout=30, check=False)


def value_if(value, predicate):
    """``value`` when ``predicate(value)`` holds, else None (for wait_for)."""
    return value if value and predicate(value) else None


def wait_for(what, predicate, timeout=30.0, interval=0.1):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.0fs waiting for %s" % (timeout, what))
        time.sleep(interval)
