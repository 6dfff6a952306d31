# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""checkpoint_memory: one of search, read, strings or write per task, or the process maps."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.forensic.checkpoint.plugins.module_utils.errors import CheckpointError
from ansible_collections.forensic.checkpoint.plugins.module_utils.memory.queries import MemoryQueries
from ansible_collections.forensic.checkpoint.plugins.module_utils.runners.common import Outcome


def query(params, check_mode=False):
    """The query the parameters ask for, run; returns the result with its ``warnings``."""
    search = [name for name in ("pattern", "hex", "regex") if params.get(name)]
    chosen = search[:1] + [name for name in ("read", "strings", "write") if params.get(name) is not None]
    if len(chosen) > 1:
        raise CheckpointError(chosen[1], "give only one of pattern/hex/regex, read, strings or write per task")
    if params.get("dest") and chosen[:1] not in (["read"], ["write"]):
        raise CheckpointError("dest", "is only used with read or write")
    queries = MemoryQueries(params["path"], parent=params.get("parent"), pid=params.get("pid"), check_mode=check_mode,
                            max_vmas=params.get("max_vmas"), checksum=params.get("checksum", False),
                            max_processes=params.get("max_processes"))
    try:
        result = _ask(queries, params, search, chosen)
        if queries.archive_sha256:
            result["archive_sha256"] = queries.archive_sha256
        return result
    finally:
        queries.close()


def _ask(queries, params, search, chosen):
    """The one query ``chosen`` (or the search), run."""
    if search:
        return queries.search(params.get("pattern"), params.get("hex"), params.get("regex"),
                              params.get("ignore_case", False), params.get("context", 32), params.get("max_matches", 100))
    spec = params.get(chosen[0]) if chosen else None
    if chosen == ["read"]:
        return queries.read(spec.get("pid"), spec.get("address"), spec.get("length", 256), params.get("dest"))
    if chosen == ["strings"]:
        spec = spec or {}
        return queries.strings(spec.get("min_length", 4), spec.get("max_strings", 1000), spec.get("pid"))
    if chosen == ["write"]:
        return queries.write(spec.get("pid"), params.get("dest"), spec.get("vma"))
    return queries.describe()


def run(params, check_mode):
    result = query(params, check_mode)
    return Outcome(result, result.pop("warnings"))
