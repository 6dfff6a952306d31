# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""findings/rules.py is the one table of detection rules and redaction shapes: every rule has the
catalogue's fields, and what the secret rules detect is exactly what redaction hides (random
secrets per run, spelt as programs write them)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
import string

import pytest

import hostile_round2 as h2
from ansible_collections.forensic.checkpoint.plugins.module_utils.findings import engine, redact, rules
from ansible_collections.forensic.checkpoint.plugins.module_utils.findings.redact import Redactor, scrub_shapes

B64 = string.ascii_letters + string.digits + "/+"
SECRET_RULES = [rule for rule in rules.BUILTIN_RULES if rule.get("pattern")]


def _secret(size, alphabet=string.ascii_letters + string.digits):
    """A random secret holding a digit (a password-like value, see secret.password-assignment)."""
    return h2.token(size - 1, alphabet) + "7"


def _samples():
    """(text, secret) pairs: each credential family in the spellings programs use."""
    aws, tok, pw, b32 = _secret(40, B64), _secret(36), _secret(20), h2.token(16, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
    jwt = "eyJ" + h2.token(30) + ".eyJ" + h2.token(60) + "." + h2.token(43)
    pem = "\n".join(h2.token(64, B64) for _line in range(3))
    return [
        ('{"AccessKeyId": "AKIA%s", "x": 1}' % b32, "AKIA" + b32), ("ASIA%s" % b32, "ASIA" + b32),
        ('{"SecretAccessKey": "%s"}' % aws, aws), ("aws_secret_access_key = %s" % aws, aws),
        ("AWS_SECRET_ACCESS_KEY=%s" % aws, aws),
        ("Authorization: Bearer %s" % tok, tok), ("authorization: basic %s" % tok, tok), ("Basic %s" % tok, tok),
        ("kind: Config\nusers:\n- user:\n    token: %s\n" % tok, tok), ("x %s y" % jwt, jwt),
        ("-----BEGIN EC PRIVATE KEY-----\n%s\n-----END" % pem, pem),
        ("ghp_%s" % tok, "ghp_" + tok), ("github_pat_%s" % tok, "github_pat_" + tok),
        ("glpat-%s" % tok[:20], "glpat-" + tok[:20]), ("glrt-%s" % tok, "glrt-" + tok),
        ("xoxb-%s" % tok, "xoxb-" + tok), ("xapp-%s" % tok, "xapp-" + tok),
        ("sk_live_%s" % tok, "sk_live_" + tok), ("whsec_%s" % tok, "whsec_" + tok), ("hvs.%s" % tok, "hvs." + tok),
        ("password=%s" % pw, pw), ("DB_PASSWORD: '%s'" % pw, pw), ("https://h/?api_key=%s&x=1" % pw, pw),
        ('"client_secret": "%s"' % pw, pw), ("[db]\npwd = %s\n" % pw, pw),
        ('{"private_key": "-----BEGIN PRIVATE KEY-----\\n%s\\n-----END' % pem.replace("\n", "\\n"),
         pem.replace("\n", "\\n") + "\\n"),  # the class holds \ and n: the last escape is taken too
        ("postgres://admin:%s@db:5432/app" % pw, pw),
        ("https://hooks.slack.com/services/T0%s" % tok, "hooks.slack.com/services/T0" + tok),
        ("    client-key-data: %s\n" % pw, pw), ("X-Api-Key: %s" % pw, pw),
    ]


def _detected(text):
    """{rule id: [secret values]} the secret rules' patterns find in ``text``."""
    found = {}
    for rule in SECRET_RULES:
        for match in re.finditer(rule["pattern"], text):
            found.setdefault(rule["id"], []).append(match.group(1 if match.re.groups else 0).strip())
    return found


def test_every_rule_has_the_catalogue_fields():
    ids = [rule["id"] for rule in rules.BUILTIN_RULES]
    assert len(ids) == len(set(ids))
    for rule in rules.BUILTIN_RULES:
        for field in ("id", "severity", "title", "description", "attack", "tactic", "triggers", "silence"):
            assert field in rule, (rule["id"], field)
        assert rule["severity"] in engine.SEVERITIES
        assert rule["attack"] is None or re.match(r"^T\d{4}(\.\d{3})?$", rule["attack"]), rule["id"]
        assert rule["id"] in rule["silence"] or rule.get("check") in ("indicators", "yara")
        assert bool(rule.get("select")) != bool(rule.get("check")), rule["id"]
        engine._validate(rule, "builtin")  # pylint: disable=protected-access
    for rule in SECRET_RULES:
        assert rule["shape"] in redact.SHAPES and rule["literals"], rule["id"]


def test_every_builtin_rule_over_open_files_or_connections_reads_them_all():
    """A built-in select that reads open_files or connections filters or projects it, so it reads
    every row a piece at a time, never only the bounded head; the rules over connections are some."""
    import jmespath
    streamed = {}
    for rule in rules.BUILTIN_RULES:
        if rule.get("select"):
            parsed = jmespath.compile(rule["select"]).parsed
            reads = engine._streamed_read(parsed)  # pylint: disable=protected-access
            over = engine._streamed_over(parsed)  # pylint: disable=protected-access
            assert reads <= set([over]), rule["id"]
            streamed.setdefault(over, []).append(rule["id"])
    assert len(streamed["connections"]) >= 4 and len(streamed["open_files"]) >= 2


@pytest.mark.parametrize("case", range(len(_samples())))
def test_a_detected_secret_is_a_redacted_shape_and_back(case):
    text, secret = _samples()[case]
    found = _detected(text)
    assert any(secret in values for values in found.values()), (text, found)
    scrubbed = scrub_shapes(text)
    for values in found.values():  # whatever a rule reports, redaction hides
        for value in values:
            assert not h2.leaked(value, scrubbed, size=min(16, len(value))), (value, scrubbed)
    assert not h2.leaked(secret, scrubbed, size=min(16, len(secret)))
    for rule_id in found:  # and every match holds one of the rule's literals
        literals = dict((rule["id"], rule["literals"]) for rule in SECRET_RULES)[rule_id]
        assert any((lit[4:].lower() in text.lower()) if lit.startswith("(?i)") else lit in text for lit in literals)


def test_a_port_or_a_plain_url_is_not_a_url_password():
    for text in ("http://example.com:8080/x", "https://h:443", "see https://docs.example.com/a:b/c", "ftp://h/"):
        assert "secret.url-credentials" not in _detected(text)
        assert scrub_shapes(text) == text, text


def test_every_secret_rule_and_shape_is_exercised():
    """The samples above reach every secret rule and every shape: a new family needs both."""
    reached, shapes = set(), set()
    for text, _secret_value in _samples():
        reached.update(_detected(text))
        shapes.update(shape for shape in redact.SHAPES if re.search(shape, text))
    assert reached == set(rule["id"] for rule in SECRET_RULES)
    assert shapes == set(redact.SHAPES)


def test_secret_variable_names_are_the_ones_redacted():
    """secret.env-variable reports exactly the variables the analysis redacts."""
    names = ["AWS_SECRET_ACCESS_KEY", "api_key", "GITHUB_TOKEN", "DB_PASSWORD", "PGPASSWD", "MYSQL_PASS",
             "GOOGLE_CREDENTIALS", "RANDOM_1432_KEY", "PATH", "HOME", "SERVICE_USER", "LOOT", "LANG"]
    env = dict((name, _secret(24)) for name in names)
    redacted = Redactor().redact_env(env)
    hidden = set(name for name in names if redacted[name] != env[name])
    secret_rules = [rule for rule in engine.load_rules() if rule.get("check") == "secret"]
    found = engine._env_candidates({"processes": [{"pid": 1, "env": env}]}, secret_rules, {})  # pylint: disable=protected-access
    reported = set(item[5]["variable"] for item in found if item[0]["id"] == "secret.env-variable")
    assert hidden == reported == set(names[:8])
