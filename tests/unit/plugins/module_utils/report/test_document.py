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
    for section in ("Report", "Findings", "Timeline", "Process tree", "Network", "Open files", "Memory hits",
                    "Recovered deleted files", "File system changes", "Container"):
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
             "window.innerWidth, document.querySelectorAll('h2').length].join(' '));"
             # every in-page link resolves to an element of the page
             "var links = Array.from(document.querySelectorAll('a[href^=\"#\"]'));"
             "document.body.setAttribute('data-links', [links.length, links.filter(function (a) {"
             "return document.getElementById(a.getAttribute('href').slice(1)); }).length].join(' '));"
             "</script></body>")
    probed = tmp_path / "probe.html"
    probed.write_text(page.replace("</body>", probe))
    for width in (1280, 1024):
        dom = chromium(tmp_path, "file://%s" % probed, "--dump-dom", "--window-size=%d,2000" % width).stdout.decode()
        fit = re.search(r'data-fit="(\d+) (\d+) (\d+)"', dom)
        assert fit, dom[:500]
        scroll_width, inner_width, sections = (int(value) for value in fit.groups())
        assert inner_width == width and scroll_width <= inner_width and sections == 10
        assert "Shell served over the network by netcat" in dom
        links, resolved = (int(value) for value in re.search(r'data-links="(\d+) (\d+)"', dom).groups())
        assert links >= 30 and resolved == links


def test_mapped_ipv4_connection_is_shown_as_ipv4(lookup):
    """Issue 14: the shell's connection (an IPv6 socket with IPv4-mapped addresses; the facts
    show 10.88.0.9 and 10.88.0.1) read "ipv6 tcp" in the report's network table."""
    analysis, result = lookup
    text = report.render("markdown", analysis, result)
    # The network table's rows: pid, process, fd, kind, state, local, remote.
    rows = [[cell.strip() for cell in line.strip().strip("|").split("|")] for line in text.splitlines()]
    rows = [row for row in rows if len(row) == 7 and row[0].isdigit()]
    connections = [row for row in rows if row[6] == "10.88.0.1:42698"]
    # one socket on fds 0 and 1 of each process: one row each (issue 15 folds repeated rows)
    assert sorted((row[0], row[2]) for row in connections) == [("16", "0, 1"), ("20", "0, 1")]
    assert set(row[3] for row in connections) == set(["ipv4 tcp"])
    assert [row[3] for row in rows if row[5] == ":::4444"] == ["ipv6 tcp"]  # a real IPv6 listener stays ipv6


# -- what an incident responder reads (issue 15) --------------------------------------------------

def ids_and_links(text):
    ids = re.findall(r'\bid="([^"]*)"', text)
    return ids, re.findall(r'href="#([^"]*)"', text)


def finding_links(text, rule_id):
    """The anchors the first finding row of ``rule_id`` links to."""
    row = re.search(r'<tr id="finding-\d+">(?:(?!</tr>).)*?%s(?:(?!</tr>).)*</tr>' % re.escape(rule_id), text, re.S)
    assert row, rule_id
    return re.findall(r'href="#([^"]*)"', row.group(0))


def test_every_finding_links_to_the_rows_that_show_it(lookup):
    text = report.render("html", lookup[0], lookup[1])
    ids, links = ids_and_links(text)
    assert set(links) <= set(ids) and len(ids) == len(set(ids))  # every link resolves; no id twice
    # the netcat shell: its process and the socket it talks on (fds 0 and 1, one row)
    assert finding_links(text, "net.shell-connection") == ["proc-16", "sock-16-0", "sock-16-1"]
    assert re.search(r'<tr id="sock-16-0"><td><span id="sock-16-1"></span>16</td><td>sh</td><td>0, 1</td>', text)
    # the deleted log: its writer, the open-file row and the recovered copy
    assert finding_links(text, "file.deleted-log") == ["proc-1", "file-1-3", "rec-0"]
    assert finding_links(text, "process.runtime-listener") == ["proc-15", "sock-15-3"]
    assert finding_links(text, "rootfs.temp-executable") == ["fs-0"]
    assert finding_links(text, "rootfs.deleted-system-file") == ["del-0"]
    assert re.search(r'<tr id="del-0"><td><code>/etc/issue</code>', text)
    github = finding_links(text, "secret.github-token")
    assert github[0] == "proc-1" and re.match(r"mem-\d+$", github[1])
    # ...and the memory row links back to its finding
    memory_row = re.search(r'<tr id="%s">.*?</tr>' % github[1], text, re.S).group(0)
    assert re.search(r'href="#finding-\d+">secret.github-token<', memory_row)


