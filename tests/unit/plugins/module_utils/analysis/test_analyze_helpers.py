# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The small decoders behind the analysis: addresses, capabilities, flags, tree order, redaction."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import struct

from pycriu.images import pb

from ansible_collections.forensic.checkpoint.plugins.module_utils.analysis.files import open_flags
from ansible_collections.forensic.checkpoint.plugins.module_utils.analysis.processes import capability_names, tree_order
from ansible_collections.forensic.checkpoint.plugins.module_utils.findings.redact import Redactor, is_secret_name, redact_value
from ansible_collections.forensic.checkpoint.plugins.module_utils.analysis.sockets import inet_address, unix_path


def words(address_bytes):
    """CRIU's representation: the kernel's 32-bit words, stored little-endian."""
    return list(struct.unpack("<%dI" % (len(address_bytes) // 4), address_bytes))


def test_inet_addresses():
    assert inet_address(2, words(bytes([10, 88, 0, 9]))) == "10.88.0.9"
    assert inet_address(2, [0]) == "0.0.0.0"
    mapped = b"\0" * 10 + b"\xff\xff" + bytes([10, 88, 0, 1])
    assert inet_address(10, words(mapped)) == "10.88.0.1"  # checkpointctl: "a58:1::"
    assert inet_address(10, [0, 0, 0, 0]) == "::"
    assert inet_address(10, words(bytes.fromhex("fe800000000000000000000000000001"))) == "fe80::1"
    assert inet_address(10, words(bytes.fromhex("20010db8000000000000000000000001"))) == "2001:db8::1"


def test_unix_paths():
    entry = pb.unix_sk_entry(id=1, ino=2, type=1, state=1, flags=0, uflags=0, backlog=0, peer=0)
    assert unix_path(entry) is None
    entry.name = b"/run/app.sock"
    assert unix_path(entry) == "/run/app.sock"
    entry.name = b"/run/app.sock\0"  # as CRIU records a socket bound with its path's NUL (issue 14)
    assert unix_path(entry) == "/run/app.sock"
    entry.name = b"\0abstract-name"
    assert unix_path(entry) == "@abstract-name"
    entry.name = b"rel.sock"
    entry.name_dir = "/var/run/"
    assert unix_path(entry) == "/var/run/rel.sock"


def test_capabilities_from_words():
    assert capability_names([0x800405FB, 0]) == [
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID", "CAP_SETUID",
        "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_SETFCAP"]
    assert capability_names([1 << 21, 1 << 8]) == ["CAP_SYS_ADMIN", "CAP_CHECKPOINT_RESTORE"]
    assert capability_names([0, 1 << 20]) == ["CAP_52"]  # a bit newer than this table
    assert capability_names([]) == []


def test_open_flags():
    assert open_flags(0o100002) == ["O_RDWR", "O_LARGEFILE"]
    assert open_flags(33793) == ["O_WRONLY", "O_APPEND", "O_LARGEFILE"]
    assert open_flags(0o4000 | 0o2000000) == ["O_RDONLY", "O_NONBLOCK", "O_CLOEXEC"]
    assert open_flags(3 | 1 << 30) == ["O_ACCMODE", "0x40000000"]


def test_tree_order_breaks_loops():
    def entry(pid, ppid):
        return pb.pstree_entry(pid=pid, ppid=ppid, pgid=pid, sid=pid)
    warnings = []
    entries = [entry(1, 0), entry(7, 1), entry(3, 1), entry(9, 7), entry(20, 21), entry(21, 20)]
    ordered, children = tree_order(entries, warnings.append)
    assert [e.pid for e in ordered] == [1, 7, 9, 3, 20, 21]
    assert [c.pid for c in children[1]] == [7, 3]
    assert warnings == ["checkpoint/pstree.img: pid 20 is not reachable from a root (parent loop)",
                        "checkpoint/pstree.img: pid 21 is not reachable from a root (parent loop)"]


def test_redaction_format_is_as_documented():
    value = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    assert redact_value(value) == "wJal...sha256:" + hashlib.sha256(value.encode()).hexdigest()
    assert redact_value("hunter22") == "...sha256:" + hashlib.sha256(b"hunter22").hexdigest()  # 8 chars: none shown
    assert redact_value("hunter222").startswith("hunt...sha256:")
    for name in ("AWS_SECRET_ACCESS_KEY", "api_key", "GITHUB_TOKEN", "DB_PASSWORD", "PGPASSWD", "GOOGLE_CREDENTIALS"):
        assert is_secret_name(name), name
    for name in ("PATH", "HOME", "SERVICE_USER", "LOOT"):
        assert not is_secret_name(name), name


def test_redactor_scrubs_copies_of_secrets():
    redactor = Redactor()
    env = redactor.redact_env({"DB_PASSWORD": "s3cret-pass", "PIN_TOKEN": "1234", "EMPTY_KEY": "", "USER": "app"})
    assert env["DB_PASSWORD"].startswith("s3cr...sha256:") and env["USER"] == "app" and env["EMPTY_KEY"] == ""
    assert redactor.scrub("psql --password=s3cret-pass") == "psql --password=" + env["DB_PASSWORD"]
    assert redactor.scrub("code 1234") == "code 1234"  # too short to scrub safely; the variable itself is redacted
    assert Redactor().scrub("nothing known") == "nothing known"
