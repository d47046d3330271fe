"""Parse a watch-rule query into a :class:`~veille.rules.query.Parsed` tree, or say exactly
where it is wrong (:class:`QueryError` carries the offending range)."""

from __future__ import annotations

import re
from typing import Final

import msgspec
import re2

from veille.normalise.fold import fold, fold_word
from veille.rules.query import (
    FILTER_FIELDS,
    And,
    Atom,
    Filter,
    FilterField,
    Hashtag,
    Mention,
    Near,
    Not,
    Or,
    Parsed,
    Positional,
    Prefix,
    Query,
    Regex,
    Words,
)

MAX_QUERY_LENGTH: Final = 10_000
MAX_DEPTH: Final = 64
MAX_NEAR: Final = 100
MAX_REGEX_LENGTH: Final = 1_000
REGEX_MAX_MEM: Final = 8 << 20
MIN_STEM: Final = 3

_NEAR: Final = re.compile(r"(O?NEAR)(?:/(.*))?")
_FIELD: Final = re.compile(r"([A-Za-z]+):(.*)", re.DOTALL)
_LANG: Final = re.compile(r"[a-z]{2,3}(?:-[a-z0-9]{2,8})*")
_NAME: Final = re.compile(r"[a-z0-9_.-]+")
_HOST: Final = re.compile(r"(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]*[a-z0-9])?")


