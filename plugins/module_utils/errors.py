# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The project's error types: one line, naming the file or object and what is wrong.

Modules turn these into ``fail_json(msg=str(err))``; anything else escaping a module is a bug.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class CheckpointError(Exception):
    """An expected failure with a message fit to show a user as it is."""

    def __init__(self, subject, problem):
        self.subject = subject
        self.problem = problem
        super(CheckpointError, self).__init__("%s: %s" % (subject, problem))


class ArchiveError(CheckpointError):
    """The archive itself cannot be read: missing, not a tar, truncated, corrupt."""


class ImageError(CheckpointError):
    """A CRIU image inside an archive is missing, truncated or undecodable."""


class MissingDependency(CheckpointError):
    """A library the requested work needs is not installed."""


def unexpected(exc):
    """The one-line problem for an exception no layer expected (a bug meeting a hostile input)."""
    return "cannot be processed (unexpected %s: %s)" % (type(exc).__name__, str(exc)[:300])
