# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""gzip byte-for-byte as Go's ``compress/gzip`` writes it at ``BestCompression``.

butane embeds file contents as ``gzip`` + base64 when that is shortest, so a MachineConfig that
is to match butane's output exactly needs Go's deflate, not zlib's: Go has its own matcher
(4-byte minimum matches, 17-bit hash, lazy matching with level 9's good/lazy/nice/chain =
32/258/258/4096), its own length-limited Huffman construction, its own choice between stored,
fixed and dynamic blocks, and it always ends the stream with an empty stored block. The header
is fixed: no name, mtime 0, XFL 2 (best compression), OS 255 (unknown).

Pure Python, meant for configuration files (kilobytes), not for bulk data.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import bisect
import struct
import zlib

GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"

WINDOW_SIZE = 1 << 15
WINDOW_MASK = WINDOW_SIZE - 1
MIN_MATCH = 4  # Go never emits 3-byte matches
MAX_MATCH = 258
MAX_BLOCK_TOKENS = 1 << 14
MAX_STORED = 65535
HASH_SHIFT = 32 - 17
HASH_MASK = (1 << 17) - 1
HASH_MUL = 0x1E35A7BD
MAX_HASH_OFFSET = 1 << 24
MAX_INT32 = (1 << 31) - 1
GOOD, LAZY, NICE, CHAIN = 32, 258, 258, 4096  # level 9

END_BLOCK = 256
MATCH_FLAG = 1 << 30  # a token at or above this is a match: flag | (length-3) << 22 | (offset-1)
NUM_LITERALS = 286
NUM_OFFSETS = 30

# RFC 1951 tables, in "extra" form: code index -> (base of length-3 or offset-1, extra bits).
LENGTH_BASE = (0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 14, 16, 20, 24, 28, 32, 40, 48, 56,
               64, 80, 96, 112, 128, 160, 192, 224, 255)
LENGTH_EXTRA = (0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3,
                4, 4, 4, 4, 5, 5, 5, 5, 0)
OFFSET_BASE = (0, 1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768,
               1024, 1536, 2048, 3072, 4096, 6144, 8192, 12288, 16384, 24576)
OFFSET_EXTRA = (0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8,
                9, 9, 10, 10, 11, 11, 12, 12, 13, 13)
CODEGEN_ORDER = (16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15)


def _length_code_table():
    table = [0] * 256
    for code, base in enumerate(LENGTH_BASE):  # later codes win: 255 belongs to the last one
        for xlength in range(base, min(base + (1 << LENGTH_EXTRA[code]), 256)):
            table[xlength] = code
    return table


LENGTH_CODE = _length_code_table()


def _offset_code(xoffset):
    return bisect.bisect_right(OFFSET_BASE, xoffset) - 1


def _reverse(code, nbits):
    return int("{0:0{1}b}".format(code, nbits)[::-1], 2) if nbits else 0


class Huffman(object):
    """Code lengths and (bit-reversed) codes for one alphabet, built the way Go builds them."""

    def __init__(self, lengths, codes=None):
        self.lengths = lengths
        self.codes = codes if codes is not None else [0] * len(lengths)

    @classmethod
    def fixed_literals(cls):
        lengths = [8] * 144 + [9] * 112 + [7] * 24 + [8] * 6
        starts = {8: 48, 9: 400 - 144, 7: -256}
        codes = []
        for symbol, nbits in enumerate(lengths):
            base = 192 - 280 if symbol >= 280 else starts[nbits]
            codes.append(_reverse(symbol + base, nbits))
        return cls(lengths, codes)

    @classmethod
    def fixed_offsets(cls):
        return cls([5] * NUM_OFFSETS, [_reverse(i, 5) for i in range(NUM_OFFSETS)])

    @classmethod
    def build(cls, freq, max_bits):
        enc = cls([0] * len(freq))
        used = [(f, symbol) for symbol, f in enumerate(freq) if f]
        if len(used) <= 2:
            # Go gives one or two symbols 1-bit codes in symbol order.
            for code, (_f, symbol) in enumerate(used):
                enc.lengths[symbol] = 1
                enc.codes[symbol] = code
            return enc
        used.sort()
        counts = _bit_counts([f for f, _s in used], max_bits)
        code = 0
        remaining = used
        for nbits, count in enumerate(counts):
            code <<= 1
            if nbits == 0 or count == 0:
                continue
            # The `count` most frequent symbols left get `nbits` bits, codes in symbol order.
            chunk = sorted(symbol for _f, symbol in remaining[len(remaining) - count:])
            for symbol in chunk:
                enc.lengths[symbol] = nbits
                enc.codes[symbol] = _reverse(code, nbits)
                code += 1
            remaining = remaining[:len(remaining) - count]
        return enc

    def bit_length(self, freq):
        return sum(f * self.lengths[i] for i, f in enumerate(freq) if f)


def _bit_counts(freqs, max_bits):
    """How many symbols get each code length (index = bits), by boundary package-merge.

    ``freqs`` is sorted ascending and has at least 3 entries. This follows the level-by-level
    lazy construction Go uses, so ties resolve exactly as Go resolves them.
    """
    n = len(freqs)
    freqs = freqs + [MAX_INT32]
    max_bits = min(max_bits, n - 1)
    top = max_bits + 2
    last = [0] * top
    next_char = [0] * top
    next_pair = [0] * top
    needed = [0] * top
    # leaves[level][j]: literals left of the level-j ancestor of the rightmost node at `level`.
    leaves = [[0] * top for _level in range(top)]
    for level in range(1, max_bits + 1):
        last[level] = freqs[1]
        next_char[level] = freqs[2]
        next_pair[level] = MAX_INT32 if level == 1 else freqs[0] + freqs[1]
        leaves[level][level] = 2
    needed[max_bits] = 2 * n - 4

    level = max_bits
    while True:
        if next_pair[level] == MAX_INT32 and next_char[level] == MAX_INT32:
            needed[level] = 0
            next_pair[level + 1] = MAX_INT32
            level += 1
            continue
        previous = last[level]
        if next_char[level] < next_pair[level]:
            taken = leaves[level][level] + 1
            last[level] = next_char[level]
            leaves[level][level] = taken
            next_char[level] = freqs[taken]
        else:
            last[level] = next_pair[level]
            leaves[level][:level] = leaves[level - 1][:level]
            needed[level - 1] = 2
        needed[level] -= 1
        if needed[level] == 0:
            if level == max_bits:
                break
            next_pair[level + 1] = previous + last[level]
            level += 1
        else:
            while needed[level - 1] > 0:
                level -= 1

    counts = [0] * (max_bits + 1)
    top_leaves = leaves[max_bits]
    for bits, level in enumerate(range(max_bits, 0, -1), start=1):
        counts[bits] = top_leaves[level] - top_leaves[level - 1]
    return counts


FIXED_LITERALS = Huffman.fixed_literals()
FIXED_OFFSETS = Huffman.fixed_offsets()


class BitWriter(object):
    """LSB-first bit stream, as DEFLATE wants it."""

    def __init__(self):
        self.out = bytearray()
        self.bits = 0
        self.nbits = 0

    def write(self, value, nbits):
        self.bits |= value << self.nbits
        self.nbits += nbits
        while self.nbits >= 8:
            self.out.append(self.bits & 0xFF)
            self.bits >>= 8
            self.nbits -= 8

    def align(self):
        if self.nbits:
            self.out.append(self.bits & 0xFF)
        self.bits = self.nbits = 0

    def stored_header(self, length, final):
        self.write(1 if final else 0, 3)
        self.align()
        self.write(length, 16)
        self.write(length ^ 0xFFFF, 16)

    def block(self, tokens, data):
        """One non-final block of ``tokens``, the smallest of fixed, dynamic and stored."""
        tokens = tokens + [END_BLOCK]
        lit_freq = [0] * NUM_LITERALS
        off_freq = [0] * NUM_OFFSETS
        for token in tokens:
            if token < MATCH_FLAG:
                lit_freq[token] += 1
            else:
                lit_freq[257 + LENGTH_CODE[(token >> 22) & 0xFF]] += 1
                off_freq[_offset_code(token & 0x3FFFFF)] += 1
        num_lit = max(i for i, f in enumerate(lit_freq) if f) + 1
        used_offsets = [i for i, f in enumerate(off_freq) if f]
        if used_offsets:
            num_off = used_offsets[-1] + 1
        else:
            off_freq[0] = 1  # Go counts a phantom offset so the offset tree can be written
            num_off = 1
        literals = Huffman.build(lit_freq, 15)
        offsets = Huffman.build(off_freq, 15)

        extra = 0
        storable = data is not None and len(data) <= MAX_STORED
        if storable:
            extra = sum(lit_freq[257 + c] * LENGTH_EXTRA[c] for c in range(8, num_lit - 257))
            extra += sum(off_freq[c] * OFFSET_EXTRA[c] for c in range(4, num_off))
        size = 3 + FIXED_LITERALS.bit_length(lit_freq) + FIXED_OFFSETS.bit_length(off_freq) + extra

        codegen, cg_freq = _codegen(literals.lengths[:num_lit] + offsets.lengths[:num_off])
        cg_enc = Huffman.build(cg_freq, 7)
        num_cg = 19
        while num_cg > 4 and cg_freq[CODEGEN_ORDER[num_cg - 1]] == 0:
            num_cg -= 1
        dynamic = (17 + 3 * num_cg + cg_enc.bit_length(cg_freq) + cg_freq[16] * 2 + cg_freq[17] * 3
                   + cg_freq[18] * 7 + literals.bit_length(lit_freq) + offsets.bit_length(off_freq) + extra)

        lit_enc, off_enc = FIXED_LITERALS, FIXED_OFFSETS
        if dynamic < size:
            size = dynamic
            lit_enc, off_enc = literals, offsets
        if storable and (len(data) + 5) * 8 < size:
            self.stored_header(len(data), False)
            self.out += data
            return
        if lit_enc is FIXED_LITERALS:
            self.write(2, 3)
        else:
            self.write(4, 3)
            self.write(num_lit - 257, 5)
            self.write(num_off - 1, 5)
            self.write(num_cg - 4, 4)
            for i in range(num_cg):
                self.write(cg_enc.lengths[CODEGEN_ORDER[i]], 3)
            for symbol, extra_bits, value in codegen:
                self.write(cg_enc.codes[symbol], cg_enc.lengths[symbol])
                if extra_bits:
                    self.write(value, extra_bits)
        self._tokens(tokens, lit_enc, off_enc)

    def _tokens(self, tokens, lit_enc, off_enc):
        for token in tokens:
            if token < MATCH_FLAG:
                self.write(lit_enc.codes[token], lit_enc.lengths[token])
                continue
            xlength = (token >> 22) & 0xFF
            code = LENGTH_CODE[xlength]
            self.write(lit_enc.codes[257 + code], lit_enc.lengths[257 + code])
            if LENGTH_EXTRA[code]:
                self.write(xlength - LENGTH_BASE[code], LENGTH_EXTRA[code])
            xoffset = token & 0x3FFFFF
            code = _offset_code(xoffset)
            self.write(off_enc.codes[code], off_enc.lengths[code])
            if OFFSET_EXTRA[code]:
                self.write(xoffset - OFFSET_BASE[code], OFFSET_EXTRA[code])


def _codegen(lengths):
    """RFC 1951 run-length coding of the code lengths, with Go's run splitting.

    Returns [(symbol, extra bits, extra value)] and the frequency of each of the 19 symbols.
    """
    out = []
    freq = [0] * 19
    i = 0
    while i < len(lengths):
        size = lengths[i]
        run = 1
        while i + run < len(lengths) and lengths[i + run] == size:
            run += 1
        i += run
        if size:
            out.append((size, 0, 0))
            freq[size] += 1
            run -= 1
            while run >= 3:
                n = min(run, 6)
                out.append((16, 2, n - 3))
                freq[16] += 1
                run -= n
        else:
            while run >= 11:
                n = min(run, 138)
                out.append((18, 7, n - 11))
                freq[18] += 1
                run -= n
            if run >= 3:
                out.append((17, 3, run - 3))
                freq[17] += 1
                run = 0
        out.extend([(size, 0, 0)] * run)
        freq[size] += max(run, 0)
    return out, freq


def _match_len(window, a, b, limit):
    """Common prefix length of window[a:] and window[b:], at most ``limit``."""
    n = 0
    while n + 16 <= limit and window[a + n:a + n + 16] == window[b + n:b + n + 16]:
        n += 16
    while n < limit and window[a + n] == window[b + n]:
        n += 1
    return n


