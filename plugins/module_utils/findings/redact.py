# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Redaction of secret-looking environment values, so analysis output can be shared.

A variable whose *name* matches ``rules.SECRET_NAMES`` (KEY, SECRET, TOKEN, PASS, CREDENTIAL, any
case; the same names the ``secret.env-variable`` rule reports) is secret. Its value becomes ``<first 4 characters>...sha256:<hex>``: the SHA-256 of the whole
value (UTF-8) lets an investigator confirm a suspected value without the output revealing it;
values of 8 characters or fewer show no characters at all (4 would be half the secret or more).
Secrets travel: an attacker copying the environment into another variable (``LOOT=...``), a
command line or an annotation would carry them past a name check, so every occurrence of a secret
value (of at least 6 characters) in any other string is replaced the same way.

``SHAPES`` are the credential shapes redacted wherever they show in output, whoever found them,
taken from the secret rules' ``shape`` (findings/rules.py), so the two cannot drift apart:
the secret part of each (group ``v``) is replaced, even cut short by the edge of a context window.
``scrub_all`` is the one pass over a whole result (keys, values, lists) before it leaves a module.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import collections
import hashlib
import re

from ansible_collections.forensic.checkpoint.plugins.module_utils.findings.rules import BUILTIN_RULES, SECRET_NAMES

SECRET_NAME = re.compile(SECRET_NAMES)
SHOWN = 4
MIN_SHOWN_LENGTH = 9
MIN_SCRUB_LENGTH = 6
EDGE_PIECE = 8  # a known secret cut by a window edge: a piece this long at the edge is still redacted

# The shapes of the secret rules (findings/rules.py), each once: what a rule detects, redaction hides.
SHAPES = list(collections.OrderedDict((rule["shape"], None) for rule in BUILTIN_RULES if rule.get("shape")))
_COMPILED = [re.compile(shape) for shape in SHAPES]
_REDACTED = re.compile(r"[^\s]{0,4}\.\.\.sha256:[0-9a-f]{64}")
# Every shape holds one of its rule's literals (tests/.../findings/test_rules.py checks): a
# substring test on them rules out most strings (paths, names, states) at a few microseconds, where
# a regex search alone takes tens.


def _lowered(literals):
    return tuple(sorted(set(literal[4:].lower() if literal.startswith("(?i)") else literal.lower()
                            for literal in literals or ())))


_LITERALS = _lowered(literal for rule in BUILTIN_RULES for literal in rule.get("literals") or ())
# Each shape with its own rule's literals: a string holding "cred" (a warning about credentials)
# then runs the one shape that literal belongs to, not an alternation of all of them (170 us a
# string: 17 s for 50k pids).
_GUARDED = [(_lowered(rule.get("literals")), re.compile(rule["shape"])) for rule in BUILTIN_RULES if rule.get("shape")]


def _shaped(text):
    """Whether ``text`` may hold a credential shape."""
    low = text.lower()
    if not any(literal in low for literal in _LITERALS):
        return False
    return any((not literals or any(literal in low for literal in literals)) and pattern.search(text) is not None
               for literals, pattern in _GUARDED)


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
                out[name] = self.remember(value)
            else:
                out[name] = value
        return out

    @property
    def secrets(self):
        """The secret values seen so far."""
        return list(self._replacements)

    def remember(self, value):
        """Scrub ``value`` from now on; returns its redacted form."""
        redacted = redact_value(value)
        if len(value) >= MIN_SCRUB_LENGTH:
            self._replacements[value] = redacted
            self._pattern = None
        return redacted

    def scrub(self, text):
        """``text`` with every known secret value replaced by its redacted form."""
        if not text or not self._replacements:
            return text
        if self._pattern is None:
            # Longest first, so a secret that contains another is replaced whole.
            ordered = sorted(self._replacements, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(value) for value in ordered))
        return self._pattern.sub(lambda match: self._replacements[match.group(0)], text)


def shaped_values(text):
    """The secret parts of the credential shapes in ``text`` (not yet redacted)."""
    if not _shaped(text):
        return
    for pattern in _COMPILED:
        for match in pattern.finditer(text):
            start, end = match.span("v")
            if not (_REDACTED.match(text, start) or text.startswith("...sha256:", end)):
                yield match.group("v")


def scrub_shapes(text):
    """``text`` with the secret part of every credential shape redacted (already-redacted values
    are left alone, so the pass can run twice)."""
    if not _shaped(text):
        return text
    for pattern in _COMPILED:
        pieces, last = [], 0
        for match in pattern.finditer(text):
            start, end = match.span("v")
            if start < last or _REDACTED.match(text, start) or text.startswith("...sha256:", end):
                continue
            pieces.append(text[last:start])
            pieces.append(redact_value(text[start:end]))
            last = end
        if pieces:
            text = "".join(pieces) + text[last:]
    return text


