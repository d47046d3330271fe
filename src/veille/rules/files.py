"""Rule files: TOML with one ``[[rule]]`` table per rule, loaded with precise diagnostics.

Every problem is reported with file, line and column (and the source line with a caret under
the fault), because rule authors fix what they can see. A file with errors contributes no rule;
the other files still load, so one typo does not silence the whole catalogue of a check.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Final, Literal

import rtoml

from veille.model import SEVERITIES
from veille.rules.bulk import collector_paused
from veille.rules.parser import QueryError, parse
from veille.rules.rule import Rule

MAX_FILE_BYTES: Final = 64 << 20
MAX_RULES_PER_FILE: Final = 200_000
MAX_TEXT_FIELD: Final = 10_000
_ID: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,199}")
_KEYS: Final = {
    "id",
    "query",
    "severity",
    "name",
    "description",
    "tags",
    "owner",
    "enabled",
    "evasion",
}
_HEADERS: Final = re.compile(r"^[^\S\n]*\[\[[^\S\n]*rule[^\S\n]*\]\]", re.MULTILINE)
_TABLE: Final = re.compile(r"\s*\[")
_TOML_POSITION: Final = re.compile(r"\(at line (\d+), column (\d+)\)")


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """An error or warning about a rule file, located for a human."""

    level: Literal["error", "warning"]
    message: str
    file: str
    line: int = 0
    column: int = 0
    length: int = 1
    source_line: str = ""
    rule: str = ""

    def format(self) -> str:
        """``file:line:col: level: message`` then the line and a caret under the fault."""
        where = self.file
        if self.line:
            where += f":{self.line}:{self.column}" if self.column else f":{self.line}"
        out = f"{where}: {self.level}: {self.message}"
        if self.rule:
            out += f" [rule {self.rule}]"
        if self.source_line and self.column:
            out += f"\n  {self.source_line}\n  {' ' * (self.column - 1)}{'^' * self.length}"
        return out


@dataclass(slots=True)
class Loaded:
    """What loading rule files produced: the good rules and every diagnostic."""

    rules: list[Rule] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.level == "error"]


class RuleFileError(ValueError):
    """Raised by :func:`load_rules` when any rule file has errors; carries all of them."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        self.diagnostics = diagnostics
        super().__init__("\n".join(d.format() for d in diagnostics))


def expand(paths: Iterable[str | Path]) -> list[Path]:
    """Files as given, and every ``*.toml`` (sorted) of each folder given."""
    out: list[Path] = []
    for p in map(Path, paths):
        out += sorted(p.glob("*.toml")) if p.is_dir() else [p]
    return out


