# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Everything ``checkpointctl inspect --all --format json`` reports is in our analysis.

checkpointctl is not installed here, so the expected checkpointctl output for each fixture is
stated below, field by field, as checkpointctl's JSON renderer builds it (internal/json.go and
go-crit's explore.go/utils.go: ``fd`` is ``"<TYPE> <n>"``, pipes are ``pipe[<id>]``, sockets
``<TYPE>.<file id>``, buffer sizes in its ``%.1f KB`` style, zero values omitted). ``render``
derives that shape from our analysis alone; the test compares the two.

Where checkpointctl is wrong we state the correct value and say so: it prints IPv4-mapped IPv6
addresses as garbage (``a58:9::`` for 10.88.0.9), leaves a trailing space on command lines and
prints empty command lines for CRIU 4.1 images with go-criu 8.2.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.forensic.checkpoint.plugins.module_utils.analysis.analyze import analyze

PODMAN_ANNOTATIONS = {
    "io.container.manager": "libpod", "io.kubernetes.cri-o.TTY": "false",
    "io.podman.annotations.autoremove": "FALSE", "io.podman.annotations.init": "FALSE",
    "io.podman.annotations.privileged": "FALSE", "io.podman.annotations.publish-all": "FALSE",
    "org.opencontainers.image.stopSignal": "15",
}
COUNTERS_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM": "xterm",
                "container": "podman", "HOME": "/root", "HOSTNAME": "3517782c6edd"}
PODMAN_MOUNTS = [
    {"destination": "/proc", "type": "proc", "source": "proc"},
    {"destination": "/dev", "type": "tmpfs", "source": "tmpfs"},
    {"destination": "/sys", "type": "sysfs", "source": "sysfs"},
    {"destination": "/dev/pts", "type": "devpts", "source": "devpts"},
    {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue"},
]
COUNTERS_FDS = [{"pid": 1, "open_files": [
    {"type": "REG", "fd": "REG 0", "path": "/dev/null"},
    {"type": "PIPE", "fd": "PIPE 1", "path": "pipe[40186]"},
    {"type": "PIPE", "fd": "PIPE 2", "path": "pipe[40187]"},
    {"type": "INETSK", "fd": "INETSK 3", "path": "INETSK.19"},
    {"type": "", "fd": "cwd", "path": "/app"},
    {"type": "", "fd": "root", "path": "/"},
]}]
COUNTERS_SOCKETS = [{"pid": 1, "open_sockets": [{"protocol": "TCP", "data": {
    "type": "TCP", "state": "LISTEN", "src": "0.0.0.0", "src_port": 8080, "dst": "0.0.0.0",
    "send_buf": "16.0 KB", "recv_buf": "128.0 KB"}}]}]
COUNTERS_TREE = {"pid": 1, "command": "python3", "cmdline": "python3 /app/counter.py", "task_state": "Alive",
                 "environment_variables": COUNTERS_ENV}
COUNTERS_STATS = {"freezing_time": 2490, "frozen_time": 190483, "memdump_time": 10122, "memwrite_time": 7021,
                  "pages_scanned": 2946, "pages_written": 2868}
COUNTERS_SIZE = {"total_size": 11774132, "memory_pages_size": 11747328, "root_fs_diff_size": 418816}

LOOKUP_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM": "xterm",
              "container": "podman", "SERVICE_USER": "svc-lookup",
              "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "HOME": "/root",
              "HOSTNAME": "a5df3ef4ec9b"}
LOOKUP_CHILD_ENV = {"HOSTNAME": "a5df3ef4ec9b", "HOME": "/root", "SERVICE_USER": "svc-lookup", "LC_CTYPE": "C.UTF-8",
                    "container": "podman", "TERM": "xterm", "PATH": LOOKUP_ENV["PATH"],
                    "AWS_SECRET_ACCESS_KEY": LOOKUP_ENV["AWS_SECRET_ACCESS_KEY"], "PWD": "/app"}
# checkpointctl: src "a58:9::", dst "a58:1::" (its IPv6 renderer overwrites the first 4 bytes with each word).
SHELL_SOCKET = {"protocol": "TCP", "data": {"type": "TCP", "state": "ESTABLISHED", "src": "10.88.0.9", "src_port": 4444,
                                            "dst": "10.88.0.1", "dst_port": 42698, "send_buf": "3.8 MB",
                                            "recv_buf": "128.0 KB"}}
