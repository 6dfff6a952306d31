# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fault injection: API errors (500, 429, 503, ...) and slow answers for matching requests,
and kubelets whose checkpoint fails or takes long. Rules can be limited to a number of hits."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import itertools
import re

from . import errors

_ids = itertools.count(1)
API_MATCH_KEYS = ("verb", "group", "resource", "subresource", "namespace", "name", "user",
                  "path", "method")


class ApiFault:
    def __init__(self, status=None, delay=0.0, message="", retry_after=1, times=None,
                 **match):
        unknown = set(match) - set(API_MATCH_KEYS)
        if unknown:
            raise ValueError("unknown match keys: %s" % ", ".join(sorted(unknown)))
        if status is None and not delay:
            raise ValueError("a fault needs a status, a delay or both")
        if status is not None and not 400 <= int(status) <= 599:
            raise ValueError("status must be an HTTP error code (4xx/5xx)")
        if "path" in match:
            re.compile(match["path"])
        self.id = "api-%d" % next(_ids)
        self.status = int(status) if status is not None else None
        self.delay = float(delay or 0.0)
        self.message = message
        self.retry_after = int(retry_after)
        self.times = times
        self.hits = 0
        self.match = match

    def matches(self, info):
        for key, wanted in self.match.items():
            if key == "path":
                if not re.search(wanted, info.get("path", "")):
                    return False
            elif info.get(key, "") != wanted:
                return False
        return True

    def error(self):
        if self.status is None:
            return None
        if self.status == 429:
            return errors.too_many_requests(self.retry_after, self.message or
                                            "Too many requests, please try again later.")
        if self.status == 500:
            return errors.internal(self.message or "injected fault")
        if self.status == 503:
            return errors.service_unavailable(self.message or "the server is currently unable "
                                              "to handle the request")
        if self.status == 504:
            return errors.ApiError(504, "Timeout", self.message or "the server was unable to "
                                   "return a response in the time allotted")
        return errors.ApiError(self.status, "InternalError" if self.status >= 500 else
                               "BadRequest", self.message or "injected fault")

    def as_dict(self):
        return {"id": self.id, "kind": "api", "status": self.status, "delay": self.delay,
                "message": self.message, "retry_after": self.retry_after, "times": self.times,
                "hits": self.hits, "match": dict(self.match)}


class KubeletFault:
    def __init__(self, node="*", message="", delay=0.0, times=None, drop=0.0):
        if not message and not delay and not drop:
            raise ValueError("a kubelet fault needs a message (fail), a delay (slow) or a drop "
                             "(the connection dies after that many seconds, the archive is "
                             "still written)")
        self.drop = float(drop or 0.0)
        self.id = "kubelet-%d" % next(_ids)
        self.node = node
        self.message = message
        self.delay = float(delay or 0.0)
        self.times = times
        self.hits = 0

    def as_dict(self):
        return {"id": self.id, "kind": "kubelet", "node": self.node, "message": self.message,
                "delay": self.delay, "drop": self.drop, "times": self.times, "hits": self.hits}


class Faults:
    def __init__(self):
        self.rules = []

    def add(self, spec):
        spec = dict(spec)
        kind = spec.pop("kind", "api")
        if kind == "api":
            match = spec.pop("match", {}) or {}
            rule = ApiFault(**dict(spec, **match))
        elif kind == "kubelet":
            rule = KubeletFault(**spec)
        else:
            raise ValueError("kind must be 'api' or 'kubelet'")
        self.rules.append(rule)
        return rule

    def remove(self, rule_id):
        before = len(self.rules)
        self.rules = [r for r in self.rules if r.id != rule_id]
        return len(self.rules) != before

    def clear(self):
        self.rules = []

    def _take(self, rule):
        rule.hits += 1
        if rule.times is not None and rule.hits >= rule.times:
            self.rules.remove(rule)

    def api(self, info):
        for rule in list(self.rules):
            if isinstance(rule, ApiFault) and rule.matches(info):
                self._take(rule)
                return rule
        return None

    def kubelet(self, node):
        for rule in list(self.rules):
            if isinstance(rule, KubeletFault) and rule.node in ("*", node):
                self._take(rule)
                return rule
        return None

    def as_list(self):
        return [r.as_dict() for r in self.rules]
