# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    """Findings rules, indicators and reports, shared by checkpoint_analyze and checkpoint_diff."""

    DOCUMENTATION = r"""
options:
  rules:
    description:
      - Extra findings rules, as YAML files (a list of rules, or a mapping with a C(rules) list) or
        inline rule mappings, in the shape of the built-in rules (C(id), C(severity), C(title),
        C(description), C(attack), C(select) as a JMESPath expression, C(evidence)).
      - A rule with the id of a built-in rule overrides it key by key; C(enabled=false) switches it off.
      - A C(select) that filters or projects C(open_files) or C(connections) (C(open_files[?...]),
        C(connections[*].remote)) judges every open file or connection, read a piece at a time; any other
        C(select) sees the first 10,000 of them, and a warning names the rule when there were more.
      - The processes' C(listening), C(established) and C(new_listeners) lists hold 10,000 sockets in all;
        a warning counts the rest (C(connections) holds every one).
      - A rule gives at most 1,000 findings; a warning counts the matches past them.
    type: list
    elements: raw
    default: []
  indicators:
    description:
      - Indicators of compromise searched in process memory, recovered and changed files, command
        lines, environments and connections. A string (its type, C(ip), C(domain) or C(string), is
        guessed) or a mapping with C(value), C(type) (C(string), C(regex), C(ip), C(domain)),
        C(severity) and C(name).
    type: list
    elements: raw
    default: []
  secret_indicators:
    description:
      - Strings searched for exactly as O(indicators) of type C(string), for secrets of your own (a
        leaked token, a password) that must never be shown. Findings name them in their redacted
        form C(<first 4 characters>...sha256:<hex>) in the result, the report and warnings, whatever
        O(redact_secrets) says, and Ansible never logs or echoes them (the option is C(no_log)).
    type: list
    elements: str
    default: []
  yara_rules:
    description:
      - YARA rule files or directories (C(*.yar), C(*.yara)) matched against process memory and files.
      - Needs the optional Python package yara-python; without it they are skipped with a warning.
    type: list
    elements: path
    default: []
  fail_on_severity:
    description:
      - Fail the task, after returning its results, when a finding has this severity or a higher one
        (for M(forensic.checkpoint.checkpoint_diff), a finding new in the later checkpoint). For AAP
        and CI gates.
    type: str
    choices: [info, low, medium, high, critical]
  report:
    description:
      - Write a report to this file (mode 0600; an existing file is replaced, a symbolic link is refused).
      - The HTML and markdown reports show the verdict; each finding linked to the process, socket,
        file and memory rows that show it; a timeline of the times the archive records (container
        created, files changed, checkpoint taken); SHA-256 of recovered files, and of changed files
        exported with C(export_dir) (M(forensic.checkpoint.checkpoint_analyze)); memory hits with their VMA and a hexdump of their context;
        Python bytecode caches and rows repeated on several fds folded; and who generated the report,
        when, with which version of the collection, for which O(case_id).
      - A report that differs from the existing file only by its generation time is left as it is.
      - Every built-in finding is described in the collection's C(docs/findings.md).
    type: path
  case_id:
    description:
      - The incident or case identifier to show in the report's header (HTML and markdown).
    type: str
  report_format:
    description: The report's format. HTML is one self-contained file with no network resources.
    type: str
    choices: [html, markdown, json]
    default: html
"""
