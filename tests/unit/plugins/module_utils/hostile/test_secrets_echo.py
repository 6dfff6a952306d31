# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Issue 16: no planted secret in checkpoint_memory's output (context windows, strings, warnings)
with redact_secrets (the default), and nothing secret the user passed echoed back: Ansible's
``invocation`` (shown at -vvv) is scrubbed like the result, and ``secret_indicators`` are no_log.
Every run goes through ``ansible localhost -m ... -vvv``; secrets are random per run."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re

import hostile_archives as hostile
import hostile_bounds as hb
import hostile_round2 as h2


def _planted(archives, tmp_path, blob):
    """The lookup archive (gzip) with ``blob`` written over the start of a pages image: process memory."""
    members = hostile.load_members(archives["lookup"])
    name = next(info.name.lstrip("./") for info, _data in members if re.search(r"pages-\d+\.img$", info.name))
    data = hostile.content(members, name)
    at = 4096 + 100
    planted = data[:at] + blob + data[at + len(blob):]
    return hostile.write_tar(str(tmp_path / "planted.tar.gz"), hostile.replace(members, name, planted), "gz")


def test_memory_search_and_strings_redact_planted_secrets_and_the_echo(archives, tmp_path):
    bearer, ghp = h2.token(48), "ghp_" + h2.token(36)
    blob = b"\x00GET /api HTTP/1.1\r\nAuthorization: Bearer " + bearer.encode() + b"\r\nX-Token-Copy: " + ghp.encode() + b"\r\n\x00"
    path = _planted(archives, tmp_path, blob)
    before = hb.sha256(path)
    # The user searches for the token itself: its match, context and the echoed arguments are redacted.
    task, output, rss, _secs = hb.run_module("checkpoint_memory", {"path": path, "pattern": "Bearer " + bearer[:24],
                                                                   "context": 200})
    assert not task.get("failed"), task.get("msg")
    assert task["matches"] and "...sha256:" in task["matches"][0]["context"]
    assert "invocation" in output  # -vvv shows the arguments: they are checked too
    for secret in (bearer, ghp):
        assert not h2.leaked(secret, output), h2.leaked(secret, output)[:1]
    task, output, rss, _secs = hb.run_module("checkpoint_memory", {"path": path, "strings": {"min_length": 20,
                                                                                             "max_strings": 100000}})
    assert any("...sha256:" in item["string"] for item in task["strings"])
    assert not h2.leaked(bearer, output) and not h2.leaked(ghp, output)
    assert rss <= hb.RSS_LIMIT_MB and hb.sha256(path) == before
    # Without redaction the same search shows them: the checks above can fail.
    task, output, _rss, _secs = hb.run_module("checkpoint_memory", {"path": path, "pattern": "X-Token-Copy",
                                                                    "context": 60, "redact_secrets": False})
    assert ghp in task["matches"][0]["context"]


def test_secret_indicators_are_found_but_never_shown(archives, tmp_path):
    """The lookup archive's AWS secret (in its environment and memory) given as a secret indicator,
    with redact_secrets false: an indicator finding is reported, and the value shows nowhere."""
    secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    marker = h2.token(24)  # never in the archive: searched, not found, not echoed
    report = str(tmp_path / "report.html")
    task, output, _rss, _secs = hb.run_module("checkpoint_analyze", {
        "path": archives["lookup"], "secret_indicators": [secret, marker], "redact_secrets": False,
        "report": report})
    assert not task.get("failed"), task.get("msg")
    hits = [item for item in task["analysis"]["findings"] if item["id"] == "indicator.match"]
    assert hits and all(secret[:4] + "...sha256:" in json.dumps(item) for item in hits)
    with open(report) as handle:
        text = handle.read()
    for value in (secret, marker):
        assert not h2.leaked(value, output) and not h2.leaked(value, text), value
    assert "AWS_SECRET_ACCESS_KEY" in output  # redact_secrets false: the rest is in clear