def scrub_edges(text, secrets):
    """``text`` with a piece of a known secret cut by its start or end (a context window's edge)
    redacted: its start may begin inside a secret, its end stop inside one."""
    for secret in secrets:
        if text[:EDGE_PIECE] not in secret and text[-EDGE_PIECE:] not in secret:
            continue
        for size in range(min(len(secret), len(text)), EDGE_PIECE - 1, -1):
            if text.startswith(secret[-size:]):
                text = redact_value(secret) + text[size:]
                break
        for size in range(min(len(secret), len(text)), EDGE_PIECE - 1, -1):
            if text.endswith(secret[:size]):
                text = text[:len(text) - size] + redact_value(secret)
                break
    return text


MEMO_LENGTH = 256
MEMO_SIZE = 16384  # strings remembered by one pass (300k file names would all be, each distinct)
PIECE = 16  # a run this long of a known secret is the secret, wherever it shows


class _Pieces(object):
    """Finds every run of at least PIECE characters (the whole value if shorter) shared with a known
    secret: a file name ``k=<secret with / as _>`` or a cut context window still holds the secret."""

    def __init__(self, secrets):
        self.where = {}
        for secret in secrets:
            size = min(PIECE, len(secret))
            for offset in range(len(secret) - size + 1):
                self.where.setdefault(secret[offset:offset + size], []).append((secret, offset))
        ordered = sorted(self.where, key=len, reverse=True)
        self.pattern = re.compile("|".join(re.escape(piece) for piece in ordered)) if ordered else None

    def scrub(self, text):
        if self.pattern is None:
            return text
        pieces, last, match = [], 0, self.pattern.search(text)
        while match:
            start, end = match.span()
            secret, offset = self.where[match.group()][0]
            while end < len(text) and offset + end - start < len(secret) and text[end] == secret[offset + end - start]:
                end += 1  # the whole shared run
            pieces += [text[last:start], redact_value(secret)]
            last = end
            match = self.pattern.search(text, end)
        return "".join(pieces) + text[last:] if pieces else text


def seen_secrets(value, secrets=()):
    """``secrets`` and the shaped values in ``value`` long enough to be a secret (PIECE), longest first."""
    found = set(item for item in secrets if item and len(item) >= MIN_SCRUB_LENGTH)
    done = set()  # each once: keys and values repeat across processes (up to MEMO_SIZE of them)
    for text in _strings(value):
        if text in done:
            continue
        if len(done) < MEMO_SIZE:
            done.add(text)
        found.update(item for item in shaped_values(text) if len(item) >= PIECE)
    return sorted(found, key=len, reverse=True)


def scrub_all(value, secrets=(), shapes=True):
    """One pass over a whole result (dicts, lists, strings; keys too): every known secret value
    (``secrets``) whole, in part (PIECE characters) or cut by an edge, and (``shapes``) every
    credential shape redacted. A shaped value long enough to be a secret (PIECE) is then known too:
    the camelCase AWS key in a file is redacted in the file names that carry it."""
    known = seen_secrets(value, secrets) if shapes else sorted(set(secrets), key=len, reverse=True)
    runs = _Pieces(known)
    shaped = scrub_shapes if shapes else (lambda text: text)

    memo = {}  # short strings (keys, names, states) repeat across thousands of processes

    def clean(item):
        if isinstance(item, str):
            done = memo.get(item)
            if done is None:
                done = shaped(scrub_edges(runs.scrub(item), known)) if item else item
                if len(item) <= MEMO_LENGTH and len(memo) < MEMO_SIZE:
                    memo[item] = done
            # an equal string from the memo is not the same object: the dict holding it would be copied
            return item if done == item else done
        if isinstance(item, (list, tuple)):
            parts = [clean(part) for part in item]
            return item if _same(parts, item) else type(item)(parts)
        if isinstance(item, dict):
            pairs = [(clean(key), clean(part)) for key, part in item.items()]
            return item if all(new[0] is key and new[1] is part for new, (key, part) in zip(pairs, item.items())) \
                else dict(pairs)
        if hasattr(item, "scrub_rows"):  # rows made as they are read (FileRows): scrubbed as they are made
            item.scrub_rows(clean)  # in place, so that the dict holding it is not copied (100k processes)
        return item
    return clean(value)


def _same(new, old):
    """Whether nothing changed: a result is then the original (no copy of 50k processes held twice)."""
    return all(one is other for one, other in zip(new, old))


def _strings(value):
    """Every string in ``value`` (keys too), walked with a stack: nested generators re-yielded each
    string once per level (17M calls for 50k processes); a shared fd table's once, not once per
    process sharing it."""
    stack, tables = [value], set()
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            for key, part in item.items():
                if isinstance(key, str):
                    yield key
                stack.append(part)
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
        elif hasattr(item, "scrub_rows"):  # rows made as they are read (analysis/files.py FileRows)
            table = (type(item), id(item.fds))
            yield from item.texts(table not in tables)
            tables.add(table)
