# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every analysis module returns on every fixture archive, for the refactoring regression test.

``run_cases(archives, workdir)`` runs each module in-process (as Ansible runs it: argument spec,
main(), exit_json) with representative options and returns {case name: normalised result}.
Volatile values (the temporary directory, durations, report bytes that embed a time) are replaced,
so two runs of the same code give identical data. ``python tests/module_outputs.py`` rewrites
tests/fixtures/regression/outputs.json from the current code.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import importlib
import io
import json
import os
import sys
from unittest import mock

MODULES = "ansible_collections.forensic.checkpoint.plugins.modules."
HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "fixtures", "regression", "outputs.json")
VOLATILE_KEYS = ("duration", "duration_seconds", "elapsed", "seconds", "invocation")


def run_module(name, args, check_mode=False):
    from ansible.module_utils.basic import AnsibleModule
    from module_args import module_args

    module = importlib.import_module(MODULES + name)
    if check_mode:
        args = dict(args, _ansible_check_mode=True)
    out = io.StringIO()
    # Warnings are recorded as the module gives them: Ansible's own store is process-global and,
    # once controller code is loaded in the process (a filter's test), goes to the display.
    warned = []
    with module_args(args), contextlib.redirect_stdout(out), \
            mock.patch.object(AnsibleModule, "warn", lambda _self, warning: warned.append(warning)):
        try:
            module.main()
        except SystemExit:
            pass
    result = json.loads(out.getvalue())
    result["warnings"] = warned
    return result


def normalise(value, replace):
    if isinstance(value, dict):
        return dict((key, normalise(item, replace)) for key, item in value.items() if key not in VOLATILE_KEYS)
    if isinstance(value, list):
        return [normalise(item, replace) for item in value]
    if isinstance(value, str):
        for old, new in replace:
            value = value.replace(old, new)
        return value
    return value


def cases(archives, work):
    """(case name, module, args) for every analysis module on every fixture archive."""
    names = sorted(key for key in archives if key != "bigmem")
    if "bigmem" in archives:
        yield "info/bigmem", "checkpoint_info", {"path": archives["bigmem"]}
        yield "analyze/bigmem", "checkpoint_analyze", {"path": archives["bigmem"]}
    for key in names:
        path = archives[key]
        yield "info/%s" % key, "checkpoint_info", {"path": path, "checksum": True}
        yield "analyze/%s" % key, "checkpoint_analyze", {"path": path, "report": os.path.join(work, "report-%s.json" % key),
                                                         "report_format": "json"}
        yield "memory/maps/%s" % key, "checkpoint_memory", {"path": path}
        yield "memory/strings/%s" % key, "checkpoint_memory", {"path": path, "strings": {"min_length": 8, "max_strings": 50}}
        yield "memory/regex/%s" % key, "checkpoint_memory", {"path": path, "regex": "[A-Z]+_[0-9]{3,}_KEY", "max_matches": 20}
        yield "coredump/%s" % key, "checkpoint_coredump", {"path": path, "dest": os.path.join(work, "cores-%s" % key)}
    yield "info/directory", "checkpoint_info", {"path": os.path.dirname(archives[names[0]])}
    yield "analyze/lookup-no-redact", "checkpoint_analyze", {"path": archives["lookup"], "redact_secrets": False,
                                                             "include": ["processes", "files", "sockets"]}
    yield "memory/pattern/counters", "checkpoint_memory", {"path": archives["counters"], "pattern": "RANDOM_1432_KEY", "checksum": True}
    yield "memory/hex/lookup", "checkpoint_memory", {"path": archives["lookup"], "hex": "7f454c46", "max_matches": 5}
    yield "diff/lookup", "checkpoint_diff", {"before": archives["lookup"], "after": archives["lookup_later"], "checksum": True,
                                             "report": os.path.join(work, "diff.json"), "report_format": "json"}
    yield "diff/lookup-nochecksum", "checkpoint_diff", {"before": archives["lookup"], "after": archives["lookup_later"]}


def run_cases(archives, work, only=None):
    replace = [(work, "<work>")] + [(os.path.dirname(path), "<archives>") for path in archives.values()]
    results = {}
    for name, module, args in cases(archives, work):
        if only and not only(name):
            continue
        result = run_module(module, args)
        report = args.get("report")
        if report and os.path.exists(report):
            with open(report) as handle:
                result["report_content"] = json.load(handle)
            # The report embeds the temporary paths: its bytes (digest, size) vary; its content is compared.
            for key in ("sha256", "size"):
                result["report"].pop(key)
        results[name] = normalise(result, replace)
    return results


def regenerate():
    import tempfile

    sys.path[:0] = [HERE, os.path.join(os.path.dirname(HERE), ".collections")]
    import conftest

    work = tempfile.mkdtemp()
    where = os.path.join(work, "archives")
    os.makedirs(where)
    archives = conftest.restore_archives(where)
    archives["bigmem"] = os.path.join(conftest.ARCHIVES, "bigmem-768m.tar.zst")
    out = os.path.join(work, "out")
    os.makedirs(out)
    results = run_cases(archives, out)
    with open(DATA, "w") as handle:
        json.dump(results, handle, indent=1, sort_keys=True)
        handle.write("\n")


if __name__ == "__main__":
    regenerate()
