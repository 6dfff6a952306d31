# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Issue 16: one process holding hundreds of thousands of unix sockets. Every socket was a dict in
proc["sockets"] and every unix socket entry was kept decoded by inode for its peer's name; now the
records are made as they are read (analysis/sockets.py SocketRows), peers found by inode through
sorted arrays, and the result lists max_files / max_total_files of them (omitted.sockets)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hostile_archives as hostile
import hostile_bounds as hb
import hostile_round3 as h3


def test_150k_unix_sockets_in_one_process_through_ansible(archives, tmp_path):
    """max_files sockets listed in fd order with their peers' names, the rest counted and said;
    stats count every socket."""
    count = 150000
    members = hostile.load_members(archives["counters"])
    path = h3.many_unix_sockets(str(tmp_path / "sockets.tar"), members, count)
    before = hb.sha256(path)
    task, output, rss, secs = hb.run_module("checkpoint_analyze", {"path": path, "include": ["processes", "sockets",
                                                                                             "stats"]}, timeout=240)
    assert not task.get("failed"), task.get("msg")
    assert "Traceback" not in output and hb.sha256(path) == before
    assert rss <= hb.RSS_LIMIT_MB, rss
    analysis = task["analysis"]
    own = analysis["stats"]["sockets"] - count  # the counters archive's own sockets
    sockets = analysis["processes"][0]["sockets"]
    ours = [sock for sock in sockets if (sock.get("path") or "").startswith("/run/app/")]
    assert len(sockets) == 1000 and len(ours) == 1000 - own
    assert [(sock["fd"], sock["path"], sock["peer_path"], sock["state"]) for sock in ours[:2]] == [
        (3, "/run/app/0.sock", "/run/app/%d.sock" % (count - 1), "ESTABLISHED"),
        (4, "/run/app/1.sock", "/run/app/0.sock", "ESTABLISHED")]
    assert analysis["omitted"]["sockets"] == count + own - 1000
    assert any("%d sockets left out" % analysis["omitted"]["sockets"] in warning for warning in task["warnings"])
    assert secs < 60
