# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one escaping of attacker-controlled text before anyone reads it.

Names and contents come from the evidence: a newline forges a line of output, ``ESC[2J`` clears
the terminal Ansible prints warnings to, a bidi override (U+202E) makes a name read backwards.
Every C0/C1 control, DEL, format character (bidi controls, zero-width characters), line or
paragraph separator and undecodable byte (a surrogate from ``surrogateescape``) becomes a visible
escape; the rest is left as it is.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
import unicodedata

# Categories that never print as themselves: controls, format (bidi, zero-width), surrogates,
# line/paragraph separators, unassigned.
_HIDDEN = set(("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"))
_SUSPECT = re.compile(u"[^\x20-\x7e]")


def _escape_char(ch, keep_newlines):
    if ch == "\n" and keep_newlines:
        return ch
    if ch == "\t":
        return "\\t" if not keep_newlines else ch
    if unicodedata.category(ch) not in _HIDDEN:
        return ch
    code = ord(ch)
    if 0xDC80 <= code <= 0xDCFF:  # an undecodable byte kept by surrogateescape
        return "\\x%02x" % (code - 0xDC00)
    if code == 0x0A:
        return "\\n"
    if code <= 0xFF:
        return "\\x%02x" % code
    return "\\u%04x" % code if code <= 0xFFFF else "\\U%08x" % code


def escape(text, keep_newlines=False):
    """``text`` safe to show on one line (``keep_newlines``: newlines and tabs kept, for a
    multi-line text shown as such); non-text values are returned unchanged."""
    if not isinstance(text, str):
        return text
    return _SUSPECT.sub(lambda match: _escape_char(match.group(), keep_newlines), text)