SHELL_FILES = [{"type": "INETSK", "fd": "INETSK 0", "path": "INETSK.31"},
               {"type": "INETSK", "fd": "INETSK 1", "path": "INETSK.31"},
               {"type": "REG", "fd": "REG 2", "path": "/dev/null"}]

EXPECTED = {
    "counters": {
        "container_name": "counter", "image": "localhost/forensics/counters-app:v1",
        "id": "3517782c6eddcff9ec1766e331e6dc27a8aaa291d3db71f461393bc614ac5a6a", "runtime": "runc",
        "created": "2026-11-26T22:20:27Z", "engine": "Podman", "ip": "10.88.0.8", "mac": "9a:f4:62:e6:c8:37",
        "networks": [{"name": "podman", "interfaces": {
            "eth0": {"ip": "10.88.0.8", "mac": "9a:f4:62:e6:c8:37", "gateway": "10.88.0.1"}}}],
        "checkpoint_size": COUNTERS_SIZE, "statistics": COUNTERS_STATS,
        "metadata": {"annotations": dict(PODMAN_ANNOTATIONS, **{
            "io.kubernetes.cri-o.Created": "2026-11-26T22:20:27.076411227Z"})},
        "process_tree": COUNTERS_TREE, "file_descriptors": COUNTERS_FDS, "sockets": COUNTERS_SOCKETS,
        "mounts_head": PODMAN_MOUNTS, "mounts_count": 11,
    },
    "crio": {
        "container_name": "counter", "image": "quay.io/example/counters-app:main",
        "id": "3517782c6eddcff9ec1766e331e6dc27a8aaa291d3db71f461393bc614ac5a6a", "runtime": "runc",
        "created": "2026-11-26T22:20:27.076411227Z", "checkpointed": "2026-11-26T22:20:40Z", "engine": "CRI-O",
        "ip": "10.130.2.99", "checkpoint_size": COUNTERS_SIZE, "statistics": COUNTERS_STATS,
        "metadata_subset": {"pod_name": "counters-7d9f8b6c5d-x2x4q", "kubernetes_namespace": "demo",
                            "annotations": {"io.kubernetes.cri-o.Metadata": '{"name": "counter"}',
                                            "io.kubernetes.cri-o.IP.0": "10.130.2.99",
                                            "openshift.io/scc": "restricted-v2"}},
        "process_tree": COUNTERS_TREE, "file_descriptors": COUNTERS_FDS, "sockets": COUNTERS_SOCKETS,
        "mounts_head": PODMAN_MOUNTS, "mounts_count": 11,
    },
    "lookup": {
        "container_name": "lookup", "image": "localhost/forensics/lookup-app:v1",
        "id": "a5df3ef4ec9bcea130fb1edf5f29c6f5832be7e63d6e4d174bf869d13bcaaf35", "runtime": "runc",
        "created": "2026-11-26T22:21:05Z", "engine": "Podman", "ip": "10.88.0.9", "mac": "ae:ec:11:61:f6:f1",
        "checkpoint_size": {"total_size": 12313262, "memory_pages_size": 12247040, "root_fs_diff_size": 418816},
        "statistics": {"freezing_time": 102099, "frozen_time": 220556, "memdump_time": 28197, "memwrite_time": 21331,
                       "pages_scanned": 3122, "pages_written": 2990},
        "process_tree": {
            "pid": 1, "command": "python3", "cmdline": "python3 /app/lookup.py", "task_state": "Alive",
            "environment_variables": LOOKUP_ENV, "children": [{
                "pid": 15, "command": "busybox", "cmdline": "busybox nc -ll -p 4444 -e /bin/sh", "task_state": "Alive",
                "environment_variables": LOOKUP_CHILD_ENV, "children": [{
                    "pid": 16, "command": "sh", "cmdline": "/bin/sh", "task_state": "Alive",
                    "environment_variables": LOOKUP_CHILD_ENV, "children": [{
                        "pid": 20, "command": "busybox", "cmdline": "busybox sleep 3600", "task_state": "Alive",
                        "environment_variables_subset": {"OLDPWD": "/app", "PWD": "/tmp"}}]}]}]},
        "file_descriptors": [
            {"pid": 1, "open_files": [
                {"type": "REG", "fd": "REG 0", "path": "/dev/null"},
                {"type": "PIPE", "fd": "PIPE 1", "path": "pipe[59723]"},
                {"type": "PIPE", "fd": "PIPE 2", "path": "pipe[59724]"},
                {"type": "REG", "fd": "REG 3", "path": "/var/log/lookup-audit.log"},
                {"type": "INETSK", "fd": "INETSK 4", "path": "INETSK.20"},
                {"type": "", "fd": "cwd", "path": "/app"}, {"type": "", "fd": "root", "path": "/"}]},
            {"pid": 15, "open_files": [
                {"type": "REG", "fd": "REG 0", "path": "/dev/null"}, {"type": "REG", "fd": "REG 1", "path": "/dev/null"},
                {"type": "REG", "fd": "REG 2", "path": "/dev/null"},
                {"type": "INETSK", "fd": "INETSK 3", "path": "INETSK.27"},
                {"type": "", "fd": "cwd", "path": "/app"}, {"type": "", "fd": "root", "path": "/"}]},
            {"pid": 16, "open_files": SHELL_FILES + [{"type": "", "fd": "cwd", "path": "/tmp"},
                                                     {"type": "", "fd": "root", "path": "/"}]},
            {"pid": 20, "open_files": SHELL_FILES + [{"type": "", "fd": "cwd", "path": "/tmp"},
                                                     {"type": "", "fd": "root", "path": "/"}]},
        ],
        "sockets": [
            {"pid": 1, "open_sockets": [{"protocol": "TCP", "data": {
                "type": "TCP", "state": "LISTEN", "src": "0.0.0.0", "src_port": 8080, "dst": "0.0.0.0",
                "send_buf": "16.0 KB", "recv_buf": "128.0 KB"}}]},
            {"pid": 15, "open_sockets": [{"protocol": "TCP", "data": {
                "type": "TCP", "state": "LISTEN", "src": "::", "src_port": 4444, "dst": "::",
                "send_buf": "16.0 KB", "recv_buf": "128.0 KB"}}]},
            {"pid": 16, "open_sockets": [SHELL_SOCKET, SHELL_SOCKET]},
            {"pid": 20, "open_sockets": [SHELL_SOCKET, SHELL_SOCKET]},
        ],
        "mounts_head": PODMAN_MOUNTS, "mounts_count": 11,
    },
    "worker41": {
        "container_name": "worker41", "engine": "Podman", "ip": "10.88.0.14",
        "checkpoint_size": {"total_size": 5067442, "memory_pages_size": 5017600, "root_fs_diff_size": 2048},
        # checkpointctl 1.x with go-criu 8.2 prints empty command lines here (CRIU 4.1 pagemap).
        "process_tree": {"pid": 1, "command": "sh", "task_state": "Alive", "cmdline_prefix": "sh -c echo job-1 > /app/jobs;",
                         "children": [{"pid": 6, "command": "python3", "task_state": "Alive",
                                       "cmdline_prefix": "python3 -c \nimport subprocess, time",
                                       "children": [{"pid": 7, "command": "sleep", "task_state": "Alive",
                                                     "cmdline": "sleep 86400"}]}]},
        "sockets": [],
    },
}


