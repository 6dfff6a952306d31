# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Sockets of the checkpointed processes: unix, inet (IPv4/IPv6), packet and netlink.

CRIU stores inet addresses as the kernel's 32-bit words in host (little-endian) order, so the
bytes of each word *are* the network-order address bytes. An IPv6 socket talking to an IPv4 peer
holds ``::ffff:a.b.c.d``; it is rendered as ``a.b.c.d`` (checkpointctl prints such addresses as
garbage like ``a58:9:::4444``). Established TCP connections have ``tcp-stream-<inode in hex>.img``
with the bytes still queued in each direction; other sockets' queued packets are in
``sk-queues.img``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import array
import bisect
import ipaddress
import struct

from ansible_collections.forensic.checkpoint.plugins.module_utils.analysis.files import SOCKET_TYPES
from ansible_collections.forensic.checkpoint.plugins.module_utils.criu.imageset import text

FAMILIES = {1: "unix", 2: "ipv4", 10: "ipv6", 16: "netlink", 17: "packet"}
TYPES = {1: "stream", 2: "dgram", 3: "raw", 4: "rdm", 5: "seqpacket", 6: "dccp", 10: "packet"}
PROTOCOLS = {0: None, 1: "icmp", 6: "tcp", 17: "udp", 58: "icmpv6", 132: "sctp", 136: "udplite", 255: "raw"}
# TCP states (include/net/tcp_states.h); unix and netlink sockets report theirs in the same numbering.
STATES = {1: "ESTABLISHED", 2: "SYN_SENT", 3: "SYN_RECV", 4: "FIN_WAIT1", 5: "FIN_WAIT2", 6: "TIME_WAIT",
          7: "CLOSE", 8: "CLOSE_WAIT", 9: "LAST_ACK", 10: "LISTEN", 11: "CLOSING", 12: "NEW_SYN_RECV"}
NETLINK_PROTOCOLS = {0: "route", 2: "usersock", 3: "firewall", 4: "sock_diag", 5: "nflog", 6: "xfrm",
                     7: "selinux", 8: "iscsi", 9: "audit", 10: "fib_lookup", 11: "connector", 12: "netfilter",
                     14: "dnrtmsg", 15: "kobject_uevent", 16: "generic", 18: "scsitransport", 19: "ecryptfs",
                     20: "rdma", 21: "crypto", 22: "smc"}
ETHER_PROTOCOLS = {0x0003: "all", 0x0800: "ip", 0x0806: "arp", 0x86dd: "ipv6", 0x8100: "802.1q"}


def inet_address(family, words):
    """Dotted or colon text for CRIU's address words; IPv4-mapped IPv6 addresses as plain IPv4."""
    return _inet(family, words)[0]


def _inet(family, words):
    """(text, whether it was an IPv4-mapped IPv6 address)."""
    words = list(words)
    if family == 2:
        return str(ipaddress.IPv4Address(struct.pack("<I", words[0] if words else 0))), False
    address = ipaddress.IPv6Address(struct.pack("<4I", *(words + [0, 0, 0, 0])[:4]))
    if address.ipv4_mapped is not None:
        return str(address.ipv4_mapped), True
    return str(address), False


def _name(table, value):
    return table.get(value, str(value)) if value is not None else None


def _opts(sub):
    opts = sub.opts if "opts" in sub.DESCRIPTOR.fields_by_name and sub.HasField("opts") else None
    return (opts.so_sndbuf if opts is not None else None), (opts.so_rcvbuf if opts is not None else None)


def unix_path(sub):
    """A unix socket's bound name: a path, ``@name`` for the abstract namespace, or None."""
    raw = bytes(sub.name) if sub.HasField("name") else b""
    if not raw:
        return None
    if raw[:1] == b"\0":
        # Abstract names are length-delimited: every byte, NULs included, is part of the name.
        return "@" + raw[1:].decode("utf-8", "backslashreplace")
    # A path name is a C string: the kernel hands CRIU sun_path with its terminating NUL.
    path = raw.split(b"\0", 1)[0].decode("utf-8", "backslashreplace")
    directory = text(sub.name_dir) if "name_dir" in sub.DESCRIPTOR.fields_by_name and sub.HasField("name_dir") else ""
    if directory and not path.startswith("/"):
        path = directory.rstrip("/") + "/" + path
    return path