class _Locator:
    """Finds where keys and query characters of the n-th ``[[rule]]`` sit in the file text."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.lines = text.split("\n")
        self.headers: list[int] = []
        line = previous = 0
        for m in _HEADERS.finditer(text):
            line += text.count("\n", previous, m.start())
            previous = m.start()
            self.headers.append(line)

    @cached_property
    def line_starts(self) -> list[int]:
        """Offset of each line's first character (only diagnostics need it)."""
        starts = [0]
        for line in self.lines[:-1]:
            starts.append(starts[-1] + len(line) + 1)
        return starts

    def block(self, index: int) -> range:
        if index >= len(self.headers):
            return range(0)
        start = self.headers[index]
        end = start + 1
        while end < len(self.lines) and not _TABLE.match(self.lines[end]):
            end += 1
        return range(start, end)

    @cached_property
    def index_of_header(self) -> dict[int, int]:
        """0-based header line → index of its ``[[rule]]``."""
        return {line: index for index, line in enumerate(self.headers)}

    def header_line(self, index: int) -> int:
        return self.headers[index] + 1 if index < len(self.headers) else 0

    def key(self, index: int, key: str) -> tuple[int, int] | None:
        """(0-based line, column of the value) of ``key = …`` in the n-th rule block."""
        pattern = re.compile(rf"\s*{re.escape(key)}\s*=\s*")
        for i in self.block(index):
            m = pattern.match(self.lines[i])
            if m:
                return i, m.end()
        return None

    def position(self, offset: int) -> tuple[int, int]:
        """1-based (line, column) of an absolute offset in the file text."""
        lo, hi = 0, len(self.line_starts) - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self.line_starts[mid] <= offset:
                lo = mid
            else:
                hi = mid - 1
        return lo + 1, offset - self.line_starts[lo] + 1

    def string_offsets(self, start: int, expected: str) -> list[int] | None:
        """Absolute offset of each character of the TOML string starting at ``start``, plus
        one past its end; ``None`` when the raw text does not decode to ``expected``."""
        text = self.text
        for quote in ("'''", '"""', "'", '"'):
            if text.startswith(quote, start):
                break
        else:
            return None
        i = start + len(quote)
        if len(quote) == 3 and text.startswith("\n", i):
            i += 1
        offsets: list[int] = []
        decoded: list[str] = []
        escapes = quote[0] == '"'
        while i < len(text) and not text.startswith(quote, i):
            if escapes and text[i] == "\\":
                nxt = text[i + 1 : i + 2]
                if nxt in ("u", "U"):
                    width = 4 if nxt == "u" else 8
                    try:
                        decoded.append(chr(int(text[i + 2 : i + 2 + width], 16)))
                    except ValueError:
                        return None
                    offsets.append(i)
                    i += 2 + width
                    continue
                if nxt in ("\n", " ", "\t", "\r") and len(quote) == 3:
                    i += 1
                    while i < len(text) and text[i] in " \t\r\n":
                        i += 1
                    continue
                simple = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f"}
                decoded.append(simple.get(nxt, nxt))
                offsets.append(i)
                i += 2
                continue
            decoded.append(text[i])
            offsets.append(i)
            i += 1
        offsets.append(i)
        return offsets if "".join(decoded) == expected else None


def _diagnostic(
    level: Literal["error", "warning"],
    message: str,
    file: str,
    loc: _Locator,
    line0: int | None,
    column0: int = 0,
    length: int = 1,
    rule: str = "",
) -> Diagnostic:
    if line0 is None:
        return Diagnostic(level, message, file, rule=rule)
    source = loc.lines[line0] if 0 <= line0 < len(loc.lines) else ""
    length = max(1, min(length, len(source) - column0))
    return Diagnostic(level, message, file, line0 + 1, column0 + 1, length, source, rule)


def _query_diagnostic(
    level: Literal["error", "warning"],
    message: str,
    start: int,
    end: int,
    query: str,
    file: str,
    loc: _Locator,
    index: int,
    rule: str,
) -> Diagnostic:
    """A diagnostic pointing at characters ``[start, end)`` of the n-th rule's query."""
    key = loc.key(index, "query")
    if key is None:
        return _diagnostic(level, message, file, loc, None, rule=rule)
    line0, col0 = key
    offsets = loc.string_offsets(loc.line_starts[line0] + col0, query)
    if offsets is None:
        return _diagnostic(level, message, file, loc, line0, col0, rule=rule)
    first = offsets[min(start, len(offsets) - 1)]
    last = offsets[min(end, len(offsets) - 1)]
    line, column = loc.position(first)
    end_line, end_column = loc.position(last)
    length = end_column - column if end_line == line else len(loc.lines[line - 1]) - column + 1
    return _diagnostic(level, message, file, loc, line - 1, column - 1, length, rule)


def _query_error(
    exc: QueryError, query: str, file: str, loc: _Locator, index: int, rule: str
) -> Diagnostic:
    return _query_diagnostic(
        "error", exc.message, exc.start, exc.end, query, file, loc, index, rule
    )


def _text_field(raw: dict[str, Any], key: str) -> str:
    value = raw.get(key, "")
    if not isinstance(value, str):
        raise TypeError(f"{key} must be a string")
    if len(value) > MAX_TEXT_FIELD:
        raise TypeError(f"{key} is longer than {MAX_TEXT_FIELD} characters")
    return value


def _flag(raw: dict[str, Any], key: str, default: bool) -> bool:
    value = raw.get(key, default)
    if not isinstance(value, bool):
        raise TypeError(f"{key} must be true or false")
    return value


