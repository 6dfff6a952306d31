# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Redaction of secret-looking environment values, so analysis output can be shared.

A variable whose *name* contains KEY, SECRET, TOKEN, PASSWORD, PASSWD or CREDENTIAL (any case)
is secret. Its value becomes ``<first 4 characters>...sha256:<hex>``: the SHA-256 of the whole
value (UTF-8) lets an investigator confirm a suspected value without the output revealing it;
values of 8 characters or fewer show no characters at all (4 would be half the secret or more).
Secrets travel: an attacker copying the environment into another variable (``LOOT=...``), a
command line or an annotation would carry them past a name check, so every occurrence of a secret
value (of at least 6 characters) in any other string is replaced the same way.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import re

SECRET_NAME = re.compile(r"KEY|SECRET|TOKEN|PASSWORD|PASSWD|CREDENTIAL", re.IGNORECASE)
SHOWN = 4
MIN_SHOWN_LENGTH = 9
MIN_SCRUB_LENGTH = 6


def is_secret_name(name):
    return bool(SECRET_NAME.search(name))


def redact_value(value):
    """The documented redacted form of one secret value."""
    digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()
    shown = value[:SHOWN] if len(value) >= MIN_SHOWN_LENGTH else ""
    return "%s...sha256:%s" % (shown, digest)


class Redactor(object):
    """Collects secret values from environments, then scrubs them from everything else."""

    def __init__(self):
        self._replacements = {}
        self._pattern = None

    def redact_env(self, env):
        """``env`` with secret-named values redacted (their values remembered for scrub)."""
        out = {}
        for name, value in env.items():
            if value and is_secret_name(name):
                out[name] = redact_value(value)
                if len(value) >= MIN_SCRUB_LENGTH:
                    self._replacements[value] = out[name]
                    self._pattern = None
            else:
                out[name] = value
        return out

    def scrub(self, text):
        """``text`` with every known secret value replaced by its redacted form."""
        if not text or not self._replacements:
            return text
        if self._pattern is None:
            # Longest first, so a secret that contains another is replaced whole.
            ordered = sorted(self._replacements, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(value) for value in ordered))
        return self._pattern.sub(lambda match: self._replacements[match.group(0)], text)
