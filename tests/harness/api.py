# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Raw API access as the cluster's admin and polling, for the integration tests that set up and
check the cluster around what a module or role did (cluster and role tests alike)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

MCO_API = "/apis/machineconfiguration.openshift.io/v1"
FEATUREGATE = "/apis/config.openshift.io/v1/featuregates/cluster"
CRIU_MC = "05-worker-enable-criu"


class Api(object):
    """Raw JSON reads and writes as the cluster's admin, to set up and to check."""

    def __init__(self, cluster):
        self.client = cluster.dynamic()

    def get(self, path, **query):
        from kubernetes.dynamic.exceptions import NotFoundError

        try:
            answer = self.client.request("GET", path, query_params=list(query.items()))
        except NotFoundError:
            return None
        return answer.to_dict() if hasattr(answer, "to_dict") else answer

    def patch(self, path, body):
        return self.client.request("PATCH", path, body=body, content_type="application/merge-patch+json").to_dict()

    def delete(self, path):
        from kubernetes.dynamic.exceptions import NotFoundError

        try:
            self.client.request("DELETE", path)
        except NotFoundError:
            pass


def wait_for(what, check, timeout=120, interval=0.3):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for %s" % what)
        time.sleep(interval)