def _rule(raw: dict[str, Any], file: str, line: int) -> Rule:
    """Build one rule from its table; raises TypeError (field) or QueryError (query)."""
    severity = raw.get("severity")
    if severity not in SEVERITIES:
        raise TypeError(f"severity must be one of {', '.join(SEVERITIES)}")
    tags = raw.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise TypeError("tags must be a list of strings")
    return Rule(
        id=raw["id"],
        query=parse(raw["query"]),
        severity=severity,
        name=_text_field(raw, "name"),
        description=_text_field(raw, "description"),
        tags=tuple(tags),
        owner=_text_field(raw, "owner"),
        enabled=_flag(raw, "enabled", True),
        evasion=_flag(raw, "evasion", False),
        file=file,
        line=line,
    )


def _field_of(message: str) -> str:
    return message.split(" ", 1)[0]


def _key_error(
    message: str,
    key: str | None,
    index: int,
    file: str,
    loc: _Locator,
    rule: str = "",
    level: Literal["error", "warning"] = "error",
) -> Diagnostic:
    """An error (or warning) located at ``key = …`` in the n-th rule, or at its header."""
    where = loc.key(index, key) if key else None
    if where:
        line0, col0 = where
        return _diagnostic(
            level, message, file, loc, line0, col0, len(loc.lines[line0]) - col0, rule
        )
    header = loc.header_line(index)
    return _diagnostic(level, message, file, loc, header - 1 if header else None, 0, 8, rule)


def _check_table(raw: dict[str, Any], index: int, file: str, loc: _Locator) -> Diagnostic | None:
    """Structural problems of one ``[[rule]]`` table (id, unknown keys, query type)."""
    rule_id = raw.get("id")
    if not isinstance(rule_id, str) or not _ID.fullmatch(rule_id):
        message = "id is required: letters, digits and _ . : - (at most 200, no spaces)"
        return _key_error(message, "id" if "id" in raw else None, index, file, loc)
    extra = sorted(raw.keys() - _KEYS)
    if extra:
        message = f"unknown key {extra[0]!r} (known: {', '.join(sorted(_KEYS))})"
        return _key_error(message, extra[0], index, file, loc, rule_id)
    if not isinstance(raw.get("query"), str):
        message = "query is required and must be a string"
        return _key_error(message, "query" if "query" in raw else None, index, file, loc, rule_id)
    return None


def _toml(text: str) -> dict[str, Any]:
    """Parse TOML with rtoml (Rust, eight times faster on large catalogues); when it refuses,
    tomllib, the reference, decides and words the error with its line and column."""
    try:
        return rtoml.loads(text)
    except rtoml.TomlParsingError:
        return tomllib.loads(text)


def load_text(text: str, file: str, loaded: Loaded) -> None:
    """Parse one rule file's text into ``loaded`` (rules and diagnostics)."""
    text = text.removeprefix("\ufeff")  # a byte-order mark some editors write is not TOML
    loc = _Locator(text)
    try:
        data = _toml(text)
    except RecursionError:
        loaded.diagnostics.append(
            _diagnostic("error", "invalid TOML: nested too deeply", file, loc, None)
        )
        return
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        m = _TOML_POSITION.search(message)
        if m:
            message = message[: m.start()].strip()
            line0, col0 = int(m.group(1)) - 1, int(m.group(2)) - 1
            loaded.diagnostics.append(
                _diagnostic("error", f"invalid TOML: {message}", file, loc, line0, col0)
            )
        else:
            loaded.diagnostics.append(
                _diagnostic("error", f"invalid TOML: {message}", file, loc, None)
            )
        return
    unknown = sorted(set(data) - {"rule"})
    if unknown:
        message = (
            f"unknown top-level key(s) {', '.join(unknown)}: a rule file holds [[rule]] tables"
        )
        loaded.diagnostics.append(Diagnostic("error", message, file))
    tables = data.get("rule", [])
    if not isinstance(tables, list):
        loaded.diagnostics.append(
            _diagnostic(
                "error", "'rule' must be an array of tables: write [[rule]]", file, loc, None
            )
        )
        return
    if len(tables) > MAX_RULES_PER_FILE:
        loaded.diagnostics.append(
            _diagnostic(
                "error", f"more than {MAX_RULES_PER_FILE} rules in one file", file, loc, None
            )
        )
        return
    good: list[Rule] = []
    errors = 0
    for index, raw in enumerate(tables):
        problem = _check_table(raw, index, file, loc)
        if problem is None:
            try:
                good.append(_rule(raw, file, loc.header_line(index)))
                continue
            except QueryError as exc:
                problem = _query_error(exc, raw["query"], file, loc, index, raw["id"])
            except TypeError as exc:
                problem = _key_error(str(exc), _field_of(str(exc)), index, file, loc, raw["id"])
        loaded.diagnostics.append(problem)
        errors += 1
    if not errors:
        loaded.rules += good