def test_timeline_of_the_times_the_archive_records(lookup):
    text = report.render("markdown", lookup[0], lookup[1])
    timeline = text.split("## Timeline")[1].split("## Process tree")[0]
    events = [line.split(" | ")[:2] for line in timeline.splitlines() if line.startswith("| 2026")]
    assert events == [
        ["| 2026-11-26T22:21:05Z", "13 folded entries changed (Python bytecode caches (\\_\\_pycache\\_\\_, \\*.pyc))"],
        ["| 2026-11-26T22:21:05.228165385Z", "container created"],
        ["| 2026-11-26T22:21:17Z", "file /tmp/.x.sh changed"],
        ["| 2026-11-26T22:21:27Z", "checkpoint taken"]]
    assert "rootfs.temp-executable" in timeline.splitlines()[[e[1] for e in events].index("file /tmp/.x.sh changed") + 4]
    assert "outside the container" not in timeline
    assert "CRIU records none" in timeline  # no process start times to show, said so


def test_timeline_marks_a_file_dated_outside_the_containers_life(lookup):
    analysis = json.loads(json.dumps(lookup[0]))
    analysis["rootfs"]["changed"][0]["mtime"] = "2019-01-01T00:00:00Z"  # a timestomped dropper
    analysis["rootfs"]["changed"].append(dict(analysis["rootfs"]["changed"][0], path="/tmp/y", mtime="garbage<b>"))
    text = report.render("html", analysis, lookup[1])
    timeline = text.split("<h2>Timeline</h2>")[1].split("<h2>")[0]
    rows = re.findall(r"<tr>(<td>.*?)</tr>", timeline)
    assert rows[0].startswith("<td>2019-01-01T00:00:00Z</td><td>file /tmp/.x.sh changed</td>")
    assert "outside the container&#x27;s life" in rows[0]
    assert rows[-1].startswith("<td>garbage&lt;b&gt;</td><td>file /tmp/y changed</td>")  # undated: last, escaped


def test_noise_is_folded_unless_a_finding_cites_it(lookup):
    analysis, result = lookup
    text = report.render("html", analysis, result)
    changes = text.split("<h2>File system changes</h2>")[1].split("<h2>")[0]
    assert changes.count("<tr") == 1 + 2 + 2  # header, /tmp/.x.sh, the fold; deleted: header, /etc/issue
    assert "<details><summary>13 Python bytecode caches (__pycache__, *.pyc)</summary>" in changes
    assert changes.count("<li><code>/usr/lib/python3.11/") == 13 and "397.9 KiB" in changes
    pyc = "/usr/lib/python3.11/__pycache__/shutil.cpython-311.pyc"
    cited = dict(result, findings=result["findings"] + [dict(result["findings"][0], path=pyc, pid=None)])
    text = report.render("html", analysis, cited)
    assert "<summary>12 Python bytecode caches" in text and re.search(r'<tr id="fs-\d+"><td><code>%s</code>' % pyc, text)


def test_repeated_rows_are_folded_with_their_fds(lookup):
    text = report.render("markdown", *lookup)
    files = text.split("## Open files")[1].split("## Memory hits")[0]
    assert "| 15 | busybox | 0, 1, 2 | REG | /dev/null |  |" in files
    assert "| 1 | python3 | 1 | PIPE |" in files and "| 1 | python3 | 2 | PIPE |" in files  # different pipes stay


