"""promptfoo's JavaScript, read without running it: a `javascript` assertion's expression
or a `transform` as a tree (jspython.py translates JavaScript regexes). Only a
whitelist of constructs is parsed; anything else raises `Unsupported` and the caller
leaves the assertion out with a note.

What is parsed (`parse`): `output`, `context.vars.NAME`, string / number / boolean /
null literals, regex literals, `JSON.parse(...)`, member access `.name` and
`['name']`, calls of the string methods `includes startsWith endsWith toLowerCase
toUpperCase trim trimStart trimEnd split replace`, `.length`, `RE.test(...)`, the
comparisons `=== !== == != < <= > >=`, `!`, `&&`, `||` and parentheses. A value of
several lines (or one that says `return`) is a function body for promptfoo: only
`return EXPR` is read.

Invariants: nothing here evaluates JavaScript or calls node; a parsed tree means
exactly what it means in JavaScript for a string `output`, and the translators
(jsrewrite.py, jspython.py) keep that meaning or say where they do not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# ------------------------------------------------------------------------------ nodes


class Unsupported(ValueError):
    """The JavaScript uses something outside the whitelist."""


@dataclass(frozen=True)
class Lit:
    value: str | int | float | bool | None


@dataclass(frozen=True)
class Output:
    pass


@dataclass(frozen=True)
class Var:
    name: str  # context.vars.NAME


@dataclass(frozen=True)
class Regex:
    pattern: str
    flags: str


@dataclass(frozen=True)
class Member:
    obj: Node
    name: str


@dataclass(frozen=True)
class Index:
    obj: Node
    index: int  # obj[3]: only transforms read it


@dataclass(frozen=True)
class Call:
    obj: Node | None  # None: a global function (JSON.parse)
    name: str
    args: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    operand: Node


@dataclass(frozen=True)
class Bin:
    op: str  # && || === !== == != < <= > >=
    left: Node
    right: Node


Node = Lit | Output | Var | Regex | Member | Index | Call | Not | Bin

STRING_METHODS = frozenset({"includes", "startsWith", "endsWith", "toLowerCase",
                            "toUpperCase", "trim", "trimStart", "trimEnd", "split",
                            "replace"})

# ----------------------------------------------------------------------------- tokens

_PUNCT = ("===", "!==", "==", "!=", "<=", ">=", "&&", "||", "<", ">", "!", "(", ")",
          "[", "]", ".", ",")
_IDENT = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")
_NUMBER = re.compile(r"(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "v": "\v",
            "0": "\0", "\\": "\\", "'": "'", '"': '"', "`": "`"}


@dataclass(frozen=True)
class Tok:
    kind: str  # ident num str regex punct
    text: str
    value: object = None


def _string(src: str, i: int) -> tuple[str, int]:
    quote = src[i]
    out: list[str] = []
    i += 1
    while i < len(src):
        ch = src[i]
        if ch == quote:
            return "".join(out), i + 1
        if ch == "\n" or (quote == "`" and src.startswith("${", i)):
            raise Unsupported("a template literal with ${...} or a broken string")
        if ch == "\\":
            nxt = src[i + 1:i + 2]
            if nxt in _ESCAPES and not (nxt == "0" and src[i + 2:i + 3].isdigit()):
                out.append(_ESCAPES[nxt])
                i += 2
            elif nxt in ("u", "x"):
                size = 4 if nxt == "u" else 2
                digits = src[i + 2:i + 2 + size]
                if len(digits) != size or not all(c in "0123456789abcdefABCDEF"
                                                  for c in digits):
                    raise Unsupported("an escape in a string")
                out.append(chr(int(digits, 16)))
                i += 2 + size
            elif nxt and not nxt.isdigit() and nxt not in "\r\n":
                out.append(nxt)  # JavaScript: an unknown escape is the character itself
                i += 2
            else:
                raise Unsupported("an escape in a string")
            continue
        out.append(ch)
        i += 1
    raise Unsupported("an unterminated string")


def _regex(src: str, i: int) -> tuple[Tok, int]:
    start = i
    i += 1
    in_class = False
    while i < len(src):
        ch = src[i]
        if ch == "\\":
            i += 2
            continue
        if ch == "\n":
            break
        if ch == "[":
            in_class = True
        elif ch == "]":
            in_class = False
        elif ch == "/" and not in_class:
            pattern = src[start + 1:i]
            j = i + 1
            while j < len(src) and src[j].isalpha():
                j += 1
            flags = src[i + 1:j]
            return Tok("regex", src[start:j], (pattern, flags)), j
        i += 1
    raise Unsupported("an unterminated regex literal")


def tokenize(src: str) -> list[Tok]:
    toks: list[Tok] = []
    i = 0
    while i < len(src):
        ch = src[i]
        if ch.isspace():
            i += 1
            continue
        if ch in "'\"`":
            text, i = _string(src, i)
            toks.append(Tok("str", text, text))
            continue
        if ch == "/":
            if src.startswith("//", i) or src.startswith("/*", i):
                raise Unsupported("a comment")
            operand_expected = not toks or (toks[-1].kind == "punct" and toks[-1].text in (
                "(", ",", "!", "&&", "||", "===", "!==", "==", "!=", "<", "<=", ">", ">=",
                "["))
            if not operand_expected:
                raise Unsupported("division")
            tok, i = _regex(src, i)
            toks.append(tok)
            continue
        m = _NUMBER.match(src, i) if ch.isdigit() or (ch == "." and src[i + 1:i + 2].isdigit()) \
            else None
        if m:
            text = m.group(0)
            number: int | float = float(text) if any(c in text for c in ".eE") else int(text)
            toks.append(Tok("num", text, number))
            i = m.end()
            continue
        m = _IDENT.match(src, i)
        if m:
            toks.append(Tok("ident", m.group(0)))
            i = m.end()
            continue
        for p in _PUNCT:
            if src.startswith(p, i):
                toks.append(Tok("punct", p))
                i += len(p)
                break
        else:
            raise Unsupported(f"the character {ch!r}")
    return toks


# ----------------------------------------------------------------------------- parser

_BINARY = (("||",), ("&&",), ("===", "!==", "==", "!="), ("<", "<=", ">", ">="))
_KEYWORDS = {"true": True, "false": False, "null": None}
_MAX_TOKENS = 400


class _Parser:
    def __init__(self, toks: list[Tok]) -> None:
        self.toks = toks
        self.i = 0

    def peek(self, text: str) -> bool:
        return self.i < len(self.toks) and self.toks[self.i].kind == "punct" \
            and self.toks[self.i].text == text

    def take(self, text: str) -> None:
        if not self.peek(text):
            raise Unsupported(f"expected {text!r}")
        self.i += 1

    def binary(self, level: int = 0) -> Node:
        if level == len(_BINARY):
            return self.unary()
        left = self.binary(level + 1)
        while self.i < len(self.toks) and self.toks[self.i].kind == "punct" \
                and self.toks[self.i].text in _BINARY[level]:
            op = self.toks[self.i].text
            self.i += 1
            right = self.binary(level + 1)
            if level >= 2 and isinstance(left, Bin) and left.op in _BINARY[level]:
                raise Unsupported("chained comparisons")
            left = Bin(op, left, right)
        return left

    def unary(self) -> Node:
        if self.peek("!"):
            self.i += 1
            return Not(self.unary())
        return self.postfix(self.primary())

    def primary(self) -> Node:
        if self.i >= len(self.toks):
            raise Unsupported("an incomplete expression")
        tok = self.toks[self.i]
        self.i += 1
        if tok.kind == "str":
            return Lit(str(tok.value))
        if tok.kind == "num":
            value = tok.value
            assert isinstance(value, (int, float))
            return Lit(value)
        if tok.kind == "regex":
            assert isinstance(tok.value, tuple)
            return Regex(str(tok.value[0]), str(tok.value[1]))
        if tok.kind == "punct" and tok.text == "(":
            node = self.binary()
            self.take(")")
            return node
        if tok.kind == "ident":
            if tok.text in _KEYWORDS:
                return Lit(_KEYWORDS[tok.text])
            if tok.text == "output":
                return Output()
            if tok.text == "JSON":
                self.take(".")
                if self.i >= len(self.toks) or self.toks[self.i].text != "parse":
                    raise Unsupported("JSON methods other than JSON.parse")
                self.i += 1
                args = self.args()
                if len(args) != 1:
                    raise Unsupported("JSON.parse with a reviver")
                return Call(None, "JSON.parse", args)
            if tok.text == "context":
                return self.context_var()
        raise Unsupported(f"{tok.text!r}")

    def context_var(self) -> Node:
        self.take(".")
        if self.i >= len(self.toks) or self.toks[self.i].text != "vars":
            raise Unsupported("context other than context.vars")
        self.i += 1
        name = self.member_name()
        if name is None:
            raise Unsupported("context.vars without a name")
        return Var(name)

    def member_name(self) -> str | None:
        if self.peek("."):
            self.i += 1
            if self.i >= len(self.toks) or self.toks[self.i].kind != "ident":
                raise Unsupported("a member name")
            self.i += 1
            return self.toks[self.i - 1].text
        if self.peek("[") and self.i + 2 < len(self.toks) \
                and self.toks[self.i + 1].kind == "str":
            self.i += 2
            self.take("]")
            return str(self.toks[self.i - 2].value)
        return None

    def args(self) -> tuple[Node, ...]:
        self.take("(")
        out: list[Node] = []
        while not self.peek(")"):
            out.append(self.binary())
            if not self.peek(")"):
                self.take(",")
        self.take(")")
        return tuple(out)

    def postfix(self, node: Node) -> Node:
        while True:
            name = self.member_name()
            if name is None:
                if self.peek("[") and self.i + 2 < len(self.toks) \
                        and isinstance(self.toks[self.i + 1].value, int) \
                        and not isinstance(self.toks[self.i + 1].value, bool):
                    self.i += 2
                    self.take("]")
                    node = Index(node, int(self.toks[self.i - 2].value))  # type: ignore[call-overload]
                    continue
                if self.peek("["):
                    raise Unsupported("indexing with an expression")
                return node
            node = Call(node, name, self.args()) if self.peek("(") else Member(node, name)


def function_body(src: str) -> str:
    """The expression promptfoo evaluates for an inline `javascript` value: the value
    itself, or what a body of the one statement `return EXPR` returns."""
    text = src.strip()
    while text.endswith(";"):
        text = text[:-1].rstrip()
    if "\n" in text or re.search(r"\breturn\b", text):
        body = text
        if not body.startswith("return") or not re.match(r"return\b", body):
            raise Unsupported("a function body other than one 'return EXPR'")
        body = body[len("return"):].strip()
        if ";" in body.replace("';'", "").replace('";"', ""):
            raise Unsupported("several statements")
        return body
    return text


def parse(src: str) -> Node:
    """The tree of one JavaScript expression (see the module docstring)."""
    toks = tokenize(src)
    if not toks:
        raise Unsupported("an empty expression")
    if len(toks) > _MAX_TOKENS:
        raise Unsupported("an expression this long")
    parser = _Parser(toks)
    node = parser.binary()
    if parser.i != len(toks):
        raise Unsupported(f"{toks[parser.i].text!r}")
    return node
