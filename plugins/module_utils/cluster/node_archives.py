# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Finding a checkpoint archive on a node after the HTTP connection to the kubelet dropped.

The kubelet's checkpoint handler answers only when CRI-O has written the archive; a connection cut
before then (a load balancer's idle timeout, an API server restart) does not stop the dump, and the
archive lands in ``/var/lib/kubelet/checkpoints`` all the same. The kubelet serves no listing of
that directory (its HTTP server registers ``/checkpoint`` for POST only, and ``/logs/`` serves
``/var/log``), so the directory is read through the analyser pod on that node, which mounts it:
one exec of its Python, which lists and stats files and changes nothing.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import calendar
import json
import re
import time

from ansible_collections.forensic.checkpoint.plugins.module_utils.cluster.client import ApiError
from ansible_collections.forensic.checkpoint.plugins.module_utils.errors import CheckpointError

try:
    from kubernetes.client import CoreV1Api
    from kubernetes.stream import stream
except ImportError:  # pragma: no cover - the module's requirements name the package
    CoreV1Api = stream = None

# argv[1]: the directory, argv[2]: the archive name's prefix; prints the node's clock and
# [[name, size, mtime], ...]
LIST = ("import json, os, sys, time\n"
        "d, p = sys.argv[1], sys.argv[2]\n"
        "out = []\n"
        "for n in sorted(os.listdir(d)):\n"
        "    if n.startswith(p) and n.endswith('.tar'):\n"
        "        s = os.stat(os.path.join(d, n))\n"
        "        out.append([n, s.st_size, s.st_mtime])\n"
        "print(json.dumps({'now': time.time(), 'files': out}))\n")
# argv[1]: the directory, argv[2]: [[name, sha256], ...], argv[3]: "1" in check mode; prints
# [[name, outcome, detail], ...]. Never follows a link, hashes before it unlinks, and removes only
# a regular file whose SHA-256 is the one verified on the controller.
REMOVE = ("import hashlib, json, os, stat, sys\n"
          "d, items, check = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3] == '1'\n"
          "out = []\n"
          "for n, want in items:\n"
          "    p = os.path.join(d, n)\n"
          "    try:\n"
          "        fd = os.open(p, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)\n"
          "    except FileNotFoundError:\n"
          "        out.append([n, 'absent', '']); continue\n"
          "    except OSError as e:\n"
          "        out.append([n, 'error', e.strerror]); continue\n"
          "    h = hashlib.sha256()\n"
          "    with os.fdopen(fd, 'rb') as f:\n"
          "        regular = stat.S_ISREG(os.fstat(f.fileno()).st_mode)\n"
          "        for b in iter(lambda: f.read(1 << 20) if regular else b'', b''):\n"
          "            h.update(b)\n"
          "    if not regular:\n"
          "        out.append([n, 'error', 'not a regular file']); continue\n"
          "    if h.hexdigest() != want:\n"
          "        out.append([n, 'differs', h.hexdigest()]); continue\n"
          "    if check:\n"
          "        out.append([n, 'would remove', '']); continue\n"
          "    try:\n"
          "        os.unlink(p); out.append([n, 'removed', ''])\n"
          "    except OSError as e:\n"
          "        out.append([n, 'error', e.strerror])\n"
          "print(json.dumps(out))\n")
SPEC = dict(namespace=dict(type="str", required=True),
            label_selectors=dict(type="list", elements="str",
                                 default=["app.kubernetes.io/name=checkpoint-analyser"]),
            container=dict(type="str", default="analyser"),
            python=dict(type="str", default="/usr/bin/python3"),
            checkpoint_dir=dict(type="str", default="/var/lib/kubelet/checkpoints"),
            wait=dict(type="int", default=300),
            interval=dict(type="int", default=2))
# where the archives are removed: the analyser pods as for ``recover``, without its waits
REMOVE_SPEC = dict((key, value) for key, value in SPEC.items() if key not in ("wait", "interval"))


def stamp(name, prefix):
    """The time (epoch seconds) in an archive's name (``<prefix><RFC3339>.tar``, the kubelet's
    time.Now().Format(time.RFC3339) on the node), or None when it is not one."""
    text = name[len(prefix):-len(".tar")]
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        return calendar.timegm(time.strptime(text[:19], "%Y-%m-%dT%H:%M:%S")) - _offset(text[19:])
    except ValueError:
        return None


def _offset(text):
    if len(text) != 6 or text[0] not in "+-":
        raise ValueError(text)
    minutes = int(text[1:3]) * 60 + int(text[4:6])
    return 60 * (minutes if text[0] == "+" else -minutes)


class AnalyserLister(object):
    """Lists a node's checkpoint directory through the analyser pod running there."""

    def __init__(self, cluster, settings):
        self.cluster = cluster
        self.settings = settings

    def pod(self, node):
        found = self.cluster.get(
            "/api/v1/namespaces/%s/pods" % self.settings["namespace"], "analyser pods",
            query=[("labelSelector", ",".join(self.settings["label_selectors"] or [])),
                   ("fieldSelector", "spec.nodeName=%s,status.phase=Running" % node)]).get("items") or []
        if not found:
            raise ApiError("node %s" % node, "no running analyser pod (%s, %s) to look in its checkpoint directory" % (
                self.settings["namespace"], ",".join(self.settings["label_selectors"] or [])), transient=False)
        return found[0]["metadata"]["name"]

    def list(self, node, prefix):
        return self.run(node, "list", LIST, prefix)

    def run(self, node, what, script, *args):
        """The JSON a Python ``script`` prints, run with ``args`` in the analyser pod on ``node``."""
        name = self.pod(node)
        subject = "analyser pod %s/%s on node %s" % (self.settings["namespace"], name, node)
        out = ""
        try:
            out = stream(CoreV1Api(self.cluster.client.client).connect_get_namespaced_pod_exec, name,
                         self.settings["namespace"], container=self.settings["container"],
                         command=[self.settings["python"], "-c", script, self.settings["checkpoint_dir"]] + list(args),
                         stderr=True, stdin=False, stdout=True, tty=False, _preload_content=True)
            return json.loads(out)
        except ValueError:
            raise ApiError(subject, "cannot %s %s: %s" % (what, self.settings["checkpoint_dir"], " ".join(out.split())[:300]),
                           transient=False)
        except Exception as err:  # the exec's transport errors, named in one line
            reason = " ".join(str(err).split())[:300]
            raise ApiError(subject, "cannot exec to %s %s: %s" % (what, self.settings["checkpoint_dir"], reason),
                           transient=False)


# The kubelet names the archive when the request reaches it, before the CRI call (KEP-2008: "In the
# checkpoint request the kubelet will specify the name ... checkpoint-<podFullName>-<containerName>-
# <timestamp>.tar"), so this request's archive is named within a few seconds of the POST: the name
# has whole seconds, the node's clock is estimated through an exec, and the request passes the API
# server. An archive of the same container named later is another checkpoint taken meanwhile.
NAMED_WITHIN = 2


def find(lister, node, prefix, since, wait, interval=2, sleep=time.sleep, clock=time.monotonic, now=time.time):
    """(name, size, seconds waited, others) of this request's archive ``<prefix><time>.tar`` on ``node``:
    the earliest named from ``since`` (epoch seconds on this host, when the POST was sent) to
    NAMED_WITHIN s later, once two listings ``interval`` s apart show it the same size and mtime;
    (None, None, waited, others) when none settled within ``wait`` s. ``others``: the archives of this
    container named since the POST that are not it (checkpoints someone else started meanwhile)."""
    started = clock()
    seen = None
    while True:
        listing = lister.list(node, prefix)
        # ``since`` on the node's clock (read in each listing), to the second as names are
        node_since = int(since + listing["now"] - now())
        named = sorted((stamp(n, prefix), n, size, mtime) for n, size, mtime in listing["files"]
                       if (stamp(n, prefix) or 0) >= node_since)
        mine = [e for e in named if e[0] <= node_since + NAMED_WITHIN]
        first = mine[0] if mine else None
        others = [e[1] for e in named if first is None or e[1] != first[1]]
        waited = round(clock() - started, 1)
        # CRI-O writes the archive in place: a size and mtime that hold still mean it is complete
        if first is not None and first[2] > 0 and first == seen:
            return first[1], first[2], waited, others
        if waited >= wait:
            return None, None, waited, others
        seen = first
        sleep(min(interval, max(0.1, wait - waited)))


def remove(lister, archives, check=False):
    """The checkpoint_archive_remove module's work: remove each archive (``node``, ``path``, ``sha256``)
    from its node's checkpoint directory when its content is still the one verified; one exec per node."""
    directory = lister.settings["checkpoint_dir"].rstrip("/")
    by_node, result = {}, {"changed": False, "removed": [], "absent": [], "kept": []}
    for archive in archives:
        folder, _sep, name = (archive.get("path") or "").rpartition("/")
        if folder != directory or not re.match(r"^checkpoint-[^/]+\.tar$", name) or \
                not re.match(r"^[0-9a-f]{64}$", archive.get("sha256") or ""):
            raise CheckpointError("archive %s on node %s" % (archive.get("path"), archive.get("node")),
                                  "not a checkpoint archive in %s with a SHA-256 (sha256: 64 hex digits)" % directory)
        by_node.setdefault(archive["node"], []).append([name, archive["sha256"]])
    for node in sorted(by_node):
        for name, outcome, detail in lister.run(node, "remove from", REMOVE, json.dumps(by_node[node]),
                                                "1" if check else "0"):
            entry = {"node": node, "path": "%s/%s" % (directory, name)}
            if outcome in ("removed", "would remove"):
                result["removed"].append(entry)
            elif outcome == "absent":
                result["absent"].append(entry)
            else:
                entry["reason"] = ("its SHA-256 is now %s, not the verified one" % detail if outcome == "differs"
                                   else detail)
                result["kept"].append(entry)
    result["changed"] = bool(result["removed"])
    kept = "; ".join("%s on node %s: %s" % (k["path"], k["node"], k["reason"]) for k in result["kept"])
    result["msg"] = "%s %d archive(s)%s%s" % (
        "would remove" if check else "removed", len(result["removed"]),
        ", %d already gone" % len(result["absent"]) if result["absent"] else "",
        "; NOT removed: %s" % kept if kept else "")
    result["failed"] = bool(kept)
    return result
