# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""report.py: formats, escaping of attacker-controlled text, safe writing, and the HTML in a browser."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import re
import shutil
import stat
import struct
import subprocess
import zlib

import pytest

from ansible_collections.forensic.checkpoint.plugins.module_utils.findings import engine as findings
from ansible_collections.forensic.checkpoint.plugins.module_utils.report import document as report
from ansible_collections.forensic.checkpoint.plugins.module_utils.analysis.analyze import analyze
from ansible_collections.forensic.checkpoint.plugins.module_utils.analysis.diff import compare
from ansible_collections.forensic.checkpoint.plugins.module_utils.errors import CheckpointError

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
HOSTILE = '<script>alert(1)</script>"><img src=x onerror=alert(2)>|`*[x](http://evil.example/)'


@pytest.fixture(scope="module")
def lookup(archives):
    analysis = analyze(archives["lookup"], checksum=True)  # a report shows only what was hashed (issue 14)
    return analysis, findings.evaluate(analysis, archives["lookup"])


def hostile_analysis():
    proc = {"pid": 1, "ppid": 0, "comm": "sh", "argv": ["sh", "-c", HOSTILE], "cmdline": "sh -c " + HOSTILE,
            "env": {}, "state": "running", "exe": "/bin/sh", "uid": 0, "memory_size": 4096,
            "files": [{"fd": 3, "type": "REG", "path": "/tmp/" + HOSTILE, "deleted": True, "recoverable": True,
                       "size": 5}],
            "sockets": []}
    return {"path": None, "container": {"container": HOSTILE, "image": HOSTILE, "annotations": {"a": HOSTILE}},
            "processes": [proc, dict(proc, pid=2, ppid=1, comm="bash", cmdline="bash " + HOSTILE)],
            "rootfs": {"changed": [{"path": "/tmp/" + HOSTILE, "type": "file", "size": 1, "mode": "0755"}],
                       "deleted": ["/etc/" + HOSTILE]},
            "warnings": [HOSTILE]}


def test_html_escapes_everything_from_the_archive():
    analysis = hostile_analysis()
    text = report.render("html", analysis, findings.evaluate(analysis))
    assert "<script" not in text and "<img" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    # no network resource of any kind, and a policy forbidding them
    assert not re.search(r"<(link|img|iframe|object|embed|script)\b", text)
    assert "url(" not in text
    assert "default-src 'none'" in text


def test_markdown_escapes_html_and_table_syntax():
    analysis = hostile_analysis()
    text = report.render("markdown", analysis, findings.evaluate(analysis))
    assert "<script" not in text and "<img" not in text
    assert "&lt;script&gt;" in text
    for line in text.splitlines():
        if line.startswith("| ") and "sh -c" in line:
            assert "\\|" in line  # a pipe in a command line cannot open a table column


def test_json_report_has_everything(lookup):
    data = json.loads(report.render("json", lookup[0], lookup[1]))
    assert data["summary"]["verdict"] == "compromised"
    assert [p["pid"] for p in data["analysis"]["processes"]] == [1, 15, 16, 20]
    assert data["recovered"][0]["path"] == "/var/log/lookup-audit.log"


def test_html_report_content(lookup):
    text = report.render("html", lookup[0], lookup[1])
    for section in ("Findings", "Process tree", "Network", "Open files", "Recovered deleted files",
                    "File system changes", "Container"):
        assert "<h2>%s</h2>" % section in text
    assert "52704ac1b9405844ea5920c8bcba78bbd566cc57761c4d88319a33b723be5051" in text  # archive sha256
    assert "busybox nc -ll -p 4444 -e /bin/sh" in text and "/tmp/.x.sh" in text
    assert "v-compromised" in text
    assert "ghp_R4nd0m" not in text and "wJalrXUtnFEMI" not in text


def test_write_is_0600_and_idempotent(tmp_path, lookup):
    path = str(tmp_path / "r.html")
    first = report.write(path, "html", lookup[0], lookup[1])
    assert first["changed"] and stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert report.write(path, "html", lookup[0], lookup[1])["changed"] is False
    os.chmod(path, 0o644)
    assert report.write(path, "html", lookup[0], lookup[1])["changed"] is True
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert sorted(os.listdir(str(tmp_path))) == ["r.html"]  # nothing else written


def test_check_mode_writes_nothing(tmp_path, lookup):
    path = str(tmp_path / "r.md")
    assert report.write(path, "markdown", lookup[0], lookup[1], check_mode=True)["changed"] is True
    assert not os.path.exists(path)


