# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The findings catalogue (docs/findings.md): generated from the rules, complete, and committed as generated."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import importlib.util
import os
import re

from repo_paths import REPO as ROOT

from ansible_collections.forensic.checkpoint.plugins.module_utils.findings import rules as engine

SCRIPT = os.path.join(ROOT, "scripts", "findings_catalogue.py")


def load_generator():
    spec = importlib.util.spec_from_file_location("findings_catalogue", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def sections(text):
    """{rule id: its section's text} of a catalogue."""
    parts = re.split(r"^## (\S+)$", text, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2]))


def test_every_builtin_rule_has_an_entry_with_trigger_and_silence():
    generator = load_generator()
    text = generator.catalogue(generator.builtin_rules())
    found = sections(text)
    assert sorted(found) == sorted(rule["id"] for rule in engine.BUILTIN_RULES)
    for rule in engine.BUILTIN_RULES:
        body = found[rule["id"]]
        assert "Severity %s" % rule["severity"] in body
        assert (rule["attack"] or "no attack") in body if rule.get("attack") else "ATT&CK" not in body
        assert "- **Silence:** %s\n" % generator._prose(rule["silence"]) in body
        # what triggers it is the rule's own: its prose and the very expression it evaluates
        assert generator._prose(rule["triggers"]) in body
        expression = rule.get("select") or rule.get("pattern") or rule.get("names")
        assert ("- **Matches:** %s" % generator._code(expression)) in body if expression else "Matches" not in body
        # its row in the summary table links to the section
        assert "| [`%s`](#%s) | %s |" % (rule["id"], rule["id"].replace(".", ""), rule["severity"]) in text


def test_a_rules_own_trigger_and_silence_text_wins(monkeypatch):
    """findings/rules.py gives rules ``triggers`` and ``silence`` prose; without it, the catalogue
    says it from the rule's expression."""
    generator = load_generator()
    first, second = engine.BUILTIN_RULES[:2]
    bare = dict((key, value) for key, value in second.items() if key not in ("triggers", "silence"))
    monkeypatch.setattr(generator, "BUILTIN_RULES", [dict(first, triggers="when *X*", silence="do Y"), bare])
    found = sections(generator.catalogue(generator.builtin_rules()))
    assert "- **Triggers:** when \\*X\\*" in found[first["id"]] and "- **Silence:** do Y" in found[first["id"]]
    assert "- **Triggers:** The JMESPath query %s" % generator._code(second["select"]) in found[second["id"]]


def test_backticks_in_a_query_stay_inside_its_code_span():
    generator = load_generator()
    code = generator._code("parent.tool == `null`")
    assert code == "`` parent.tool == `null` ``"


def test_committed_catalogue_is_what_the_rules_generate():
    """scripts/docs.sh --check fails the same way; this says which rule drifted."""
    generator = load_generator()
    with open(os.path.join(ROOT, "docs", "findings.md")) as handle:
        committed = handle.read()
    assert sections(committed) == sections(generator.catalogue(generator.builtin_rules()))
