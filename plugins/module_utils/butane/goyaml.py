# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""YAML the way butane reads and writes it (Go's gopkg.in/yaml.v3), for JSON-shaped data.

Writing: ``dump`` reproduces yaml.v3's encoder with ``SetIndent(2)`` on the output of
``json.Unmarshal`` (maps of strings, lists, strings, float64 numbers, booleans): keys in
yaml.v3's natural order, sequences indented under their key, no line folding, strings quoted
only when yaml.v3 would, literal blocks for multi-line strings, numbers as Go's
``FormatFloat(f, 'g', -1, 64)``.

Reading: ``load`` composes a document with PyYAML and keeps every scalar's source text, so that
typed fields can be decoded with yaml.v3's rules (``0644`` is octal, ``yes`` is a string unless
the field is a boolean, a plain ``420`` read into a string field is the text ``420``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import functools
import math
import re
import unicodedata

try:
    import yaml

    HAS_YAML = True
except ImportError:
    HAS_YAML = False

BREAKS = u"\n\r\x85\u2028\u2029"


# ---------------------------------------------------------------- scalar resolution (yaml.v3)

_YAML_FLOAT = re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")
_GO_INT = re.compile(r"^[-+]?(0[xX][0-9a-fA-F]+|0[bB][01]+|0[oO]?[0-7]+|[1-9][0-9]*|0)$")
_BASE60 = re.compile(r"^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$")
_TIMESTAMP = re.compile(
    r"^[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}"
    r"([Tt ][0-9]{1,2}:[0-9]{1,2}:[0-9]{1,2}(\.[0-9]+)?(Z|[-+][0-9]{2}:[0-9]{2})?)?$")
_GO_FLOAT = re.compile(r"^[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?$")
_SPECIALS = {
    "true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False,
    "": None, "~": None, "null": None, "Null": None, "NULL": None,
    ".nan": "float", ".NaN": "float", ".NAN": "float", ".inf": "float", ".Inf": "float",
    ".INF": "float", "+.inf": "float", "+.Inf": "float", "+.INF": "float", "-.inf": "float",
    "-.Inf": "float", "-.INF": "float",
}
OLD_BOOLS = {"y": True, "Y": True, "yes": True, "Yes": True, "YES": True, "on": True, "On": True,
             "ON": True, "n": False, "N": False, "no": False, "No": False, "NO": False,
             "off": False, "Off": False, "OFF": False}


def go_int(text):
    """Go's strconv.ParseInt(text, 0, 64) after yaml.v3 drops underscores, or None."""
    plain = text.replace("_", "")
    if not _GO_INT.match(plain):
        return None
    sign = -1 if plain[0] == "-" else 1
    body = plain.lstrip("+-")
    lower = body.lower()
    if lower.startswith("0x"):
        value = int(body[2:], 16)
    elif lower.startswith("0b"):
        value = int(body[2:], 2)
    elif lower.startswith("0o"):
        value = int(body[2:], 8)
    elif len(body) > 1 and body[0] == "0":
        value = int(body[1:], 8)
    else:
        value = int(body)
    value *= sign
    return value if -(1 << 63) <= value < (1 << 64) else None


def resolve(text):
    """The tag yaml.v3 gives a plain scalar: 'null', 'bool', 'int', 'float', 'timestamp' or
    'str'; and the value where it is null, bool or int. ("<<" stays a string: yaml.v3 only
    looks a scalar up when its first character hints at a special value.)"""
    if text in _SPECIALS:
        special = _SPECIALS[text]
        if special is None:
            return "null", None
        if isinstance(special, bool):
            return "bool", special
        return special, None
    first = text[:1]
    if first == ".":
        return ("float", None) if _finite_float(text) else ("str", text)
    if first and (first in "+-" or first.isdigit()):
        if _TIMESTAMP.match(text):
            return "timestamp", None
        value = go_int(text)
        if value is not None:
            return "int", value
        plain = text.replace("_", "")
        if _YAML_FLOAT.match(plain) and _finite_float(plain):
            return "float", None
    return "str", text