STATISTICS = ("freezing_time", "frozen_time", "memdump_time", "memwrite_time", "pages_scanned", "pages_written")


def human(size):
    """go-crit's countBytes: 1024-based, one decimal, 'KB'/'MB' suffixes."""
    if size < 1024:
        return "%d B" % size
    div, exp, rest = 1024, 0, size // 1024
    while rest >= 1024:
        div *= 1024
        exp += 1
        rest //= 1024
    return "%.1f %sB" % (size / div, "KMGTPE"[exp])


def seconds(stamp):
    """RFC 3339 without fractional seconds, as Go's time.RFC3339 formats a parsed time."""
    return stamp.split(".")[0] + "Z" if stamp and "." in stamp else stamp


def render(analysis):
    """checkpointctl's JSON document, built only from our analysis."""
    container = analysis["container"]
    procs = dict((proc["pid"], proc) for proc in analysis["processes"])
    podman = container["engine"] == "Podman"
    networks = container["networks"]
    node = {
        "container_name": container["container"], "image": container["image"], "id": container["id"],
        "runtime": container["runtime"], "engine": container["engine"], "ip": container["ip"], "mac": container["mac"],
        "created": seconds(container["created"]) if podman else container["created"],
        "checkpointed": None if podman else seconds(container["checkpointed"]),
        "networks": [{"name": n["name"], "interfaces": dict(
            (name, {"ip": i["ip"], "mac": i["mac"], "gateway": i["gateway"]}) for name, i in n["interfaces"].items())}
            for n in networks],
        "checkpoint_size": {"total_size": container["sizes"]["checkpoint"],
                            "memory_pages_size": container["sizes"]["memory_pages"],
                            "root_fs_diff_size": container["sizes"]["rootfs_diff"]},
        "statistics": dict((k, container["stats"][k]) for k in STATISTICS),
        "metadata": dict((k, v) for k, v in (("pod_name", container["pod"]),
                                             ("kubernetes_namespace", container["namespace"]),
                                             ("annotations", container["annotations"])) if v),
    }

    def tree(pid):
        proc = procs[pid]
        item = {"pid": pid, "command": proc["comm"], "cmdline": proc["cmdline"],
                "task_state": {"running": "Alive", "stopped": "Stopped", "zombie": "Dead"}[proc["state"]],
                "environment_variables": proc["env"]}
        if proc["children"]:
            item["children"] = [tree(child) for child in proc["children"]]
        return item

    def open_file(item):
        path = item["path"]
        if item["type"] == "PIPE":
            path = path.replace("pipe:[", "pipe[")
        elif item["type"] in ("INETSK", "PACKETSK", "NETLINKSK"):
            path = "%s.%d" % (item["type"], item["id"])
        if isinstance(item["fd"], str):
            return {"type": "", "fd": item["fd"], "path": path}
        return {"type": item["type"], "fd": "%s %d" % (item["type"], item["fd"]), "path": path}

    def socket(item):
        data = {"type": item["protocol"].upper(), "state": item["state"], "src": item["local_address"],
                "src_port": item["local_port"], "dst": item["remote_address"], "dst_port": item["remote_port"],
                "send_buf": human(item["send_buf"]), "recv_buf": human(item["recv_buf"])}
        return {"protocol": item["protocol"].upper(), "data": dict((k, v) for k, v in data.items() if v)}

    node["process_tree"] = tree(analysis["processes"][0]["pid"])
    node["file_descriptors"] = [{"pid": p["pid"], "open_files": [open_file(f) for f in p["files"] if f["fd"] != "exe"]}
                                for p in analysis["processes"]]
    node["sockets"] = [{"pid": p["pid"], "open_sockets": [socket(s) for s in p["sockets"]]}
                       for p in analysis["processes"] if p["sockets"]]
    node["mounts"] = [{"destination": m["destination"], "type": m["type"], "source": m["source"]}
                      for m in analysis["mounts"]["spec"]]
    return node