class Deflater(object):
    """Go's level-9 LZ77 matcher feeding BitWriter.block, fed and flushed the way gzip.Writer does."""

    def __init__(self):
        self.window = bytearray(2 * WINDOW_SIZE)
        self.head = [0] * (HASH_MASK + 1)
        self.prev = [0] * WINDOW_SIZE
        self.hash_offset = 1
        self.chain_head = -1
        self.index = 0
        self.window_end = 0
        self.block_start = 0
        self.byte_available = False
        self.tokens = []
        self.length = MIN_MATCH - 1
        self.offset = 0
        self.sync = False
        self.writer = BitWriter()

    def compress(self, data):
        # One Write call of everything, then Close: butane's exact call sequence.
        view = memoryview(bytes(data))
        while len(view):
            self._step()
            view = view[self._fill(view):]
        self.sync = True
        self._step()
        self.writer.stored_header(0, True)
        self.writer.align()
        return bytes(self.writer.out)

    def _fill(self, data):
        if self.index >= 2 * WINDOW_SIZE - (MIN_MATCH + MAX_MATCH):
            self.window[:WINDOW_SIZE] = self.window[WINDOW_SIZE:]
            self.index -= WINDOW_SIZE
            self.window_end -= WINDOW_SIZE
            self.block_start = self.block_start - WINDOW_SIZE if self.block_start >= WINDOW_SIZE else MAX_INT32
            self.hash_offset += WINDOW_SIZE
            if self.hash_offset > MAX_HASH_OFFSET:
                delta = self.hash_offset - 1
                self.hash_offset -= delta
                self.chain_head -= delta
                self.prev = [v - delta if v > delta else 0 for v in self.prev]
                self.head = [v - delta if v > delta else 0 for v in self.head]
        n = min(len(data), len(self.window) - self.window_end)
        self.window[self.window_end:self.window_end + n] = data[:n]
        self.window_end += n
        return n

    def _insert(self, pos):
        w = self.window
        h = ((((w[pos] << 24) | (w[pos + 1] << 16) | (w[pos + 2] << 8) | w[pos + 3]) * HASH_MUL)
             & 0xFFFFFFFF) >> HASH_SHIFT
        previous = self.head[h & HASH_MASK]
        self.prev[pos & WINDOW_MASK] = previous
        self.head[h & HASH_MASK] = pos + self.hash_offset
        return previous

    def _emit_block(self, index):
        if index > 0:
            data = bytes(self.window[self.block_start:index]) if self.block_start <= index else None
            self.block_start = index
            self.writer.block(self.tokens, data)
        self.tokens = []

    def _step(self):
        if self.window_end - self.index < MIN_MATCH + MAX_MATCH and not self.sync:
            return
        max_insert = self.window_end - (MIN_MATCH - 1)
        while True:
            lookahead = self.window_end - self.index
            if lookahead < MIN_MATCH + MAX_MATCH:
                if not self.sync:
                    return
                if lookahead == 0:
                    if self.byte_available:
                        self.tokens.append(self.window[self.index - 1])
                        self.byte_available = False
                    if self.tokens:
                        self._emit_block(self.index)
                    return
            if self.index < max_insert:
                self.chain_head = self._insert(self.index)
            prev_length, prev_offset = self.length, self.offset
            self.length, self.offset = MIN_MATCH - 1, 0
            min_index = max(self.index - WINDOW_SIZE, 0)
            if (self.chain_head - self.hash_offset >= min_index and lookahead > prev_length
                    and prev_length < LAZY):
                found = self._find_match(self.index, self.chain_head - self.hash_offset, lookahead)
                if found:
                    self.length, self.offset = found
            if prev_length >= MIN_MATCH and self.length <= prev_length:
                # The match that started one byte earlier is at least as good: take it.
                self.tokens.append(MATCH_FLAG | (prev_length - 3) << 22 | (prev_offset - 1))
                end = self.index + prev_length - 1
                pos = self.index + 1
                while pos < end:
                    if pos < max_insert:
                        self._insert(pos)
                    pos += 1
                self.index = pos
                self.byte_available = False
                self.length = MIN_MATCH - 1
                if len(self.tokens) == MAX_BLOCK_TOKENS:
                    self._emit_block(self.index)
            else:
                if self.byte_available:
                    self.tokens.append(self.window[self.index - 1])
                    if len(self.tokens) == MAX_BLOCK_TOKENS:
                        self._emit_block(self.index)
                self.index += 1
                self.byte_available = True

    def _find_match(self, pos, candidate, lookahead):
        w = self.window
        limit = min(MAX_MATCH, lookahead)
        nice = min(limit, NICE)
        tries = CHAIN
        length = MIN_MATCH - 1
        best = None
        w_end = w[pos + length]
        min_index = pos - WINDOW_SIZE
        i = candidate
        while tries > 0:
            if w[i + length] == w_end:
                n = _match_len(w, i, pos, limit)
                if n > length and (n > MIN_MATCH or pos - i <= 4096):
                    length = n
                    best = (n, pos - i)
                    if n >= nice:
                        break
                    w_end = w[pos + n]
            if i == min_index:
                break
            i = self.prev[i & WINDOW_MASK] - self.hash_offset
            if i < min_index or i < 0:
                break
            tries -= 1
        return best


def gzip_best(data):
    """``data`` compressed exactly as Go's gzip.NewWriterLevel(w, gzip.BestCompression) does."""
    data = bytes(data)
    trailer = struct.pack("<II", zlib.crc32(data) & 0xFFFFFFFF, len(data) & 0xFFFFFFFF)
    return GZIP_HEADER + Deflater().compress(data) + trailer