class QueryError(ValueError):
    """A query is invalid; ``start``/``end`` delimit the fault in the query text."""

    def __init__(self, message: str, start: int, end: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.start = start
        self.end = max(end if end is not None else start + 1, start + 1)


class _Token(msgspec.Struct, frozen=True, gc=False):
    kind: str  # ( ) AND OR NOT - NEAR PHRASE REGEX TERM EOF
    text: str
    start: int
    end: int
    distance: int = 0
    ordered: bool = False


def regex_options() -> re2.Options:
    """How every ``/regex/`` is compiled: case-insensitive, bounded memory, no stderr noise."""
    options = re2.Options()
    options.case_sensitive = False
    options.max_mem = REGEX_MAX_MEM
    options.log_errors = False
    return options


_LEXEME: Final = re.compile(
    r"""(?P<space>\s+)|(?P<paren>[()])|(?P<phrase>"[^"]*"?)|(?P<regex>/(?:\\.|[^/\\])*/?)"""
    r"""|(?P<minus>-)|(?P<word>[^\s()"]+)""",
    re.DOTALL,
)
_ESCAPE: Final = re.compile(r"\\(.)", re.DOTALL)


def _unescape_slash(match: re.Match[str]) -> str:
    # \/ is a literal slash inside /regex/; every other escape is left for re2 itself.
    return "/" if match.group(1) == "/" else match.group(0)


def _lex(source: str) -> list[_Token]:
    tokens: list[_Token] = []
    n = len(source)
    for m in _LEXEME.finditer(source):
        kind = m.lastgroup
        if kind == "space":
            continue
        i, j = m.span()
        text = m.group()
        if kind == "word":  # the commonest lexeme first
            if text in ("AND", "OR", "NOT"):
                tokens.append(_Token(text, text, i, j))
            elif text.startswith(("NEAR", "ONEAR")) and (near := _NEAR.fullmatch(text)):
                op, distance = near.groups()
                if distance is None or not distance.isdigit():
                    raise QueryError(f"{op} needs a distance in words, e.g. {op}/3", i, j)
                if int(distance) > MAX_NEAR:
                    raise QueryError(f"{op} distance is at most {MAX_NEAR} words", i, j)
                tokens.append(_Token("NEAR", text, i, j, int(distance), op == "ONEAR"))
            else:
                tokens.append(_Token("TERM", text, i, j))
        elif kind == "paren":
            tokens.append(_Token(text, text, i, j))
        elif kind == "phrase":
            if len(text) < 2 or not text.endswith('"'):
                raise QueryError('unterminated phrase: missing closing "', i, n)
            tokens.append(_Token("PHRASE", text[1:-1], i, j))
        elif kind == "regex":
            if len(text) < 2 or not text.endswith("/"):
                raise QueryError("unterminated regular expression: missing closing /", i, n)
            tokens.append(_Token("REGEX", _ESCAPE.sub(_unescape_slash, text[1:-1]), i, j))
        else:  # minus
            if j >= n or source[j].isspace() or source[j] == ")":
                raise QueryError("'-' must be followed by what to exclude, e.g. -football", i)
            tokens.append(_Token("-", text, i, j))
    tokens.append(_Token("EOF", "", n, n))
    return tokens


def _describe(token: _Token) -> str:
    return "end of query" if token.kind == "EOF" else repr(token.text)


class _Parser:
    def __init__(self, source: str) -> None:
        self.source = source
        self.tokens = _lex(source)
        self.i = 0
        self.depth = 0

    def peek(self) -> _Token:
        return self.tokens[self.i]

    def take(self) -> _Token:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def parse(self) -> Query:
        node = self.or_expr()
        token = self.peek()
        if token.kind == ")":
            raise QueryError("unbalanced ')': no '(' opens it", token.start, token.end)
        if token.kind != "EOF":  # pragma: no cover - or_expr consumes everything else
            raise QueryError(f"unexpected {_describe(token)}", token.start, token.end)
        return node

    def or_expr(self) -> Query:
        first, first_bare = self.and_expr()
        children, bare = [first], first_bare
        while self.peek().kind == "OR":
            op = self.take()
            node, node_bare = self.and_expr()
            bare = bare or node_bare
            if bare:
                raise QueryError(
                    "mixing AND and OR needs parentheses: write (a b) OR c, or a (b OR c)",
                    op.start,
                    op.end,
                )
            children.append(node)
        if len(children) == 1:
            return first
        return Or(children[0].start, children[-1].end, tuple(children))

    def and_expr(self) -> tuple[Query, bool]:
        children = [self.unary()]
        while self.peek().kind not in ("OR", ")", "EOF"):
            if self.peek().kind == "AND":
                op = self.take()
                if self.peek().kind in ("OR", ")", "EOF", "AND"):
                    raise QueryError("AND needs something on its right", op.start, op.end)
            children.append(self.unary())
        if len(children) == 1:
            return children[0], False
        return And(children[0].start, children[-1].end, tuple(children)), True

    def unary(self) -> Query:
        token = self.peek()
        if token.kind in ("NOT", "-"):
            self.take()
            if self.peek().kind in ("OR", "AND", ")", "EOF", "NEAR"):
                raise QueryError(f"{token.text} needs something to exclude", token.start)
            child = self.unary()
            return Not(token.start, child.end, child)
        return self.near()

    def near(self) -> Query:
        left = self.primary()
        if self.peek().kind != "NEAR":
            return left
        op = self.take()
        right = self.primary()
        if self.peek().kind == "NEAR":
            extra = self.peek()
            raise QueryError(
                "chained NEAR is ambiguous: group with parentheses or use AND between pairs",
                extra.start,
                extra.end,
            )
        return Near(
            left.start,
            right.end,
            self.positional(left, op),
            self.positional(right, op),
            op.distance,
            op.ordered,
        )

    def positional(self, node: Query, op: _Token) -> Positional:
        if isinstance(node, Words | Prefix | Hashtag | Mention):
            return node
        if isinstance(node, Or) and all(
            isinstance(child, Words | Prefix | Hashtag | Mention | Or) for child in node.children
        ):
            for child in node.children:
                self.positional(child, op)
            return node
        raise QueryError(
            f"{op.text} needs words, phrases, wildcards or an OR group of them on each side",
            node.start,
            node.end,
        )

    def primary(self) -> Query:
        token = self.take()
        if token.kind == "(":
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise QueryError(f"nesting deeper than {MAX_DEPTH} parentheses", token.start)
            if self.peek().kind == ")":
                raise QueryError("empty parentheses", token.start, self.peek().end)
            node = self.or_expr()
            close = self.take()
            if close.kind != ")":
                raise QueryError("missing ')' to close this '('", token.start, token.end)
            self.depth -= 1
            return node
        if token.kind == "PHRASE":
            return Words(token.start, token.end, _fold_words(token.text))
        if token.kind == "REGEX":
            return self.regex(token)
        if token.kind == "TERM":
            return self.term(token)
        if token.kind == ")":
            raise QueryError("unbalanced ')': nothing to close", token.start, token.end)
        if token.kind == "EOF":
            raise QueryError("query ends where a term was expected", token.start)
        raise QueryError(f"expected a term, found {_describe(token)}", token.start, token.end)

    def regex(self, token: _Token) -> Regex:
        if not token.text:
            raise QueryError("empty regular expression", token.start, token.end)
        if len(token.text) > MAX_REGEX_LENGTH:
            raise QueryError(
                f"regular expression longer than {MAX_REGEX_LENGTH} characters",
                token.start,
                token.end,
            )
        try:
            re2.compile(token.text, regex_options())
        except re2.error as exc:
            detail = exc.args[0] if exc.args else exc
            if isinstance(detail, bytes):
                detail = detail.decode("utf-8", "replace")
            raise QueryError(
                f"invalid regular expression: {detail}", token.start, token.end
            ) from None
        return Regex(token.start, token.end, token.text)

    def term(self, token: _Token) -> Query:
        text, start, end = token.text, token.start, token.end
        if text.isascii() and text.isalnum():  # a plain word: no filter, wildcard or sigil
            return Words(start, end, (text.lower(),))
        field = _FIELD.fullmatch(text)
        if field and field.group(2):
            return self.filter(field.group(1).lower(), field.group(2), token)
        if text.endswith("*"):
            return self.prefix(token)
        if "*" in text:
            raise QueryError("'*' is only allowed at the end of a word (stem*)", start, end)
        if text.startswith("#"):
            folded = fold_word(text)
            if not folded.startswith("#") or " " in folded:
                raise QueryError(f"{text!r} is not a hashtag (#word)", start, end)
            return Hashtag(start, end, folded[1:])
        if text.startswith("@"):
            folded = fold_word(text)
            if not folded.startswith("@") or " " in folded:
                raise QueryError(f"{text!r} is not a mention (@handle)", start, end)
            return Mention(start, end, folded)
        return Words(start, end, _fold_words(text))

    def prefix(self, token: _Token) -> Prefix:
        stem = token.text[:-1]
        if "*" in stem:
            raise QueryError("'*' is only allowed once, at the end of a word", token.start)
        if stem.startswith(("#", "@")):
            raise QueryError("wildcards work on words, not on hashtags or mentions", token.start)
        folded = fold_word(stem)
        if " " in folded or "#" in folded or "@" in folded:
            raise QueryError("a wildcard stem must be a single word", token.start, token.end)
        if len(folded) < MIN_STEM:
            raise QueryError(
                f"a wildcard needs a stem of at least {MIN_STEM} letters ({stem!r} is too broad)",
                token.start,
                token.end,
            )
        return Prefix(token.start, token.end, folded)

    def filter(self, name: str, value: str, token: _Token) -> Filter:
        if name not in FILTER_FIELDS:
            known = ", ".join(f"{f}:" for f in FILTER_FIELDS)
            raise QueryError(
                f"unknown filter {name + ':'!r} (known: {known}; to match a site use domain:)",
                token.start,
                token.start + len(name) + 1,
            )
        field: FilterField = name
        value = value.lower()
        if field == "author":
            value = value.removeprefix("@")
        elif field == "domain":
            value = value.removeprefix("www.").rstrip(".")
        pattern = {"lang": _LANG, "platform": _NAME, "author": _NAME, "domain": _HOST}[field]
        if not pattern.fullmatch(value):
            expected = {
                "lang": "a language code such as fr, nl, de or en",
                "platform": "a platform name such as bluesky",
                "author": "a handle such as alice.bsky.social",
                "domain": "a host name such as example.org",
            }[field]
            raise QueryError(
                f"invalid {field}: value {value!r}: expected {expected}", token.start, token.end
            )
        return Filter(token.start, token.end, field, value)


def _fold_words(text: str) -> tuple[str, ...]:
    """The folded words of a term or phrase; plain ASCII words fold to their lower case."""
    words = text.split()
    if text.isascii() and all(w.isalnum() for w in words):
        return tuple(w.lower() for w in words)
    return tuple(fold(text).tokens)


def parse(source: str) -> Parsed:
    """Parse a query; raise :class:`QueryError` naming the faulty range when it is invalid."""
    if len(source) > MAX_QUERY_LENGTH:
        raise QueryError(f"query longer than {MAX_QUERY_LENGTH} characters", MAX_QUERY_LENGTH)
    if not source.strip():
        raise QueryError("empty query", 0, max(len(source), 1))
    if (
        source.isascii()
        and source.isalnum()
        and source not in ("AND", "OR", "NOT", "NEAR", "ONEAR")
    ):
        # One plain word, the commonest rule: same tree as the full parser, a lot cheaper.
        return Parsed(source, Words(0, len(source), (source.lower(),)))
    return Parsed(source, _Parser(source).parse())


def unparse(node: Query) -> str:
    """A canonical text for a node, fully parenthesised (used by checks and tests)."""
    if isinstance(node, Words):
        return '"' + " ".join(node.words) + '"'
    if isinstance(node, Prefix):
        return node.stem + "*"
    if isinstance(node, Hashtag):
        return "#" + node.tag
    if isinstance(node, Mention):
        return node.handle
    if isinstance(node, Filter):
        return f"{node.field}:{node.value}"
    if isinstance(node, Regex):
        return "/" + node.pattern.replace("/", "\\/") + "/"
    if isinstance(node, Not):
        return f"NOT {unparse(node.child)}"
    if isinstance(node, Near):
        op = "ONEAR" if node.ordered else "NEAR"
        return f"({unparse(node.left)} {op}/{node.distance} {unparse(node.right)})"
    joiner = " AND " if isinstance(node, And) else " OR "
    return "(" + joiner.join(unparse(c) for c in node.children) + ")"


__all__ = ["Atom", "QueryError", "parse", "regex_options", "unparse"]
