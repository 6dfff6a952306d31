# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""An in-memory stand-in for cluster.client.Cluster: objects by API path, scripted answers."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import json

from ansible_collections.forensic.checkpoint.plugins.module_utils.cluster.client import ApiError, Cluster


def api_error(status, message, details=None, subject="test"):
    return ApiError(subject, "%s (HTTP %s)" % (message, status), status, message, details)


class FakeCluster(Cluster):
    """Objects live in ``objects`` keyed by path; ``answers`` maps (method, path) to a callable or
    a list of answers served in turn (an ApiError in the list is raised). Writes are recorded in
    ``writes``; in dry-run mode they are validated but not stored."""

    def __init__(self, objects=None, minor=26, dry_run=False):
        super(FakeCluster, self).__init__(None, dry_run=dry_run, host="https://fake")
        self.objects = copy.deepcopy(objects or {})
        self.minor = minor
        self.answers = {}
        self.writes = []
        self.version = 1

    def request(self, method, path, subject, body=None, query=None, content_type=None, timeout=None,
                write=False):
        key = (method, path)
        if key in self.answers:
            answer = self.answers[key]
            if isinstance(answer, list):
                answer = answer.pop(0) if len(answer) > 1 else answer[0]
            if callable(answer) and not isinstance(answer, ApiError):
                answer = answer(body, query)
            if isinstance(answer, ApiError):
                raise answer
            return copy.deepcopy(answer)
        if method == "GET" and path == "/version":
            return {"major": "1", "minor": "%s+" % self.minor, "gitVersion": "v1.%s.9" % self.minor}
        if method == "GET":
            if path in self.objects:
                return copy.deepcopy(self.objects[path])
            prefix = path.rstrip("/") + "/"
            items = [copy.deepcopy(v) for k, v in sorted(self.objects.items())
                     if k.startswith(prefix) and "/" not in k[len(prefix):]]
            if items or path.endswith("s"):
                return {"items": items}
            raise api_error(404, "%s not found" % path)
        self.writes.append({"method": method, "path": path, "body": copy.deepcopy(body),
                            "dry_run": self.dry_run, "content_type": content_type})
        return self._write(method, path, body)

    def _write(self, method, path, body):
        if method == "DELETE":
            if path not in self.objects:
                raise api_error(404, "%s not found" % path)
            if not self.dry_run:
                del self.objects[path]
            return {"kind": "Status", "status": "Success"}
        if method == "POST":
            path = "%s/%s" % (path, body["metadata"]["name"])
            if path in self.objects:
                raise api_error(409, "already exists")
            new = copy.deepcopy(body)
        elif method == "PUT":
            new = copy.deepcopy(body)
        else:  # merge patch
            if path not in self.objects:
                raise api_error(404, "%s not found" % path)
            wanted = (body.get("metadata") or {}).get("resourceVersion")
            if wanted and wanted != self.objects[path]["metadata"].get("resourceVersion"):
                raise api_error(409, "the object has been modified")
            new = merge(copy.deepcopy(self.objects[path]), body)
        self.version += 1
        new.setdefault("metadata", {})["resourceVersion"] = str(self.version)
        if not self.dry_run:
            self.objects[path] = copy.deepcopy(new)
        return new


def merge(target, patch):
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return patch
    if not isinstance(target, dict):
        target = {}
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        else:
            target[key] = merge(target.get(key), value)
    return target


def dumps(obj):
    return json.dumps(obj, sort_keys=True)


class Clock(object):
    """A fake monotonic clock whose sleep only moves time on."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds
