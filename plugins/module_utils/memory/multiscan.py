# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Many named patterns over memory in one pass: literals, hex and regular expressions.

``compile_patterns`` builds one scanner for a set of ``Pattern``s; ``Scanner.scan`` runs it over
*runs* of memory, each ``(base address, chunks)`` holding bytes contiguous in the process's address
space (a run ends at a hole: nothing matches across runs). Chunks may be cut anywhere: a match is
found whole across chunk boundaries. Results are ``Hit``s in address order (ties: pattern order),
each pattern's matches leftmost and non-overlapping within a run, exactly as ``re.finditer`` over
the run gives them (literals: as repeated ``bytes.find``), within these bounds:

* a regex match longer than ``max_width`` (default 64 KiB) may be missed or reported cut;
* lookbehind sees at most ``LOOKBEHIND`` bytes before the block a match starts in (at least that
  many before any match), lookahead at least ``LOOKAHEAD`` bytes after ``max_width``;
* ``^``/``\\A`` and ``$``/``\\Z`` mean the start and end of the run;
* patterns that can match the empty string are refused (they would match everywhere).

Which backend serves which pattern (``Scanner.backends`` says, per pattern):

* ``hyperscan`` (exact): with the ``hyperscan`` package, every literal (as escaped bytes, so its
  matches are exact and need no confirmation) and every regex hyperscan compiles unchanged, all in
  ONE block-mode database scanned once per block. A regex whose longest match exceeds
  ``SOM_WIDTH`` and that has no required literal is compiled with ``HS_FLAG_SOM_LEFTMOST`` so the
  start of a candidate is known; the others take ``end - longest`` as the start bound (``re``
  skips to their literal fast). Python's ``re`` then confirms each regex candidate from that
  bound, for its exact ``finditer`` match and groups: ``re`` only ever runs where hyperscan, which
  is linear-time, already found a candidate.
* ``hyperscan-prefilter``: in the same database, as a superset of their matches that ``re``
  confirms. First choice, a regex's *anchors* (``anchors``: the few literals, MIN_ANCHOR bytes or
  more, one of which every match starts with; all the built-in secret rules have them), as
  literals: they compile in a millisecond where regexes take 3-25 ms each, and each is a candidate
  start that ``re.match`` confirms. Anchors found more than FLOOD times in a block (memory full
  of them) make that regex compiled instead and the block done again. Without anchors: regexes
  with lookaround, back references, atomic groups or possessive repeats (``HS_FLAG_PREFILTER``),
  and regexes with counted repeats above RELAX_ABOVE, which hyperscan is given open-ended
  (``{64,4096}`` compiles in seconds, ``{8,}`` in milliseconds).
* ``python``: regexes hyperscan cannot serve even as a prefilter (e.g. ``.{1,65536}``), and every
  pattern when hyperscan is not installed: ``bytes.find`` for literals; ``re`` for regexes, skipped
  for a block that lacks a literal every match of the regex must contain (its *required literal*),
  and tried only where an anchor occurs (``bytes.find``) when ``re`` cannot skip to them itself
  (ignoring case, or a character class, an alternation or a lookbehind first).

Hyperscan's database is compiled only when it pays: a scanner starts on the ``python`` path and
compiles once WARM_BYTES have been scanned (or at once when ``scan``'s ``size_hint`` says that many
will be), or as soon as a regex has spent WARM_TIME in ``re`` (that block is then done again on
hyperscan): a handful of small files costs no compile, a hostile regex still meets hyperscan.

Every ``re`` call is bounded by a time budget (``time_budget`` seconds; a SIGALRM timer on the
main thread), and each pattern's ``re`` time over a whole search by that plus RE_SECONDS_PER_MIB a
MiB scanned: a catastrophically backtracking regex fails with one line naming the pattern instead
of hanging, whether it stalls on one stretch or crawls over all of them. This engine imports nothing from Ansible.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import bisect
import collections
import re
import signal
import threading
import time

try:
    from re import _parser as sre_parse  # Python >= 3.11
except ImportError:  # pragma: no cover - older Pythons
    import sre_parse  # pylint: disable=deprecated-module

try:
    import hyperscan
    HAS_HYPERSCAN = True
except ImportError:  # pragma: no cover - exercised by forcing backend="python"
    hyperscan = None
    HAS_HYPERSCAN = False

from ansible_collections.forensic.checkpoint.plugins.module_utils.errors import CheckpointError

MAX_WIDTH = 64 << 10
LOOKBEHIND = 256
LOOKAHEAD = 256
SOM_WIDTH = 4096
MAX_MISSES = 32
BLOCK = 8 << 20
MAX_PATTERN = 64 << 10
MAX_CONTEXT = 64 << 10
# Seconds a single re call may take before its regex is declared catastrophic; and, so that a
# regex slow on every stretch cannot add up to hours, a pattern's re time over a whole search is held
# to TIME_BUDGET plus RE_SECONDS_PER_MIB per MiB scanned (re runs the built-in secret rules at ~5 ms
# a MiB: twenty times that is allowed), which keeps any search linear in the memory it reads.
TIME_BUDGET = 10.0
RE_SECONDS_PER_MIB = 0.1
TICK = 0.05
# Hyperscan's database costs 5-15 ms a pattern to compile; Python's re scans the built-in secret
# rules at ~5 ms a MiB. So a scanner starts on re and compiles once it has seen WARM_BYTES, or
# once a regex has spent WARM_TIME on re (a slow or hostile one: hyperscan is linear).
WARM_BYTES = 2 << 20
WARM_TIME = 0.1
# Anchors found in a block beyond FLOOD (and FLOOD per BLOCK scanned) make their regex compiled
# instead: re confirming each costs ~2 us, so hostile memory full of them costs at most ~4 ms a MiB.
FLOOD = 2048
# Hits held at once in a block beyond max_matches (or in all, without it): bounds memory.
HELD = 1 << 20
HELD_SLACK = 1 << 16

Hit = collections.namedtuple("Hit", "pattern start end data group context_start context")
Hit.__doc__ = """One match: ``pattern`` id, absolute ``start``/``end`` addresses, the matched ``data``,
``group`` (start, end) of the regex's first group when it took part (else None), and up to
``context`` bytes either side as ``context`` bytes starting at address ``context_start``."""


class Pattern(object):
    """A named pattern: exactly one of ``literal`` (bytes or text), ``hex`` (text) or ``regex``
    (bytes or text), optionally case-insensitive (ASCII folding, as ``re.IGNORECASE`` on bytes)."""

    def __init__(self, id, literal=None, hex=None, regex=None, ignore_case=False):  # pylint: disable=redefined-builtin
        self.id = id
        given = [kind for kind, value in (("literal", literal), ("hex", hex), ("regex", regex)) if value is not None]
        if len(given) != 1:
            raise CheckpointError(_name(id), "give exactly one of literal, hex or regex")
        self.ignore_case = bool(ignore_case)
        self.kind = given[0]
        if hex is not None:
            cleaned = re.sub(r"0x|\\x|[\s:,-]", "", hex, flags=re.IGNORECASE)
            try:
                literal = bytes.fromhex(cleaned)
            except ValueError:
                raise CheckpointError(_name(id), "not a sequence of hexadecimal bytes: %r" % hex[:80])
        if literal is not None:
            self.literal = _bytes(literal)
            if not 0 < len(self.literal) <= MAX_PATTERN:
                raise CheckpointError(_name(id), "must be 1 to %d bytes long" % MAX_PATTERN)
            self.source = re.escape(self.literal)
        else:
            self.literal = None
            self.source = _bytes(regex)
        try:
            self.regex = re.compile(self.source, re.IGNORECASE if self.ignore_case else 0)
            self.parsed = sre_parse.parse(self.source, re.IGNORECASE if self.ignore_case else 0)
            low, high = self.parsed.getwidth()
        except (re.error, OverflowError, RecursionError) as exc:
            raise CheckpointError(_name(id), "invalid regular expression (%s)" % str(exc).splitlines()[0])
        if low == 0:
            raise CheckpointError(_name(id), "matches the empty string, which would match everywhere")
        self.width = high


def _bytes(value):
    return value.encode("utf-8", "surrogateescape") if isinstance(value, str) else bytes(value)


def _name(pattern_id):
    return "pattern %s" % (pattern_id,)


def _parse(source, flags):
    try:
        return sre_parse.parse(source, flags)
    except (re.error, OverflowError, RecursionError):
        return None


def required_literal(source, flags=0, parsed=None):
    """The longest byte string every match of the regex ``source`` contains, or b"".

    Only literals in the top-level sequence and in plain groups count (not in alternatives,
    optional parts or repeats), so the answer is always safe to prefilter on.
    """
    parsed = parsed or _parse(source, flags)
    if parsed is None or (flags | parsed.state.flags) & re.IGNORECASE:
        return b""
    return _required(parsed)


# Anchors: at most this many prefixes, each at least MIN_ANCHOR bytes (shorter ones are found too
# often for a candidate loop in Python to beat re's own scan) and at most about MAX_ANCHOR (longer
# ones find no fewer candidates; a 64 KiB literal regex would cost quadratic time), from character
# classes of at most ANCHOR_CLASS characters.
MAX_ANCHORS = 64
MIN_ANCHOR = 3
MAX_ANCHOR = 32
ANCHOR_CLASS = 8
_ZERO_WIDTH = frozenset((sre_parse.AT, sre_parse.ASSERT, sre_parse.ASSERT_NOT))


def anchors(source, flags=0, parsed=None):
    """The byte strings one of which every match of the regex ``source`` starts with (lowercase
    when it ignores case: look for them in lowercased bytes), or None when there is no such small
    set of MIN_ANCHOR bytes or more. Every match then starts where one of them occurs, so a search
    need only try ``match`` there (``re`` cannot skip to a set of literals, an ignore-case one or
    one behind a lookbehind by itself: ``(?i)(?<![a-z])(?:token|secret)=`` costs it ~100 ns a byte)."""
    parsed = parsed or _parse(source, flags)
    if parsed is None or (flags | parsed.state.flags) & re.LOCALE:
        return None
    found = _prefixes(list(parsed))[0]
    if not found or min(len(prefix) for prefix in found) < MIN_ANCHOR:
        return None
    if (flags | parsed.state.flags) & re.IGNORECASE:
        found = set(prefix.lower() for prefix in found)
    return sorted(found)


def _prefixes(items):
    """(prefixes, exact) of a parsed sequence: a set of strings one of which every match starts
    with (None: unknown), and whether they are exactly the strings it matches."""
    found = set((b"",))
    for op, arg in items:
        if op in _ZERO_WIDTH:  # assertions consume nothing: the prefixes hold without them
            continue
        alternatives, exact = _item_prefixes(op, arg)
        if not alternatives:
            return (found if found != set((b"",)) else None), False
        found = set(prefix + more for prefix in found for more in alternatives)
        if len(found) > MAX_ANCHORS:
            return None, False
        if not exact or min(len(prefix) for prefix in found) >= MAX_ANCHOR:
            return found, False
    return found, True


def _item_prefixes(op, arg):
    if op == sre_parse.LITERAL:
        return set((bytes((arg,)),)), True
    if op == sre_parse.IN:
        chars = set()
        for kind, value in arg:
            if kind == sre_parse.LITERAL:
                chars.add(value)
            elif kind == sre_parse.RANGE and value[1] - value[0] < ANCHOR_CLASS:
                chars.update(range(value[0], value[1] + 1))
            else:  # a negation, a category or a wide range
                return None, False
        return (set(bytes((char,)) for char in chars), True) if len(chars) <= ANCHOR_CLASS else (None, False)
    if op == sre_parse.SUBPATTERN and not (arg[1] or arg[2]):  # a group without flags
        return _prefixes(list(arg[3]))
    if op == sre_parse.BRANCH:
        found, exact = set(), True
        for branch in arg[1]:
            prefixes, whole = _prefixes(list(branch))
            if not prefixes or b"" in prefixes:
                return None, False
            found |= prefixes
            exact = exact and whole
        return found, exact
    if op in (sre_parse.MAX_REPEAT, sre_parse.MIN_REPEAT) and arg[0] >= 1:
        return _prefixes(list(arg[2]))[0], False
    return None, False


def _required(parsed):
    best, current = b"", bytearray()
    for op, arg in list(parsed) + [(None, None)]:
        if op == sre_parse.LITERAL:
            current.append(arg)
            continue
        if len(current) > len(best):
            best = bytes(current)
        current = bytearray()
        if op == sre_parse.SUBPATTERN and not (arg[1] or arg[2]):  # a group without flags: look inside
            inner = _required(arg[3])
            if len(inner) > len(best):
                best = inner
    return best


class _Entry(object):
    """One compiled pattern and its state during a run."""

    __slots__ = ("index", "pattern", "width", "backend", "som", "required", "anchors", "starts", "resume", "done",
                 "spent", "misses")

    def __init__(self, index, pattern, max_width):
        self.index = index
        self.pattern = pattern
        self.width = min(pattern.width, max_width)
        self.backend = "python"
        self.som = False
        flags = re.IGNORECASE if pattern.ignore_case else 0
        literal = pattern.literal is not None
        self.required = b"" if literal else required_literal(pattern.source, flags, pattern.parsed)
        # Hyperscan finds a regex's anchors as literals (``starts``), whose database compiles in a
        # millisecond where the regexes take 3-25 ms each. On Python, re skips to a leading literal by
        # itself as fast as bytes.find would: anchors pay where it cannot (ignoring case, or a
        # character class, an alternation or a lookbehind first).
        self.starts = None if literal else anchors(pattern.source, flags, pattern.parsed)
        plain = not pattern.regex.flags & re.IGNORECASE and pattern.parsed[0][0] == sre_parse.LITERAL
        self.anchors = None if plain else self.starts
        self.resume = 0
        self.done = False
        self.spent = 0.0
        self.misses = 0  # candidates of this block re did not confirm


def _hs_risky(source):
    """Syntax Python's re and hyperscan (PCRE) read differently: those regexes stay in Python."""
    return re.search(br"\{,|\[:|\\[0-9]{2}|\(\?[aLu]|\\[ZG]", source) is not None


def _hs_database(chosen):
    """(database, table): ``table[id]`` is the (entry, anchor length or None) of each expression."""
    expressions, table = [], []
    for entry, (_backend, source, flags) in chosen:
        for one in (source if isinstance(source, list) else [source]):
            if isinstance(source, list):  # anchors, as escaped bytes: found exactly, at end - len
                expressions.append((b"".join(b"\\x%02x" % byte for byte in one), flags))
                table.append((entry, len(one)))
            else:
                expressions.append((one, flags))
                table.append((entry, None))
    database = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    database.compile(expressions=[source for source, _flags in expressions], ids=list(range(len(expressions))),
                     flags=[flags for _source, flags in expressions])
    return database, table


_BOUNDED = re.compile(br"\\.|\[(?:\\.|[^\]])*\]?|\{(\d+)(,(\d*))?\}", re.DOTALL)
RELAX_ABOVE = 8


def relax(source):
    """``source`` with every counted repeat above RELAX_ABOVE made open-ended (``{64,4096}`` ->
    ``{8,}``): a superset of the matches, which hyperscan compiles in milliseconds instead of
    seconds (the PEM rule's ``{64,4096}`` alone: 6 s). ``re`` confirms every candidate."""

    def one(match):
        if match.group(1) is None:  # an escape or a character class: as it is
            return match.group(0)
        low = int(match.group(1))
        high = low if match.group(2) is None else (int(match.group(3)) if match.group(3) else None)
        if high is not None and high <= RELAX_ABOVE:
            return match.group(0)
        return b"{%d,}" % min(low, RELAX_ABOVE)

    return _BOUNDED.sub(one, source)


# What hyperscan cannot compile as written: lookaround, back references, atomic and possessive.
_HS_UNSUPPORTED = frozenset(getattr(sre_parse, name) for name in (
    "ASSERT", "ASSERT_NOT", "GROUPREF", "GROUPREF_EXISTS", "ATOMIC_GROUP", "POSSESSIVE_REPEAT")
    if hasattr(sre_parse, name))


def _has_op(node, ops):
    """Whether the parsed regex ``node`` (or anything inside it) uses one of ``ops``."""
    if isinstance(node, sre_parse.SubPattern):
        return any(op in ops or _has_op(arg, ops) for op, arg in node)
    if isinstance(node, (tuple, list)):
        return any(_has_op(item, ops) for item in node)
    return False


def _hs_choices(entry):
    """[(backend, hyperscan source, flags)] to try for ``entry``, best first; [] for Python. A
    source may be a list: the regex's anchors, each its own literal expression."""
    pattern = entry.pattern
    base = hyperscan.HS_FLAG_CASELESS if pattern.ignore_case else 0
    if pattern.literal is not None:
        # Escaped bytes: one database holds literals and regexes together, and the match of an
        # escaped literal is exact, so its start is end - len without SOM.
        return [("hyperscan", b"".join(b"\\x%02x" % byte for byte in pattern.literal), base)]
    # Anchors (Python's own reading of the regex, so any syntax) confirmed by re where they occur:
    # a prefilter that compiles in no time. Too many of them in a block (hostile memory) and the
    # regex itself is compiled instead (see Scan._hyperscan).
    anchored = [("hyperscan-prefilter", entry.starts, hyperscan.HS_FLAG_CASELESS
                 if pattern.regex.flags & re.IGNORECASE else 0)] if entry.starts else []
    if _hs_risky(pattern.source):
        return anchored
    relaxed = relax(pattern.source)
    prefilter = ("hyperscan-prefilter", relaxed, base | hyperscan.HS_FLAG_PREFILTER)
    if _has_op(pattern.parsed, _HS_UNSUPPORTED):
        return anchored + [prefilter]  # no use trying to compile it as it is: each try costs milliseconds
    exact = "hyperscan" if relaxed == pattern.source else "hyperscan-prefilter"
    choices = [(exact, relaxed, base), prefilter]
    if pattern.width > SOM_WIDTH and not entry.required:
        choices.insert(0, (exact, relaxed, base | hyperscan.HS_FLAG_SOM_LEFTMOST))
    return anchored + choices


class Scanner(object):
    """Patterns compiled once; ``scan`` runs them over runs of memory (see the module docstring)."""

    def __init__(self, patterns, max_width=MAX_WIDTH, backend="auto"):
        if backend not in ("auto", "python"):
            raise ValueError("backend must be auto or python")
        ids = [pattern.id for pattern in patterns]
        if len(set(ids)) != len(ids):
            raise CheckpointError("patterns", "pattern ids must be unique")
        self.max_width = max_width
        self.entries = [_Entry(index, pattern, max_width) for index, pattern in enumerate(patterns)]
        # The longest match found whole (a literal is exact whatever its length).
        self.span = max([max_width] + [len(p.literal) for p in patterns if p.literal is not None])
        self.widest = max([entry.width for entry in self.entries] + [1])
        # Hyperscan's database is compiled only once the bytes scanned make it pay (see WARM_BYTES).
        self.database = self.table = None
        self.warming = backend == "auto" and HAS_HYPERSCAN and bool(self.entries)
        self.scanned = 0

    def compile(self):
        """Compile the hyperscan database now, if there is to be one."""
        if self.warming:
            self.warming = False
            self._build_database()

    @property
    def backends(self):
        """{pattern id: "hyperscan", "hyperscan-prefilter" or "python"} (compiles the database)."""
        self.compile()
        return dict((entry.pattern.id, entry.backend) for entry in self.entries)

    def _build_database(self):
        choices = dict((entry.index, _hs_choices(entry)) for entry in self.entries)
        chosen = [(entry, choices[entry.index][0]) for entry in self.entries if choices[entry.index]]
        try:
            database = _hs_database(chosen)
        except hyperscan.error:
            # Some pattern needs another choice (or Python): find which, one pattern at a time.
            chosen = []
            for entry in self.entries:
                for choice in choices[entry.index]:
                    try:
                        _hs_database([(entry, choice)])
                    except hyperscan.error:
                        continue
                    chosen.append((entry, choice))
                    break
            database = _hs_database(chosen) if chosen else None
        anchored = set(entry.index for entry, (_backend, source, _flags) in chosen if isinstance(source, list))
        for entry in self.entries:
            entry.backend, entry.som = "python", False
            if entry.index not in anchored:
                entry.starts = None  # its anchors are not in the database: nothing to gather for it
        for entry, (backend, _source, flags) in chosen:
            entry.backend, entry.som = backend, bool(flags & hyperscan.HS_FLAG_SOM_LEFTMOST)
        self.database, self.table = database if database is not None else (None, None)

    def unanchor(self, entries):
        """Compile the regexes of ``entries`` instead of their anchors, found too often."""
        for entry in entries:
            entry.starts = None
        self._build_database()

    def scan(self, runs, context=0, max_matches=None, max_bytes=None, time_budget=TIME_BUDGET, size_hint=None):
        """A ``Scan`` (an iterator of Hits) over ``runs``: [(base address, iterable of chunks)].

        ``context`` bytes (at most MAX_CONTEXT) each side come with every hit; the scan stops as
        ``truncated`` after ``max_matches`` hits or once hits and contexts hold ``max_bytes`` bytes.
        Stop early by not iterating further. ``size_hint``: the bytes the runs (and later scans)
        will hold, if known; above WARM_BYTES hyperscan starts at once.
        """
        if not 0 <= context <= MAX_CONTEXT:
            raise CheckpointError("context", "must be 0 to %d bytes" % MAX_CONTEXT)
        if size_hint is not None and size_hint > WARM_BYTES:
            self.compile()
        return Scan(self, runs, context, max_matches, max_bytes, time_budget)


def compile_patterns(patterns, max_width=MAX_WIDTH, backend="auto"):
    """One Scanner for ``patterns`` (Pattern objects with unique ids)."""
    return Scanner(list(patterns), max_width, backend)


class _Budget(object):
    """Python-regex time: ``seconds`` for any single ``re`` call (a linear regex scans a block in
    well under a second; one backtracking catastrophically never ends), and ``allowance()`` for
    each pattern's calls over the whole search. While a block is
    collected, a SIGALRM ticks every TICK seconds and interrupts the call running past it (the main
    thread only, and only when no other ITIMER_REAL is set). While ``warm`` (hyperscan not
    compiled yet), a pattern's re time in all is held to WARM_TIME: running past it raises _Warm,
    and the block is done again on hyperscan.
    """

    def __init__(self, seconds):
        self.seconds = seconds
        self.warm = False
        self.current = None
        self.started = 0.0
        self.previous = None
        self.scanned = 0  # bytes this search has scanned: the whole-search allowance grows with them
        self.spent = {}  # pattern index: its re seconds in this search

    def allowance(self):
        """A pattern's re seconds for the whole search so far."""
        return self.seconds + RE_SECONDS_PER_MIB * self.scanned / (1 << 20)

    def __enter__(self):
        if ((self.seconds is not None or self.warm) and hasattr(signal, "setitimer")
                and threading.current_thread() is threading.main_thread()
                and signal.getitimer(signal.ITIMER_REAL)[0] == 0):
            self.previous = signal.signal(signal.SIGALRM, self._tick)
            signal.setitimer(signal.ITIMER_REAL, TICK, TICK)
        return self

    def __exit__(self, *exc):
        if self.previous is not None:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self.previous)
            self.previous = None

    def _tick(self, _signum, _frame):
        entry = self.current
        if entry is None:
            return
        elapsed = time.perf_counter() - self.started
        if self.warm and entry.spent + elapsed > WARM_TIME:
            raise _Alarm()
        if self.seconds is not None and (elapsed > self.seconds
                                         or self.spent.get(entry.index, 0.0) + elapsed > self.allowance()):
            raise _Alarm()

    def run(self, entry, call, *args):
        if self.warm and entry.spent > WARM_TIME:
            raise _Warm()
        self.current, self.started = entry, time.perf_counter()
        try:
            result = call(*args)
        except _Alarm:
            if self.warm:
                raise _Warm()
            raise self._over(entry, time.perf_counter() - self.started > self.seconds)
        finally:
            self.current = None
            elapsed = time.perf_counter() - self.started
            entry.spent += elapsed
            self.spent[entry.index] = self.spent.get(entry.index, 0.0) + elapsed
        # Checked here too: without the timer (another one set, not the main thread) short calls
        # would add up without end.
        if self.seconds is not None and not self.warm and self.spent[entry.index] > self.allowance():
            raise self._over(entry, False)
        return result

    def _over(self, entry, one_call):
        where = ("%g s on one stretch of memory" % self.seconds if one_call
                 else "%.3g s in all on %.3g MiB of memory" % (self.allowance(), self.scanned / float(1 << 20)))
        return CheckpointError(_name(entry.pattern.id), "regular expression %r took over %s (catastrophic "
                               "backtracking?); simplify it" % (entry.pattern.source.decode("latin-1")[:80], where))


class _Alarm(Exception):
    """The SIGALRM tick found the running regex over its budget."""


class _Warm(Exception):
    """A regex ran past WARM_TIME before hyperscan was compiled."""


class Scan(object):
    """Iterator of Hits over runs; ``truncated``, ``count`` and ``stored`` (bytes) when done."""

    def __init__(self, scanner, runs, context, max_matches, max_bytes, time_budget):
        self.scanner = scanner
        self.context = context
        self.max_matches = max_matches
        self.max_bytes = max_bytes
        self.budget = _Budget(time_budget)
        self.truncated = False
        self.count = 0
        self.stored = 0
        self._hits = self._generate(runs)

    def __iter__(self):
        return self

    def __next__(self):
        return next(self._hits)

    next = __next__

    def _generate(self, runs):
        scanner = self.scanner
        # Bytes kept after the owned part of a block (the longest match, plus lookahead or context)
        # and before it (lookbehind or context).
        after = scanner.span + max(LOOKAHEAD, self.context)
        before = max(LOOKBEHIND, self.context)
        for base, chunks in runs:
            for entry in scanner.entries:
                entry.resume = base
            data, data_base = b"", base  # the carried-over tail, from address data_base
            own = 0  # data[own:] is not yet owned by a scanned block
            pending, size = [], 0  # chunks not yet joined to data
            for chunk in chunks:
                pending.append(chunk)
                size += len(chunk)
                if len(data) + size - own < BLOCK + after:
                    continue
                data, pending, size = _joined(data, pending), [], 0
                stop = len(data) - after
                yield from self._block(_Block(data, data_base, base, own, stop, False))
                if self.truncated:
                    return
                keep = max(0, stop - before)
                data = bytes(data[keep:])
                data_base += keep
                own = stop - keep
            data = _joined(data, pending)
            if len(data) > own:
                yield from self._block(_Block(data, data_base, base, own, len(data), True))
                if self.truncated:
                    return

    def _block(self, block):
        """Hits starting in the block's owned bytes, in address order, within the caps."""
        remaining = None if self.max_matches is None else self.max_matches - self.count
        # Hits are gathered per block, then sorted: a cap bounds how many are held at once.
        block.threshold = (remaining if remaining is not None else HELD) + HELD_SLACK
        with self.budget:
            self._collect(block)
        if block.cutoff < block.stop:
            self.truncated = True  # a cap was reached inside the block
        data, data_base, entries = block.data, block.base, self.scanner.entries
        for start, index, end, group in block.hits:
            if remaining is not None and self.count >= self.max_matches:
                self.truncated = True
                return
            low = max(0, start - self.context, block.run_base - data_base)
            high = min(len(data), end + self.context)
            self.stored += (end - start) + (high - low)
            if self.max_bytes is not None and self.stored > self.max_bytes:
                self.truncated = True
                return
            self.count += 1
            yield Hit(entries[index].pattern.id, data_base + start, data_base + end, bytes(data[start:end]),
                      None if group is None else (data_base + group[0], data_base + group[1]),
                      data_base + low, bytes(data[low:high]))

    def _collect(self, block):
        """The block's hits into block.hits, sorted, at most block.threshold of them; hyperscan
        compiled first when the bytes scanned reach WARM_BYTES, or when a regex on Python runs
        past WARM_TIME (the block is then done again)."""
        scanner = self.scanner
        if scanner.warming and scanner.scanned + block.stop - block.own > WARM_BYTES:
            scanner.compile()
        self.budget.warm = scanner.warming
        self.budget.scanned += block.stop - block.own
        if scanner.warming:
            resumes, threshold = [entry.resume for entry in scanner.entries], block.threshold
            try:
                self._collect_once(block)
            except _Warm:
                for entry, resume in zip(scanner.entries, resumes):
                    entry.resume = resume
                del block.hits[:]
                block.cutoff, block.threshold = block.stop, threshold
                scanner.compile()
                self.budget.warm = False
                self._collect_once(block)
        else:
            self._collect_once(block)
        scanner.scanned += block.stop - block.own

    def _collect_once(self, block):
        entries = self.scanner.entries
        for entry in entries:
            entry.done, entry.misses = False, 0
        pending = entries
        if self.scanner.database is not None:
            resumes = [entry.resume for entry in entries]
            outcome = self._hyperscan(block)
            if outcome is True:  # Python finishes what hyperscan did not: regexes it left out, anchors
                pending = [entry for entry in entries if entry.backend == "python" or entry.index in block.candidates]
            else:
                for entry, resume in zip(entries, resumes):
                    entry.resume, entry.done = resume, False
                del block.hits[:]
                block.cutoff, block.candidates = block.stop, None
                if outcome:  # anchors found too often: their regexes compiled, the block done again
                    self.scanner.unanchor(outcome)
                    return self._collect_once(block)
                # else matches out of end order (never seen): the Python path is always right
        held = block.threshold
        block.trim(held)
        for entry in pending:
            if entry.done:
                continue
            block.threshold = len(block.hits) + held
            if entry.pattern.literal is not None:
                self._find_literal(entry, block)
            elif (_gathered(entry, block) or not entry.required
                  or block.data.find(entry.required, max(0, block.own - LOOKBEHIND)) >= 0):
                self._confirm(entry, block, None, None)
            block.trim(held)

    def _hyperscan(self, block):
        """One hyperscan pass over the block, confirming candidates as they come, but for anchors:
        their candidates are gathered in ``block.candidates`` for re to confirm after. True, or
        False if the matches did not come in end order per pattern, or the entries whose anchors
        were found more than FLOOD times."""
        database, table = self.scanner.database, self.scanner.table
        last = [0] * len(self.scanner.entries)
        state = {"disorder": False}
        errors, flooded = [], []
        candidates = block.candidates = {}
        flood = FLOOD * (block.stop - block.own) // BLOCK + FLOOD

        def on_match(expression, start, end, _flags, _context):
            entry, anchor = table[expression]
            if anchor is not None:
                first = end - anchor
                if first >= block.own and block.base + first >= entry.resume:
                    found = candidates.setdefault(entry.index, [])
                    found.append(first)
                    if len(found) > flood:
                        flooded.append(entry)
                        return True
                return None
            index = entry.index
            if entry.done or block.base + end <= entry.resume:
                return None
            if end < last[index]:
                state["disorder"] = True
                return True
            last[index] = end
            try:
                self._confirm(entry, block, start, end)
            except Exception as exc:  # pylint: disable=broad-except
                errors.append(exc)  # raised once hyperscan has returned
                return True
            if block.full():
                block.cutoff = min(block.cutoff, end - self.scanner.widest)
                return True
            return None

        try:
            database.scan(block.data, match_event_handler=on_match)
        except hyperscan.ScanTerminated:
            pass
        if errors:
            raise errors[0]
        if flooded:
            return flooded
        for index, found in candidates.items():  # anchors of different lengths end out of start order
            candidates[index] = sorted(set(found))
        return not state["disorder"]

    def _confirm(self, entry, block, start, end):
        """Matches of ``entry`` from a candidate ending at ``end`` (None: anywhere) on, until one
        reaches ``end``; records those the block owns."""
        pattern = entry.pattern
        data_base, hits = block.base, block.hits
        if pattern.literal is not None:  # exact: the match is [end - len, end)
            first = end - len(pattern.literal)
            if first >= block.cutoff:
                entry.done = True
            elif first >= block.own and data_base + first >= entry.resume:
                entry.resume = data_base + end
                hits.append((first, entry.index, end, None))
            return
        bound = max(block.own, entry.resume - data_base)
        if end is not None:
            bound = max(bound, start if entry.som else end - entry.width)
        regex = pattern.regex
        # A candidate's match starts by ``end`` and is at most ``width`` long: it is searched for up
        # to there (and LOOKAHEAD more, its lookahead's view), not to the end of the block, which
        # each candidate re does not confirm (a prefilter's, or one the previous block owns) cost.
        # Past MAX_MISSES of those in a block, one search to its end settles the rest at once.
        window = last = None
        if end is not None and entry.misses < MAX_MISSES:
            window, last = min(len(block.data), end + entry.width + LOOKAHEAD), end
        while not block.full():
            if entry.anchors is not None:
                match = self.budget.run(entry, _anchored, entry, block, bound, last, window)
            else:
                match = self.budget.run(entry, regex.search, block.data, bound, *(() if window is None else (window,)))
            if window is not None and (match is None or match.start() > end):
                # No match starts by ``end``: a later one has its own candidate.
                entry.misses += 1
                entry.resume = max(entry.resume, data_base + end + 1)
                return
            if match is None or match.start() >= block.cutoff or match.end() > block.limit:
                # Nothing more this block owns: the next block, holding what follows, goes on.
                entry.done = True
                return
            entry.resume = data_base + match.end()
            group = match.span(1) if regex.groups and match.start(1) >= 0 else None
            hits.append((match.start(), entry.index, match.end(), group))
            if end is None and block.full():
                block.cutoff = min(block.cutoff, match.start() + 1)
            if end is not None and match.end() >= end:
                return
            bound = match.end()

    def _find_literal(self, entry, block):
        literal, data = entry.pattern.literal, block.data
        if entry.pattern.ignore_case:
            data, literal = data.lower(), literal.lower()  # ASCII folding, as re.IGNORECASE on bytes
        index = data.find(literal, max(block.own, entry.resume - block.base))
        while 0 <= index < block.cutoff and index + len(literal) <= block.limit:
            block.hits.append((index, entry.index, index + len(literal), None))
            entry.resume = block.base + index + len(literal)
            if block.full():
                block.cutoff = min(block.cutoff, index + 1)
                return
            index = data.find(literal, index + len(literal))
        entry.done = True


