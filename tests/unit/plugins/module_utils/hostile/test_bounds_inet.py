# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Issue 16: one process holding hundreds of thousands of TCP sockets (300k reached 729 MB in
checkpoint_analyze: the findings' connections were a list of a dict per socket and each process's
listening/established lists held every socket). Connections are now made as they are read, as open
files are, and the rules that filter them read every one a piece at a time; the processes' lists
hold RULE_PROCESS_SOCKETS sockets in all; what was left out is counted in ``omitted`` and said."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hostile_archives as hostile
import hostile_bounds as hb
import hostile_round3 as h3

from ansible_collections.forensic.checkpoint.plugins.module_utils.analysis.analyze import analyze
from ansible_collections.forensic.checkpoint.plugins.module_utils.findings import engine


def _listed_states(analysis):
    """The inet sockets listening or established, and all inet sockets, of an analysis."""
    inet = [sock for proc in analysis["processes"] for sock in proc.get("sockets") or []
            if sock.get("family") in ("ipv4", "ipv6")]
    return len([sock for sock in inet if sock["state"] in ("LISTEN", "ESTABLISHED")]), len(inet)


def test_200k_tcp_sockets_in_one_process_through_ansible(archives, tmp_path):
    """Every connection is judged (the indicator and a user rule find the last socket's peer; the
    built-in established rule matches all of them), RSS stays bounded, and a rule that is not a
    filter sees RULE_CONNECTIONS of them. (300k, in checkpoint_analyze: 729 MB and 54 s before, 98 MB and 45 s after.)"""
    count = 200000
    own_listed, own_inet = _listed_states(analyze(archives["counters"], include=["processes", "sockets"]))
    path = h3.many_inet_sockets(str(tmp_path / "inet.tar"), hostile.load_members(archives["counters"]), count)
    before = hb.sha256(path)
    rules = [{"id": "port-4444", "severity": "high", "select": "connections[?remote_port==`4444`]",
              "subject": "{remote}"},
             {"id": "count", "severity": "low", "select": "[length(connections)]", "subject": "{value}"}]
    task, output, rss, secs = hb.run_module("checkpoint_analyze", {"path": path, "rules": rules,
                                                                   "indicators": [h3.LAST_PEER]}, timeout=400)
    assert not task.get("failed"), task.get("msg")
    assert "Traceback" not in output and hb.sha256(path) == before
    assert rss <= hb.RSS_LIMIT_MB, rss
    analysis, warnings = task["analysis"], task["warnings"]
    found = dict((item["id"], item) for item in analysis["findings"] if item["id"] in ("port-4444", "count"))
    assert found["port-4444"]["subject"] == "%s:4444" % h3.LAST_PEER and found["port-4444"]["pid"] == 1
    assert found["count"]["subject"] == str(engine.RULE_CONNECTIONS)
    indicator = [item for item in analysis["findings"] if item["id"] == "indicator.match"]
    assert [item["subject"] for item in indicator] == ["ip %s in connections" % h3.LAST_PEER]
    assert "10.0.0.1:%d <-> %s:4444" % ((count - 1) % 50000 + 1024, h3.LAST_PEER) in indicator[0]["evidence"]
    established = count - 10
    assert len([item for item in analysis["findings"] if item["id"] == "net.established"]) == engine.RULE_FINDINGS
    omitted = analysis["omitted"]
    assert omitted["findings"] == established - engine.RULE_FINDINGS
    assert omitted["rule_connections"] == count + own_inet - engine.RULE_CONNECTIONS
    assert omitted["rule_process_sockets"] == count + own_listed - engine.RULE_PROCESS_SOCKETS
    assert omitted["rule_open_files"] == 0
    assert any("%d inet sockets listening or established left out" % omitted["rule_process_sockets"] in warning
               for warning in warnings)
    assert any("rule count saw the first %d of %d connections" % (engine.RULE_CONNECTIONS, count + own_inet) in warning
               for warning in warnings)
    assert secs < 150
