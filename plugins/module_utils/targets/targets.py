# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What to checkpoint and what to search for, as the roles' users give it (lists, comma-separated
strings from surveys, single-target variables), in the one shape the modules take."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.forensic.checkpoint.plugins.module_utils.errors import CheckpointError


def _names(value):
    """A list from a list, or from a comma-separated string (survey fields are strings)."""
    if not value:
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return [str(part) for part in value]


def normalise(targets, single=None):
    """Targets as ``{namespace, pod, label_selectors, containers}``: ``targets`` when given, else
    the single target when it names a namespace. Fails, naming the target, on one that names no
    namespace, or neither a pod nor a selector."""
    if not targets:
        targets = [single] if single and single.get("namespace") else []
    out = []
    for index, target in enumerate(targets):
        if not isinstance(target, dict):
            raise CheckpointError("target %d" % (index + 1),
                                  "%r is not a dict of namespace, pod or label_selectors, containers" % (target,))
        selectors = target.get("label_selectors") or []
        entry = {"namespace": str(target.get("namespace") or ""), "pod": str(target.get("pod") or ""),
                 "label_selectors": [selectors] if isinstance(selectors, str) else list(selectors),
                 "containers": _names(target.get("containers"))}
        if not entry["namespace"] or not (entry["pod"] or entry["label_selectors"]):
            raise CheckpointError("target %d (%s)" % (index + 1, label(entry)),
                                  "needs a namespace and a pod or label_selectors")
        out.append(entry)
    return out


def label(target):
    """How a target shows in loop labels: namespace/pod or namespace/selectors."""
    return "%s/%s" % (target.get("namespace") or "", target.get("pod") or ",".join(target.get("label_selectors") or []))


def memory_searches(patterns, searches):
    """checkpoint_memory option dicts: plain strings (or lines of one string) are literal patterns."""
    if isinstance(patterns, str):
        patterns = patterns.splitlines()
    out = []
    for item in list(patterns or []) + list(searches or []):
        if isinstance(item, dict):
            out.append(dict(item))
        elif str(item).strip():
            out.append({"pattern": str(item).strip()})
    return out