def _gathered(entry, block):
    """Whether hyperscan gathered the block's candidates of ``entry`` (its anchors)."""
    return block.candidates is not None and entry.starts is not None


def _anchored(entry, block, pos, last=None, endpos=None):
    """``entry.pattern.regex.search(block.data, pos, endpos)`` for a regex with anchors, when the
    match must start by ``last`` (None: anywhere): ``match`` tried only where an anchor occurs."""
    data, regex = block.data, entry.pattern.regex
    endpos = len(data) if endpos is None else endpos
    if _gathered(entry, block):  # hyperscan found the anchors: their starts, in order
        found = block.candidates.get(entry.index, ())
        for start in found[bisect.bisect_left(found, pos):]:
            match = regex.match(data, start, endpos)
            if match is not None:
                return match
        return None
    # Where an anchor may occur: in the block, or in the candidate's window only.
    stop = endpos if last is None else min(endpos, last + max(len(anchor) for anchor in entry.anchors))
    text, offset = data, 0
    if regex.flags & re.IGNORECASE:  # (inline (?i) too) anchors are lowercase: look in lowercased bytes
        if last is None:
            if block.folded is None:
                block.folded = data.lower()
            text = block.folded
        else:
            text, offset = data[pos:stop].lower(), pos
    found = dict((anchor, text.find(anchor, pos - offset, stop - offset)) for anchor in entry.anchors)
    while True:
        start = min([where for where in found.values() if where >= 0] or [-1])
        if start < 0 or (last is not None and start + offset > last):
            return None
        match = regex.match(data, start + offset, endpos)
        if match is not None:
            return match
        for anchor, where in found.items():
            if where == start:
                found[anchor] = text.find(anchor, start + 1, stop - offset)