class SocketTable(object):
    """Socket details that need more than the socket's own entry: peers, stream and packet queues."""

    def __init__(self, images, files):
        self.files = files
        self.images = images
        self.positions = {}  # id of an fd table: (the table, its sockets' positions), for the processes sharing it
        # A unix socket's peer is found by inode: the inodes sorted with their file ids (12 bytes a
        # socket), the peer's entry decoded when asked for. Decoded entries by inode cost hundreds
        # of MB for 300k unix sockets.
        inos, ids = array.array("Q"), array.array("Q")
        for file_id, kind, sub in files.items():
            if kind == "UNIXSK" and sub is not None:
                inos.append(sub.ino)
                ids.append(file_id)
        order = sorted(range(len(inos)), key=inos.__getitem__)  # stable: of equal inodes the last wins
        self._inos = array.array("Q", (inos[index] for index in order))
        self._ids = array.array("Q", (ids[index] for index in order))
        self.queued = {}
        for entry in images.entries("sk-queues.img", "SK_QUEUES"):
            self.queued[entry.id_for] = self.queued.get(entry.id_for, 0) + entry.length

    def unix_peer(self, ino):
        """The unix socket entry of inode ``ino`` (the last of several), None when there is none."""
        at = bisect.bisect_right(self._inos, ino) - 1
        if at < 0 or self._inos[at] != ino:
            return None
        return self.files.get(self._ids[at])[1]

    def tcp_stream(self, ino):
        return self.images.first("tcp-stream-%x.img" % ino, "TCP_STREAM")

    def is_socket(self, file_id):
        kind, sub = self.files.get(file_id)
        return sub is not None and kind in SOCKET_TYPES

    def describe(self, fd, file_id):
        """One entry of a process's ``sockets`` list, or None when the file is not a socket."""
        kind, sub = self.files.get(file_id)
        if sub is None or kind not in SOCKET_TYPES:
            return None
        send_buf, recv_buf = _opts(sub)
        item = {"fd": fd, "id": file_id, "inode": getattr(sub, "ino", None), "send_buf": send_buf,
                "recv_buf": recv_buf, "queued": self.queued.get(file_id)}
        item.update(getattr(self, "_" + kind.lower())(sub))
        return item

    def _inetsk(self, sub):
        (local, local_mapped), (remote, remote_mapped) = _inet(sub.family, sub.src_addr), _inet(sub.family, sub.dst_addr)
        item = {
            "family": _name(FAMILIES, sub.family),
            "type": _name(TYPES, sub.type),
            "protocol": _name(PROTOCOLS, sub.proto),
            "state": _name(STATES, sub.state),
            "local_address": local,
            "local_port": sub.src_port,
            "remote_address": remote,
            "remote_port": sub.dst_port,
            "ipv4_mapped": local_mapped or remote_mapped,
            "backlog": sub.backlog if sub.state == 10 else None,
            "in_queue": None,
            "out_queue": None,
        }
        if sub.proto == 6 and sub.state not in (7, 10):
            stream = self.tcp_stream(sub.ino)
            if stream is not None:
                item["in_queue"], item["out_queue"] = stream.inq_len, stream.outq_len
        return item

    def _unixsk(self, sub):
        peer = self.unix_peer(sub.peer) if sub.peer else None
        return {
            "family": "unix",
            "type": _name(TYPES, sub.type),
            "protocol": None,
            "state": _name(STATES, sub.state),
            "path": unix_path(sub),
            "peer": sub.peer or None,
            "peer_path": unix_path(peer) if peer is not None else None,
            "backlog": sub.backlog if sub.state == 10 else None,
        }

    @staticmethod
    def _packetsk(sub):
        # The protocol is the ethertype in network byte order, as socket(AF_PACKET, ..., htons(p)) took it.
        ether = struct.unpack(">H", struct.pack("<H", sub.protocol & 0xffff))[0]
        return {"family": "packet", "type": _name(TYPES, sub.type), "protocol": ETHER_PROTOCOLS.get(ether, "0x%04x" % ether),
                "state": None, "interface_index": sub.ifindex or None}

    @staticmethod
    def _netlinksk(sub):
        return {"family": "netlink", "type": None, "protocol": _name(NETLINK_PROTOCOLS, sub.protocol),
                "state": _name(STATES, sub.state) if sub.HasField("state") else None, "port_id": sub.portid,
                "peer_port_id": sub.dst_portid or None, "groups": list(sub.groups)}


class SocketRows(object):
    """A process's ``sockets`` list, its records made when read (SocketTable.describe), never held,
    as analysis/files.py FileRows does for open files: 300k sockets in one process would be 300k
    dicts. ``fds``: the fdinfo entries of its fd table; the positions of the sockets among them
    are kept (4 bytes a socket). The texts from the archive a record holds are its unix names
    (``path``, ``peer_path``); ``scrub_rows`` scrubs them as each record is made."""

    __slots__ = ("table", "fds", "at", "scrub")

    def __init__(self, table, fds, at):
        self.table, self.fds, self.at, self.scrub = table, fds, at, None

    @classmethod
    def of(cls, table, fds):
        """The sockets among ``fds`` (an empty list when there are none)."""
        if not len(fds):
            return []
        known = table.positions.get(id(fds))
        if known is None:  # a table shared by N processes (CLONE_FILES) is looked through once, not N times
            known = table.positions[id(fds)] = (fds, array.array(
                "I", (index for index, fdinfo in enumerate(fds) if table.is_socket(fdinfo.id))))
        return cls(table, fds, known[1]) if known[1] else []

    def __len__(self):
        return len(self.at)

    def __bool__(self):
        return len(self) > 0

    def _row(self, position):
        fdinfo = self.fds[position]
        row = self.table.describe(fdinfo.fd, fdinfo.id)
        if self.scrub is not None:
            for key in ("path", "peer_path"):
                if row.get(key):
                    row[key] = self.scrub(row[key])
        return row

    def __iter__(self):
        for position in self.at:
            yield self._row(position)

    def texts(self, with_table=True):
        if not with_table:  # every socket is of the fd table, a shared one already read
            return
        for row in SocketRows(self.table, self.fds, self.at):  # unscrubbed: what the archive holds
            for key in ("path", "peer_path"):
                if row.get(key):
                    yield row[key]

    def __getitem__(self, index):
        """A slice is a list of those records; an index, one record."""
        if isinstance(index, slice):
            return [self._row(position) for position in self.at[index]]
        return self._row(self.at[index])

    def scrub_rows(self, scrub):
        """As FileRows.scrub_rows."""
        inner = self.scrub
        self.scrub = scrub if inner is None else lambda text: scrub(inner(text))

    def __repr__(self):
        return "SocketRows(%d)" % len(self)
