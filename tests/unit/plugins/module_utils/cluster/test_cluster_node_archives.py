# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Finding an archive after a dropped connection: the name's time and the wait for it to settle."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import calendar

from ansible_collections.forensic.checkpoint.plugins.module_utils.cluster import node_archives

PREFIX = "checkpoint-web-1_demo-app-"
T0 = calendar.timegm((2026, 12, 2, 6, 10, 0))


def test_stamp_reads_utc_and_offsets_and_refuses_other_containers():
    assert node_archives.stamp(PREFIX + "2026-12-02T06:10:00Z.tar", PREFIX) == T0
    # the kubelet formats the node's local time (time.Now().Format(time.RFC3339))
    assert node_archives.stamp(PREFIX + "2026-12-02T07:10:00+01:00.tar", PREFIX) == T0
    # container "app-sidecar" shares the prefix of container "app": its names do not parse
    assert node_archives.stamp(PREFIX + "sidecar-2026-12-02T06:10:00Z.tar", PREFIX) is None


class Growing(object):
    """A directory where an archive grows for a while, next to an older one of the same container."""

    def __init__(self, sizes):
        self.sizes = list(sizes)
        self.calls = 0

    def list(self, node, prefix):
        self.calls += 1
        size = self.sizes[min(self.calls, len(self.sizes)) - 1]
        old = [PREFIX + "2026-12-02T06:09:59Z.tar", 999, 1.0]
        files = [old] + ([[PREFIX + "2026-12-02T06:10:01Z.tar", size, float(size)]] if size is not None else [])
        # the node's clock runs 30 s behind this host's: ``since`` is moved onto it
        return {"now": T0 - 30 + self.calls, "files": files}


def _clock():
    ticks = iter(range(1000))
    return lambda: next(ticks)


def test_find_waits_until_the_new_archive_stops_growing():
    lister = Growing([None, 10, 20, 30, 30])
    name, size, _waited, others = node_archives.find(lister, "worker-0", PREFIX, T0 + 30, 100, sleep=lambda s: None,
                                                     clock=_clock(), now=lambda: T0 + lister.calls)
    assert (name, size, lister.calls, others) == (PREFIX + "2026-12-02T06:10:01Z.tar", 30, 5, [])


def test_find_gives_up_after_the_wait_and_ignores_older_archives():
    lister = Growing([None])
    assert node_archives.find(lister, "worker-0", PREFIX, T0 + 30, 3, sleep=lambda s: None, clock=_clock(),
                              now=lambda: T0 + lister.calls)[:2] == (None, None)


class Overlapping(object):
    """This request's archive (named 06:10:00, its dump still running) and another checkpoint of the
    same container started 4 s later that lands first."""

    def __init__(self):
        self.calls = 0

    def list(self, node, prefix):
        self.calls += 1
        later = [PREFIX + "2026-12-02T06:10:04Z.tar", 500, 5.0]
        mine = [[PREFIX + "2026-12-02T06:10:00Z.tar", 700, 9.0]] if self.calls >= 4 else []
        return {"now": T0 + self.calls, "files": [later] + mine}


def test_find_takes_this_requests_archive_not_a_later_one_that_landed_first():
    """The earlier behaviour took the newest name: the other checkpoint's, as soon as it settled."""
    lister = Overlapping()
    name, size, _waited, others = node_archives.find(lister, "worker-0", PREFIX, T0, 100, sleep=lambda s: None,
                                                     clock=_clock(), now=lambda: T0 + lister.calls)
    assert (name, size, lister.calls) == (PREFIX + "2026-12-02T06:10:00Z.tar", 700, 5)
    assert others == [PREFIX + "2026-12-02T06:10:04Z.tar"]
    # with only the later one there, nothing is taken, and the failure names it
    lister = Growing([None])
    lister.list = lambda node, prefix: {"now": T0, "files": [[PREFIX + "2026-12-02T06:10:04Z.tar", 500, 5.0]]}
    assert node_archives.find(lister, "worker-0", PREFIX, T0, 3, sleep=lambda s: None, clock=_clock(),
                              now=lambda: T0) == (None, None, 3, [PREFIX + "2026-12-02T06:10:04Z.tar"])