def test_write_refuses_symlinks_directories_and_missing_parents(tmp_path, lookup):
    target = tmp_path / "elsewhere"
    target.write_text("keep")
    link = tmp_path / "link.html"
    link.symlink_to(target)
    with pytest.raises(CheckpointError, match="symbolic link"):
        report.write(str(link), "html", lookup[0], lookup[1])
    assert target.read_text() == "keep"
    with pytest.raises(CheckpointError, match="is a directory"):
        report.write(str(tmp_path), "html", lookup[0], lookup[1])
    with pytest.raises(CheckpointError, match="does not exist"):
        report.write(str(tmp_path / "no" / "r.html"), "html", lookup[0], lookup[1])
    with pytest.raises(CheckpointError, match="report_format"):
        report.render("pdf", lookup[0], lookup[1])


def test_diff_report(archives, lookup):
    later = analyze(archives["lookup_later"])
    diff = compare(lookup[0], later, lookup[1], findings.evaluate(later, archives["lookup_later"]))
    text = report.render("html", diff=diff)
    assert "<h2>New findings</h2>" in text and "/etc/cron.d/persist" in text and "rootfs.cron" in text
    assert "/etc/cron.d/persist" in report.render("markdown", diff=diff)


# -- in a browser ---------------------------------------------------------------------------------

def chromium(tmp_path, url, *args):
    profile = tmp_path / ("profile-%d" % len(os.listdir(str(tmp_path))))
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               "--user-data-dir=%s" % profile] + list(args) + [url]
    return subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120, check=True)


def png_pixels(path):
    """(width, height, distinct byte values of the image data) from a PNG, without an image library."""
    with open(path, "rb") as handle:
        data = handle.read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    chunks, offset = [], 8
    while offset < len(data):
        length, kind = struct.unpack(">I4s", data[offset:offset + 8])
        if kind == b"IDAT":
            chunks.append(data[offset + 8:offset + 8 + length])
        offset += 12 + length
    return width, height, len(set(zlib.decompress(b"".join(chunks))))


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
def test_html_report_renders_in_chromium_without_sideways_scrolling(tmp_path, lookup):
    path = str(tmp_path / "lookup.html")
    report.write(path, "html", lookup[0], lookup[1])
    shot = str(tmp_path / "lookup.png")
    chromium(tmp_path, "file://" + path, "--screenshot=%s" % shot, "--window-size=1280,2000")
    width, height, values = png_pixels(shot)
    assert (width, height) == (1280, 2000) and values > 50  # a rendered page, not a blank one
    # The same page with a probe added (the report itself allows no script): does it fit the window?
    with open(path) as handle:
        page = handle.read()
    page = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", page)
    probe = ("<script>document.body.setAttribute('data-fit', [document.documentElement.scrollWidth, "
             "window.innerWidth, document.querySelectorAll('h2').length].join(' '))</script></body>")
    probed = tmp_path / "probe.html"
    probed.write_text(page.replace("</body>", probe))
    for width in (1280, 1024):
        dom = chromium(tmp_path, "file://%s" % probed, "--dump-dom", "--window-size=%d,2000" % width).stdout.decode()
        fit = re.search(r'data-fit="(\d+) (\d+) (\d+)"', dom)
        assert fit, dom[:500]
        scroll_width, inner_width, sections = (int(value) for value in fit.groups())
        assert inner_width == width and scroll_width <= inner_width and sections == 7
        assert "Shell served over the network by netcat" in dom


def test_mapped_ipv4_connection_is_shown_as_ipv4(lookup):
    """Issue 14: the shell's connection (an IPv6 socket with IPv4-mapped addresses; the facts
    show 10.88.0.9 and 10.88.0.1) read "ipv6 tcp" in the report's network table."""
    analysis, result = lookup
    text = report.render("markdown", analysis, result)
    # The network table's rows: pid, process, fd, kind, state, local, remote.
    rows = [[cell.strip() for cell in line.strip().strip("|").split("|")] for line in text.splitlines()]
    rows = [row for row in rows if len(row) == 7 and row[0].isdigit()]
    connections = [row for row in rows if row[6] == "10.88.0.1:42698"]
    assert sorted(row[0] for row in connections) == ["16", "16", "20", "20"]
    assert set(row[3] for row in connections) == set(["ipv4 tcp"])
    assert [row[3] for row in rows if row[5] == ":::4444"] == ["ipv6 tcp"]  # a real IPv6 listener stays ipv6