def load(paths: Iterable[str | Path]) -> Loaded:
    """Load rule files and folders, collecting every diagnostic instead of stopping at one."""
    loaded = Loaded()
    texts: dict[str, str] = {}
    with collector_paused():
        for path in expand(paths):
            text = _read(path, loaded)
            if text is not None:
                texts[str(path)] = text
                load_text(text, str(path), loaded)
    _drop_duplicates(loaded, Sources(texts))
    return loaded


def _read(path: Path, loaded: Loaded | None = None) -> str | None:
    """A rule file's text, or None (with an error in ``loaded``) when it cannot be read."""
    name = str(path)
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            message = f"file larger than {MAX_FILE_BYTES >> 20} MiB"
        else:
            return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        message = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        message = f"cannot read: {message}"
    if loaded is not None:
        loaded.diagnostics.append(Diagnostic("error", message, name))
    return None


class Sources:
    """Rule files' texts (given, or read again when needed): points a finding about a rule at
    the exact place in its file (a key's value, or characters of its query), with a caret."""

    def __init__(self, texts: Mapping[str, str] | None = None) -> None:
        self.texts = texts or {}
        self._locators: dict[str, _Locator | None] = {}

    def _locator(self, file: str) -> _Locator | None:
        if file not in self._locators:
            text = self.texts.get(file)
            if text is None:
                text = _read(Path(file))
            self._locators[file] = _Locator(text.removeprefix("\ufeff")) if text else None
        return self._locators[file]

    def _find(self, rule: Rule) -> tuple[_Locator, int] | None:
        # A file changed since loading is caught below: the query must still be found, as
        # written, at the rule's place, or the diagnostic falls back to the rule's line.
        loc = self._locator(rule.file) if rule.file and rule.line else None
        if loc is None:
            return None
        index = loc.index_of_header.get(rule.line - 1)
        return None if index is None else (loc, index)

    def _unlocated(
        self, level: Literal["error", "warning"], message: str, rule: Rule
    ) -> Diagnostic:
        return Diagnostic(level, message, rule.file or "<rules>", rule.line, rule=rule.id)

    def at_key(
        self, level: Literal["error", "warning"], message: str, rule: Rule, key: str
    ) -> Diagnostic:
        """A diagnostic at the value of ``key = …`` in the rule's table."""
        found = self._find(rule)
        if found is None:
            return self._unlocated(level, message, rule)
        loc, index = found
        return _key_error(message, key, index, rule.file, loc, rule.id, level)

    def at_query(
        self, level: Literal["error", "warning"], message: str, rule: Rule, start: int, end: int
    ) -> Diagnostic:
        """A diagnostic under characters ``[start, end)`` of the rule's query."""
        found = self._find(rule)
        if found is None:
            return self._unlocated(level, message, rule)
        loc, index = found
        source = rule.query.source
        return _query_diagnostic(level, message, start, end, source, rule.file, loc, index, rule.id)


def _drop_duplicates(loaded: Loaded, sources: Sources) -> None:
    first: dict[str, Rule] = {}
    kept: list[Rule] = []
    for rule in loaded.rules:
        if rule.id in first:
            message = (
                f"duplicate id {rule.id!r} (first defined at {first[rule.id].where}): "
                "this later definition is ignored"
            )
            loaded.diagnostics.append(sources.at_key("warning", message, rule, "id"))
        else:
            first[rule.id] = rule
            kept.append(rule)
    loaded.rules = kept


def load_rules(paths: Iterable[str | Path]) -> list[Rule]:
    """Load rules for use; raise :class:`RuleFileError` (with every error) if any file is bad."""
    loaded = load(paths)
    if loaded.errors:
        raise RuleFileError(loaded.errors)
    return loaded.rules