def _finite_float(text):
    # Go's ParseFloat fails on out-of-range values, so "1e999" stays a string.
    return bool(_GO_FLOAT.match(text)) and not math.isinf(float(text))


def needs_quotes(text):
    """yaml.v3 quotes a string whose plain form would read back as something else."""
    if resolve(text)[0] != "str":
        return True
    if text in OLD_BOOLS:
        return True
    first = text[:1]
    return bool(first and (first in "+-" or first.isdigit()) and ":" in text and _BASE60.match(text))


# ---------------------------------------------------------------- reading

class Scalar(object):
    """A scalar as written in the source: its text, whether it was plain, and where it was."""

    __slots__ = ("text", "plain", "line")

    def __init__(self, text, plain, line):
        self.text = text
        self.plain = plain
        self.line = line

    def __repr__(self):
        return "Scalar(%r)" % self.text


class YamlError(ValueError):
    pass


def load(text):
    """Compose one YAML document into dicts, lists and Scalar leaves (None for an empty document)."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as err:
        raise YamlError("not valid YAML: %s" % " ".join(str(err).split()))
    return None if node is None else _convert(node)


def _convert(node):
    line = node.start_mark.line + 1
    if isinstance(node, yaml.ScalarNode):
        return Scalar(node.value, node.style is None, line)
    if isinstance(node, yaml.SequenceNode):
        return [_convert(item) for item in node.value]
    result = {}
    for key_node, value_node in node.value:
        if not isinstance(key_node, yaml.ScalarNode):
            raise YamlError("line %d: mapping keys must be strings" % line)
        key = key_node.value
        if key in result:
            raise YamlError('line %d: mapping key "%s" already defined' % (key_node.start_mark.line + 1, key))
        result[key] = _convert(value_node)
    return result


# ---------------------------------------------------------------- writing

def _is_letter(ch):
    return unicodedata.category(ch).startswith("L")


def _key_cmp(a, b):
    """yaml.v3's ordering of string map keys: digit runs compare as numbers."""
    digits = False
    for i in range(min(len(a), len(b))):
        ca, cb = a[i], b[i]
        if ca == cb:
            digits = ca.isdecimal()
            continue
        la, lb = _is_letter(ca), _is_letter(cb)
        if la and lb:
            return -1 if ca < cb else 1
        if la or lb:
            if digits:
                return -1 if la else 1
            return -1 if lb else 1
        an = bn = 0
        if ca == "0" or cb == "0":
            j = i - 1
            while j >= 0 and a[j].isdecimal():
                if a[j] != "0":
                    an = bn = 1
                    break
                j -= 1
        ai = i
        while ai < len(a) and a[ai].isdecimal():
            an = an * 10 + (ord(a[ai]) - 48)
            ai += 1
        bi = i
        while bi < len(b) and b[bi].isdecimal():
            bn = bn * 10 + (ord(b[bi]) - 48)
            bi += 1
        if an != bn:
            return -1 if an < bn else 1
        if ai != bi:
            return -1 if ai < bi else 1
        return -1 if ca < cb else 1
    if len(a) == len(b):
        return 0
    return -1 if len(a) < len(b) else 1


sort_keys = functools.partial(sorted, key=functools.cmp_to_key(_key_cmp))


def go_number(value):
    """An integral JSON number as Go's FormatFloat(float64(v), 'g', -1, 64) prints it."""
    if isinstance(value, float):
        if value != int(value):
            raise ValueError("only integral numbers are supported, not %r" % value)
        value = int(value)
    sign = "-" if value < 0 else ""
    digits = str(abs(value))
    exponent = len(digits) - 1
    if exponent < 6:
        return sign + digits
    mantissa = digits.rstrip("0")
    text = mantissa[0] + ("." + mantissa[1:] if len(mantissa) > 1 else "")
    return "%s%se+%02d" % (sign, text, exponent)


def _printable(ch):
    code = ord(ch)
    return (code == 0x0A or 0x20 <= code <= 0x7E or 0xA0 <= code <= 0xD7FF
            or (0xE000 <= code <= 0xFFFD and code != 0xFEFF))


class _Analysis(object):
    """What libyaml's analyze_scalar decides about a string."""

    def __init__(self, value):
        self.multiline = False
        self.block_plain = True
        self.single_quoted = True
        self.block = True
        if not value:
            self.block = False
            return
        block_indicators = value.startswith("---") or value.startswith("...")
        line_breaks = special = tabs = False
        leading_space = leading_break = trailing_space = trailing_break = False
        break_space = space_break = previous_space = previous_break = False
        preceded_by_ws = True
        last = len(value) - 1
        for i, ch in enumerate(value):
            followed_by_ws = i == last or value[i + 1] in " \t"
            if i == 0:
                if ch in "#,[]{}&*!|>'\"%@`":
                    block_indicators = True
                elif ch in "?:" and followed_by_ws:
                    block_indicators = True
                elif ch == "-" and followed_by_ws:
                    block_indicators = True
            elif ch == ":" and followed_by_ws:
                block_indicators = True
            elif ch == "#" and preceded_by_ws:
                block_indicators = True
            if ch == "\t":
                tabs = True
            elif not _printable(ch):
                special = True
            if ch == " ":
                leading_space = leading_space or i == 0
                trailing_space = trailing_space or i == last
                break_space = break_space or previous_break
                previous_space, previous_break = True, False
            elif ch in BREAKS:
                line_breaks = True
                leading_break = leading_break or i == 0
                trailing_break = trailing_break or i == last
                space_break = space_break or previous_space
                previous_space, previous_break = False, True
            else:
                previous_space = previous_break = False
            preceded_by_ws = ch in " \t\0" + BREAKS
        self.multiline = line_breaks
        if leading_space or leading_break or trailing_space or trailing_break:
            self.block_plain = False
        if trailing_space:
            self.block = False
        if break_space:
            self.block_plain = self.single_quoted = False
        if space_break or tabs or special:
            self.block_plain = self.single_quoted = False
        if space_break or special:
            self.block = False
        if line_breaks or block_indicators:
            self.block_plain = False


_ESCAPES = {0x00: "0", 0x07: "a", 0x08: "b", 0x09: "t", 0x0A: "n", 0x0B: "v", 0x0C: "f",
            0x0D: "r", 0x1B: "e", 0x22: '"', 0x5C: "\\", 0x85: "N", 0xA0: "_", 0x2028: "L",
            0x2029: "P"}


class _Emitter(object):
    """Block-style emitter state: the column and whitespace flags libyaml tracks."""

    def __init__(self):
        self.parts = []
        self.column = 0
        self.whitespace = True
        self.indention = True

    def put(self, text):
        self.parts.append(text)
        self.column += len(text)

    def newline(self):
        self.parts.append("\n")
        self.column = 0
        self.indention = True

    def write_indent(self, indent):
        indent = max(indent, 0)
        if not self.indention or self.column > indent or (self.column == indent and not self.whitespace):
            self.newline()
        if self.column < indent:
            self.put(" " * (indent - self.column))
        self.whitespace = True

    def indicator(self, text, need_whitespace, is_whitespace=False, is_indention=False):
        if need_whitespace and not self.whitespace:
            self.put(" ")
        self.put(text)
        self.whitespace = is_whitespace
        self.indention = self.indention and is_indention

    # -- nodes. `indent` is the indentation of the enclosing collection; `in_sequence` says the
    # node is an item of a block sequence (its nested indentation just skips the "- ").

    def node(self, value, indent, in_sequence, simple_key=False):
        if isinstance(value, dict):
            if not value:
                self.indicator("{", True, True)
                self.indicator("}", False)
            else:
                self.mapping(value, self._nested(indent, in_sequence))
        elif isinstance(value, list):
            if not value:
                self.indicator("[", True, True)
                self.indicator("]", False)
            else:
                self.sequence(value, self._nested(indent, in_sequence))
        else:
            self.scalar(value, self._nested(indent, in_sequence), simple_key)

    @staticmethod
    def _nested(indent, in_sequence):
        if indent < 0:
            return 0
        if in_sequence:
            return indent + 2
        return 2 * ((indent + 2) // 2)

    def mapping(self, value, indent):
        for key in sort_keys(value):
            self.write_indent(indent)
            if not isinstance(key, str) or any(ch in BREAKS for ch in key) or len(key.encode("utf-8")) > 1024:
                raise ValueError("unsupported mapping key %r" % (key,))
            self.scalar(key, indent, simple_key=True)
            self.indicator(":", False)
            self.node(value[key], indent, False)

    def sequence(self, value, indent):
        for item in value:
            self.write_indent(indent)
            self.indicator("-", True, False, True)
            self.node(item, indent, True)

    def scalar(self, value, indent, simple_key=False):
        if value is None:
            text, style = "null", "plain"
        elif isinstance(value, bool):
            text, style = ("true" if value else "false"), "plain"
        elif isinstance(value, (int, float)):
            text, style = go_number(value), "plain"
        else:
            text = value
            if "\n" in text:
                style = "literal"
            elif needs_quotes(text):
                style = "double"
            else:
                style = "plain"
        analysis = _Analysis(text)
        if simple_key and analysis.multiline:
            style = "double"
        if style == "plain":
            if not analysis.block_plain or (not text and simple_key):
                style = "single"
        if style == "single" and not analysis.single_quoted:
            style = "double"
        if style == "literal" and (not analysis.block or simple_key):
            style = "double"
        getattr(self, "_" + style)(text, indent)

    def _plain(self, text, indent):
        if text and not self.whitespace:
            self.put(" ")
        self.put(text)
        if text:
            self.whitespace = False
        self.indention = False

    def _single(self, text, indent):
        self.indicator("'", True)
        breaks = False
        for ch in text:
            if ch in BREAKS:
                if not breaks and ch == "\n":
                    self.newline()
                self._write_break(ch)
                breaks = True
            else:
                if breaks:
                    self.write_indent(indent)
                self.put("''" if ch == "'" else ch)
                self.indention = False
                breaks = False
        self.indicator("'", False)
        self.whitespace = False
        self.indention = False

    def _double(self, text, indent):
        self.indicator('"', True)
        out = []
        # libyaml's BOM test looks at the start of the string, not at the character: after a
        # leading BOM every character is escaped.
        bom = text.startswith(u"\ufeff")
        for ch in text:
            code = ord(ch)
            if bom or not _printable(ch) or ch in BREAKS or ch in '"\\':
                if code in _ESCAPES:
                    out.append("\\" + _ESCAPES[code])
                elif code <= 0xFF:
                    out.append("\\x%02X" % code)
                elif code <= 0xFFFF:
                    out.append("\\u%04X" % code)
                else:
                    out.append("\\U%08X" % code)
            else:
                out.append(ch)
        self.put("".join(out))
        self.indicator('"', False)
        self.whitespace = False
        self.indention = False

    def _write_break(self, ch):
        if ch == "\n":
            self.newline()
        else:
            self.parts.append(ch)
            self.column = 0
            self.indention = True

    def _literal(self, text, indent):
        self.indicator("|", True)
        if text[0] == " " or text[0] in BREAKS:
            self.indicator("2", False)
        if text[-1] not in BREAKS:
            self.indicator("-", False)
        elif len(text) == 1 or text[-2] in BREAKS:
            self.indicator("+", False)
        self.whitespace = True
        breaks = True
        for ch in text:
            if ch in BREAKS:
                self._write_break(ch)
                breaks = True
            else:
                if breaks:
                    self.write_indent(indent)
                self.put(ch)
                self.indention = False
                breaks = False


def dump(value):
    """``value`` as yaml.v3's Encoder with SetIndent(2) writes it (ending in a newline)."""
    emitter = _Emitter()
    emitter.node(value, -1, False)
    emitter.write_indent(0)  # document end
    return "".join(emitter.parts)
