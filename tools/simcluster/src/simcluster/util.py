# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Small helpers shared by the simulator's modules."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import hashlib
import random
import time

# The alphabet Kubernetes uses for generated name suffixes and pod-template hashes (no vowels,
# no look-alike characters, so generated names never spell words).
SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"

_rand = random.SystemRandom()


def suffix(length=5):
    return "".join(_rand.choice(SAFE_ALPHABET) for _pos in range(length))


def hex_id(length=64):
    return "".join(_rand.choice("0123456789abcdef") for _pos in range(length))


def now_iso(at=None):
    at = time.time() if at is None else at
    return datetime.datetime.fromtimestamp(int(at), datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text):
    if not text:
        return None
    return datetime.datetime.strptime(text[:19], "%Y-%m-%dT%H:%M:%S").replace(
        tzinfo=datetime.timezone.utc).timestamp()


def rfc3339(at, utc_offset_minutes=0):
    """Go's ``time.RFC3339`` in a node's local zone: ``Z`` for UTC, else ``+08:00``."""
    zone = datetime.timezone(datetime.timedelta(minutes=utc_offset_minutes))
    stamp = datetime.datetime.fromtimestamp(int(at), zone)
    text = stamp.strftime("%Y-%m-%dT%H:%M:%S")
    if utc_offset_minutes == 0:
        return text + "Z"
    sign = "+" if utc_offset_minutes > 0 else "-"
    minutes = abs(utc_offset_minutes)
    return "%s%s%02d:%02d" % (text, sign, minutes // 60, minutes % 60)


def safe_hash(text, length=10):
    """A stable short hash in the safe alphabet (like pod-template-hash)."""
    number = int(hashlib.sha256(text.encode()).hexdigest(), 16)
    out = []
    for _pos in range(length):
        number, rem = divmod(number, len(SAFE_ALPHABET))
        out.append(SAFE_ALPHABET[rem])
    return "".join(out)


def dig(obj, *path, default=None):
    cur = obj
    for part in path:
        if isinstance(cur, dict):
            cur = cur.get(part)
        elif isinstance(cur, list) and isinstance(part, int) and -len(cur) <= part < len(cur):
            cur = cur[part]
        else:
            return default
        if cur is None:
            return default
    return cur


def human_age(seconds):
    """kubectl's short duration (``45s``, ``3m12s``, ``5h``, ``2d3h``)."""
    seconds = int(seconds)
    if seconds < 0:
        return "0s"
    if seconds < 120:
        return "%ds" % seconds
    minutes = seconds // 60
    if minutes < 10:
        rest = seconds % 60
        return "%dm%ds" % (minutes, rest) if rest else "%dm" % minutes
    if minutes < 180:
        return "%dm" % minutes
    hours = minutes // 60
    if hours < 8:
        rest = minutes % 60
        return "%dh%dm" % (hours, rest) if rest else "%dh" % hours
    if hours < 48:
        return "%dh" % hours
    if hours < 24 * 8:
        rest = hours % 24
        return "%dd%dh" % (hours // 24, rest) if rest else "%dd" % (hours // 24)
    if hours < 24 * 365 * 2:
        return "%dd" % (hours // 24)
    return "%dy%dd" % (hours // (24 * 365), (hours // 24) % 365)


def condition(conditions, kind):
    for cond in conditions or []:
        if cond.get("type") == kind:
            return cond
    return None


def set_condition(conditions, kind, status, reason="", message="", at=None, extra=None):
    """Set a condition, keeping lastTransitionTime when the status does not change."""
    current = condition(conditions, kind)
    stamp = now_iso(at)
    if current is None:
        current = {"type": kind}
        conditions.append(current)
        current["lastTransitionTime"] = stamp
    elif current.get("status") != status:
        current["lastTransitionTime"] = stamp
    current["status"] = status
    # reason and message are omitempty in the API types
    for key, value in (("reason", reason), ("message", message)):
        if value:
            current[key] = value
        else:
            current.pop(key, None)
    if extra:
        current.update(extra)
    return current