def test_memory_hits_show_vma_and_a_redacted_hexdump(lookup):
    text = report.render("markdown", *lookup)
    hits = text.split("## Memory hits")[1].split("## Recovered")[0]
    github = next(line for line in hits.splitlines() if line.startswith("| secret.github-token"))
    assert "anon<br>3 occurrence(s): 0x7ff83451c720 (anon), 0x7ff834c1f2c8 (anon), 0x7ff834c1f411 (anon)" in github
    assert "0000000000000000  67 68 70 5f 2e 2e 2e 73  68 61 32 35 36 3a 39 32  \\|ghp\\_...sha256:92\\|" in github
    assert "R4nd0m" not in text and "wJalrXUtnFEMI" not in text  # the hexdump is of the redacted context


def test_changed_files_show_the_sha256_export_computed(lookup):
    analysis = dict(lookup[0], exported=[{"kind": "rootfs", "source": "/tmp/.x.sh", "sha256": "ab" * 32},
                                         {"kind": "recovered", "source": "/etc/issue", "sha256": "cd" * 32}])
    text = report.render("html", analysis, lookup[1])
    assert re.search(r'<tr id="fs-0"><td><code>/tmp/.x.sh</code>.*<code>%s</code></td></tr>' % ("ab" * 32), text)
    assert "7540a4a19eb2c51ba97229d37d30ad5e836cea123039820e891b73e1b16ca77a" in text  # recovered log's


def test_report_says_who_when_which_version_and_case(lookup):
    import yaml
    from repo_paths import REPO

    with open(os.path.join(REPO, "galaxy.yml")) as handle:
        assert report.VERSION == yaml.safe_load(handle)["version"]
    text = report.render("html", lookup[0], lookup[1], generated="2026-12-01T10:00:00Z", case_id="IR-<7>")
    assert '<td class="k">generated at</td><td>2026-12-01T10:00:00Z</td>' in text
    assert '<td class="k">tool</td><td>forensic.checkpoint %s (checkpoint_analyze)</td>' % report.VERSION in text
    assert '<td class="k">case id</td><td>IR-&lt;7&gt;</td>' in text and "case IR-&lt;7&gt;" in text
    assert re.search(r'<td class="k">generated by</td><td>[^<@]+@[^<]+</td>', text)
    assert "| case id | not given |" in report.render("markdown", *lookup)


def test_a_report_differing_only_by_its_generation_time_is_unchanged(tmp_path, lookup, monkeypatch):
    for fmt in ("html", "markdown"):
        path = str(tmp_path / ("r." + fmt))
        monkeypatch.setattr(report, "_now", lambda: "2026-12-01T10:00:00Z")
        first = report.write(path, fmt, lookup[0], lookup[1], case_id="IR-1")
        monkeypatch.setattr(report, "_now", lambda: "2026-12-01T11:00:00Z")
        assert report.write(path, fmt, lookup[0], lookup[1], case_id="IR-1")["changed"] is False
        with open(path) as handle:
            assert "2026-12-01T10:00:00Z" in handle.read()  # the first generation is kept
        again = report.write(path, fmt, lookup[0], lookup[1], case_id="IR-2")  # a real change
        assert again["changed"] is True and again["sha256"] != first["sha256"]


def test_hostile_values_cannot_forge_anchors_or_links():
    analysis = hostile_analysis()
    for proc in analysis["processes"]:
        proc["pid"] = '1" onmouseover="x' if proc["pid"] == 1 else proc["pid"]
        proc["sockets"] = [{"fd": '3"><a href="#x', "family": "ipv4", "protocol": "tcp", "state": "LISTEN",
                            "local_address": HOSTILE, "local_port": 1}]
    result = findings.evaluate(analysis)
    result["findings"].append({"id": HOSTILE, "severity": "high", "pid": analysis["processes"][0]["pid"],
                               "path": "/tmp/" + HOSTILE, "evidence": "[%s]:1" % HOSTILE, "subject": HOSTILE,
                               "address_hex": '0x1"<x>', "vma": HOSTILE})
    text = report.render("html", analysis, result)
    ids, links = ids_and_links(text)
    assert all(re.match(r"^[A-Za-z0-9_-]+$", anchor) for anchor in ids + links)
    assert set(links) <= set(ids)
    assert not re.search(r"<[^>]*\sonmouseover=", text) and "<script" not in text
