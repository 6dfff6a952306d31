# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Label selectors (query strings and ``LabelSelector`` objects) and field selectors."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from .errors import bad_request

_KEY = r"(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?/)?[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?"
_VALUE = r"(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?)?"
_SET_RE = re.compile(r"^\s*(%s)\s+(in|notin)\s*\(([^()]*)\)\s*$" % _KEY)
_CMP_RE = re.compile(r"^\s*(%s)\s*(==|!=|=|>|<)\s*(%s)\s*$" % (_KEY, _VALUE))
_EXISTS_RE = re.compile(r"^\s*(!?)\s*(%s)\s*$" % _KEY)
_VALUE_RE = re.compile(r"^%s$" % _VALUE)


def _split_top(text):
    parts, depth, cur = [], 0, []
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return parts


def parse_label_selector(text):
    """Parse ``a=b,c!=d,e in (f,g),!h`` into a list of (key, op, values) requirements."""
    reqs = []
    if not text or not text.strip():
        return reqs
    for part in _split_top(text):
        m = _SET_RE.match(part)
        if m:
            values = [v.strip() for v in m.group(3).split(",") if v.strip()]
            for value in values:
                if not _VALUE_RE.match(value):
                    raise bad_request("unable to parse requirement: invalid label value: %r"
                                      % value)
            reqs.append((m.group(1), m.group(2), values))
            continue
        m = _CMP_RE.match(part)
        if m:
            op = {"=": "=", "==": "=", "!=": "!=", ">": "gt", "<": "lt"}[m.group(2)]
            if op in ("gt", "lt") and not re.match(r"^-?\d+$", m.group(3)):
                raise bad_request("unable to parse requirement: for 'Gt', 'Lt' operators, the "
                                  "value must be an integer")
            reqs.append((m.group(1), op, [m.group(3)]))
            continue
        m = _EXISTS_RE.match(part)
        if m:
            reqs.append((m.group(2), "!" if m.group(1) else "exists", []))
            continue
        raise bad_request("unable to parse requirement: found '%s', expected: identifier"
                          % part.strip())
    return reqs


def _match_req(labels, key, op, values):
    present = key in labels
    value = labels.get(key)
    if op == "=":
        return present and value == values[0]
    if op == "!=":
        return not present or value != values[0]
    if op == "in":
        return present and value in values
    if op == "notin":
        return not present or value not in values
    if op == "exists":
        return present
    if op == "!":
        return not present
    if op in ("gt", "lt"):
        try:
            number = int(value)
        except (TypeError, ValueError):
            return False
        return number > int(values[0]) if op == "gt" else number < int(values[0])
    return False


def match_labels(reqs, labels):
    labels = labels or {}
    return all(_match_req(labels, k, op, vals) for k, op, vals in reqs)


def label_selector_object_matches(selector, labels):
    """Match a ``LabelSelector`` (matchLabels/matchExpressions). None selects nothing."""
    if selector is None:
        return False
    labels = labels or {}
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    ops = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!"}
    for expr in selector.get("matchExpressions") or []:
        op = ops.get(expr.get("operator"))
        if op is None or not _match_req(labels, expr.get("key"), op, expr.get("values") or []):
            return False
    return True


def selector_to_string(selector):
    parts = ["%s=%s" % kv for kv in sorted((selector or {}).get("matchLabels", {}).items())]
    for expr in (selector or {}).get("matchExpressions") or []:
        op = expr.get("operator")
        if op in ("In", "NotIn"):
            parts.append("%s %s (%s)" % (expr["key"], op.lower(), ",".join(expr.get("values"))))
        elif op == "Exists":
            parts.append(expr["key"])
        else:
            parts.append("!" + expr["key"])
    return ",".join(parts)


def _unescape_split(text, sep):
    out, cur, i = [], [], 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            cur.append(text[i + 1])
            i += 2
            continue
        if ch == sep:
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
        i += 1
    out.append("".join(cur))
    return out


def parse_field_selector(text, allowed):
    """Parse ``k=v,k2!=v2``; field labels outside ``allowed`` are refused like the real server."""
    reqs = []
    if not text or not text.strip():
        return reqs
    for part in _unescape_split(text, ","):
        m = re.match(r"^\s*([^=!\s]+)\s*(==|!=|=)\s*(.*?)\s*$", part)
        if not m:
            raise bad_request("invalid selector: '%s'; can't understand '%s'" % (text, part))
        key, op, value = m.group(1), m.group(2), m.group(3)
        if key not in allowed:
            raise bad_request("field label not supported: %s" % key)
        reqs.append((key, "!=" if op == "!=" else "=", value))
    return reqs


def field_value(obj, path):
    cur = obj
    for part in path.split("."):
        if not isinstance(cur, dict):
            return ""
        cur = cur.get(part)
    if cur is None:
        return ""
    if isinstance(cur, bool):
        return "true" if cur else "false"
    if isinstance(cur, dict) and path == "source":
        return cur.get("component", "")
    return str(cur)


def match_fields(reqs, obj):
    for key, op, value in reqs:
        actual = field_value(obj, key)
        if op == "=" and actual != value:
            return False
        if op == "!=" and actual == value:
            return False
    return True