def _joined(data, chunks):
    """``data`` followed by ``chunks``, as bytes or a bytearray: one copy, or none for a lone
    bytes or bytearray chunk (a caller's reused buffer is only read until the block's hits are out)."""
    if not data and len(chunks) == 1 and isinstance(chunks[0], (bytes, bytearray)):
        return chunks[0]
    return b"".join([data] + chunks)


class _Block(object):
    """``data`` (from address ``base``) whose bytes [own, stop) a scan owns: hits start there."""

    __slots__ = ("data", "base", "run_base", "own", "stop", "limit", "hits", "cutoff", "threshold", "folded",
                 "candidates")

    def __init__(self, data, base, run_base, own, stop, final):
        self.data, self.base, self.run_base, self.own, self.stop = data, base, run_base, own, stop
        # In a block that is not the run's last, a match reaching into the last LOOKAHEAD bytes may be cut.
        self.limit = len(data) if final else len(data) - LOOKAHEAD
        self.hits = []  # (start, entry index, end, group span)
        self.cutoff = stop  # hits starting before it are all known
        self.threshold = HELD
        self.folded = None  # data.lower(), made once for the case-insensitive anchors that need it
        self.candidates = None  # {entry index: sorted starts of its anchors}, when hyperscan found them

    def full(self):
        return len(self.hits) >= self.threshold

    def trim(self, held):
        """Keep the first ``held`` hits by address; those after the cutoff are unknown."""
        self.hits.sort()
        if len(self.hits) > held:
            self.cutoff = min(self.cutoff, self.hits[held][0])
        while self.hits and self.hits[-1][0] >= self.cutoff:
            self.hits.pop()
