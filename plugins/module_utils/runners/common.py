# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Module glue shared by the analysis modules: option specs paired with their doc fragments, the
one ``fail_on_severity`` gate, and how a runner's outcome becomes the module's result.

A runner is ``run(params, check_mode) -> Outcome``; engines never see ``params``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.forensic.checkpoint.plugins.module_utils.errors import CheckpointError, unexpected
from ansible_collections.forensic.checkpoint.plugins.module_utils.findings.engine import SEVERITIES, at_or_above
from ansible_collections.forensic.checkpoint.plugins.module_utils.findings.redact import scrub_all
from ansible_collections.forensic.checkpoint.plugins.module_utils.report.document import FORMATS
from ansible_collections.forensic.checkpoint.plugins.module_utils.text import escape

# Options documented by the doc fragment forensic.checkpoint.findings (plugins/doc_fragments/findings.py).
FINDINGS_OPTIONS = dict(
    rules=dict(type="list", elements="raw", default=[]),
    indicators=dict(type="list", elements="raw", default=[]),
    secret_indicators=dict(type="list", elements="str", default=[], no_log=True),
    yara_rules=dict(type="list", elements="path", default=[]),
    fail_on_severity=dict(type="str", choices=list(SEVERITIES)),
    report=dict(type="path"),
    report_format=dict(type="str", choices=list(FORMATS), default="html"),
    case_id=dict(type="str"),
)
# What of the module's parameters the findings engine takes (as engine options, not params).
FINDINGS_ENGINE_KEYS = ("redact_secrets", "rules", "indicators", "yara_rules", "scan_memory")


def findings_options(params):
    options = dict((key, params[key]) for key in FINDINGS_ENGINE_KEYS if params.get(key) is not None)
    hidden = params.get("secret_indicators") or []
    if hidden:
        options["indicators"] = list(options.get("indicators") or []) + [{"value": item, "type": "string"} for item in hidden]
        options["secret_values"] = secret_values(params)
    return options


def secret_values(params):
    """The values the user marked secret (``secret_indicators``): searched for, never shown."""
    return [item for item in params.get("secret_indicators") or [] if item]


def severity_gate(findings, threshold, label="finding(s)"):
    """The failure message when ``findings`` hold one at or above ``threshold`` (None: no gate, or
    no such finding): ``"<n> <label> at or above <threshold> severity: <rule ids>"``."""
    if not threshold:
        return None
    hits = at_or_above(findings, threshold)
    if not hits:
        return None
    return "%d %s at or above %s severity: %s" % (
        len(hits), label, threshold, ", ".join(sorted(set(item["id"] for item in hits))))


# Warnings shown by one run: a hostile archive can make one a process (150k for a 50k-pid tree).
MAX_WARNINGS = 100


def cap_warnings(warnings, limit=MAX_WARNINGS):
    """(the first ``limit`` warnings plus one saying how many more there were, that count)."""
    if len(warnings) <= limit:
        return list(warnings), 0
    more = len(warnings) - limit
    return list(warnings[:limit]) + ["%d more warnings like these are not shown" % more], more


class Outcome(object):
    """What a module returns: ``result`` for exit_json, ``warnings`` to show, ``failure`` (a
    message: the module fails, still returning ``result``)."""

    def __init__(self, result, warnings=(), failure=None):
        self.result, self.warnings, self.failure = result, list(warnings), failure


def _inputs(params):
    """What the module reads, to name in a failure: its archive, or the two a diff compares."""
    named = [params.get(key) for key in ("path", "before", "after") if params.get(key)]
    return " / ".join(str(item) for item in named) or "the module's input"


def _scrub(module, value, secrets):
    """``value`` without the secrets the user marked and, with redact_secrets, any credential shape."""
    if module.params.get("redact_secrets") or secrets:
        return scrub_all(value, secrets, shapes=bool(module.params.get("redact_secrets")))
    return value


def _finish(module, method, secrets, **result):
    """exit_json or fail_json, echoing the module's arguments (``invocation``, shown at -vvv)
    scrubbed like its result: a secret the user searched for is not printed back."""
    method(invocation={"module_args": _scrub(module, module.params, secrets)}, **result)


def execute(module, run):
    """Run ``run(params, check_mode)`` for ``module`` and exit with its outcome; a CheckpointError
    is the module's one-line failure. Any other exception is a bug meeting a hostile input: still
    one line naming the input (no traceback of attacker-chosen data), the specific classes being
    handled where they arise. Every message is escaped: evidence names reach the terminal."""
    secrets = secret_values(module.params)
    for value in secrets:  # Ansible masks these wherever they are left (logs included)
        module.no_log_values.add(value)
    try:
        outcome = run(module.params, module.check_mode)
    except CheckpointError as exc:
        _finish(module, module.fail_json, secrets, msg=escape(_scrub(module, str(exc), secrets)))
    except Exception as exc:  # pylint: disable=broad-except
        text = "%s: %s" % (_inputs(module.params), unexpected(exc))
        _finish(module, module.fail_json, secrets, msg=escape(_scrub(module, text, secrets)))
    # The last pass: no credential shape (with redact_secrets) nor marked secret leaves the module.
    outcome.warnings = cap_warnings(outcome.warnings, 2 * MAX_WARNINGS)[0]  # room for a runner's own cap
    outcome.result, outcome.warnings, outcome.failure = _scrub(
        module, [outcome.result, outcome.warnings, outcome.failure], secrets)
    for warning in outcome.warnings:
        module.warn(escape(warning))
    if outcome.failure:
        _finish(module, module.fail_json, secrets, msg=escape(outcome.failure), **outcome.result)
    _finish(module, module.exit_json, secrets, **outcome.result)