def check_tree(expected, ours):
    for key, value in expected.items():
        if key == "children":
            assert len(ours["children"]) == len(value)
            for child_expected, child_ours in zip(value, ours["children"]):
                check_tree(child_expected, child_ours)
        elif key == "cmdline_prefix":
            assert ours["cmdline"].startswith(value)
        elif key == "environment_variables_subset":
            assert value.items() <= ours["environment_variables"].items()
        else:
            assert ours[key] == value, (ours["pid"], key)


@pytest.mark.parametrize("key", sorted(EXPECTED))
def test_everything_checkpointctl_inspect_reports(archives, key):
    ours = render(analyze(archives[key], redact_secrets=False))
    for field, value in EXPECTED[key].items():
        if field == "process_tree":
            check_tree(value, ours["process_tree"])
        elif field == "mounts_head":
            assert ours["mounts"][:len(value)] == value
        elif field == "mounts_count":
            assert len(ours["mounts"]) == value
        elif field == "metadata_subset":
            for name, sub in value.items():
                assert (sub.items() <= ours["metadata"][name].items()) if isinstance(sub, dict) \
                    else ours["metadata"][name] == sub, name
        else:
            assert ours[field] == value, field


def test_human_sizes_match_go_crit():
    assert [human(n) for n in (512, 16384, 131072, 3939840)] == ["512 B", "16.0 KB", "128.0 KB", "3.8 MB"]
