"""The rule catalogue as the dashboard sees it: read, validate, edit and dry-run rules.

Rules are code: they live in the TOML rule files of ``[rules] paths``. An edit made in the
dashboard rewrites the rule's ``[[rule]]`` table in its file (comments and layout of the rest
kept, via tomlkit), only after the whole new file has been loaded without error, and
atomically (temporary file + rename). New rules go to ``web.toml`` in the first rules folder.
Each edit is kept with its author and reason (``rule_edits``) and in the audit log.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from threading import Lock
from typing import Any, Final, Literal

import orjson
import tomlkit
from tomlkit.items import AoT, Table

from veille.match.matcher import Matcher
from veille.model import SEVERITIES, Match, Post
from veille.rules.check import check_rule
from veille.rules.files import Loaded, expand, load, load_text
from veille.rules.parser import QueryError, parse
from veille.rules.rule import Rule
from veille.rules.versions import VersionRegistry
from veille.store import Store
from veille.store.reads import StoredPost

FIELDS: Final = (
    "id",
    "name",
    "query",
    "severity",
    "tags",
    "owner",
    "description",
    "enabled",
    "evasion",
)
NEW_RULES_FILE: Final = "web.toml"
MAX_EXAMPLES: Final = 20


class RuleConflict(Exception):
    """The rule changed since the editor loaded it (someone else saved first)."""


@dataclass(frozen=True, slots=True)
class Problem:
    """A validation error or warning, located in the field (and in the query text)."""

    level: Literal["error", "warning"]
    field: str
    message: str
    start: int = 0
    end: int = 0


@dataclass(frozen=True, slots=True)
class RuleDraft:
    """What the editor sends: a rule's fields as text and flags."""

    id: str
    query: str
    severity: str = "medium"
    name: str = ""
    description: str = ""
    tags: tuple[str, ...] = ()
    owner: str = ""
    enabled: bool = True
    evasion: bool = False

    @classmethod
    def of(cls, rule: Rule) -> RuleDraft:
        return cls(
            id=rule.id,
            query=rule.query.source,
            severity=rule.severity,
            name=rule.name,
            description=rule.description,
            tags=rule.tags,
            owner=rule.owner,
            enabled=rule.enabled,
            evasion=rule.evasion,
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "query": self.query,
            "severity": self.severity,
            "tags": list(self.tags),
            "owner": self.owner,
            "description": self.description,
            "enabled": self.enabled,
            "evasion": self.evasion,
        }

    def toml_table(self) -> Table:
        table = tomlkit.table()
        for key, value in self.as_dict().items():
            if key in ("name", "owner", "description") and not value:
                continue
            if key == "tags" and not value:
                continue
            if (key, value) in (("enabled", True), ("evasion", False)):
                continue
            table[key] = value
        return table

    def rule(self) -> Rule:
        return Rule.of(
            self.id,
            self.query,
            severity=self.severity,
            name=self.name,
            description=self.description,
            tags=self.tags,
            owner=self.owner,
            enabled=self.enabled,
            evasion=self.evasion,
        )


def etag(draft: RuleDraft | None) -> str:
    """A short digest of a rule's fields: the editor sends it back to detect lost updates."""
    if draft is None:
        return ""
    body = orjson.dumps(draft.as_dict(), option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(body).hexdigest()[:16]


@dataclass(slots=True)
class DryRun:
    """What a rule would have matched in the archive over a period."""

    since: datetime
    scanned: int = 0
    matched: int = 0
    truncated: bool = False
    """The archive had more posts than the dry-run may read; counts cover the newest part."""
    per_day: dict[str, int] = field(default_factory=dict)
    examples: list[tuple[StoredPost, Match]] = field(default_factory=list)
    compared: bool = False
    """The rule already existed: ``only_new``/``only_old`` compare with its saved version."""
    only_new: int = 0
    only_old: int = 0


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class Rulebook:
    """The rule files of ``paths``, reloaded when they change on disk."""

    def __init__(
        self, paths: Sequence[str | Path], registry: VersionRegistry, *, writable: bool = True
    ) -> None:
        self.paths = [Path(p) for p in paths]
        self.registry = registry
        self.writable = writable
        """False for rules that are not the installation's own (the demo's starter rules)."""
        self._lock = Lock()
        self._signature: tuple[tuple[str, int, int], ...] = ()
        self._loaded = Loaded()
        self._index: dict[str, Rule] = {}
        self._tags: dict[str, tuple[str, ...]] = {}

    def _current_signature(self) -> tuple[tuple[str, int, int], ...]:
        out = []
        for path in expand(p for p in self.paths if p.exists()):
            try:
                st = path.stat()
            except OSError:
                continue
            out.append((str(path), st.st_mtime_ns, st.st_size))
        return tuple(out)

    def loaded(self) -> Loaded:
        """The rules and diagnostics of the files as they are now."""
        with self._lock:
            signature = self._current_signature()
            if signature != self._signature:
                self._loaded = load(p for p in self.paths if p.exists())
                self._index = {r.id: r for r in self._loaded.rules}
                self._tags = {r.id: r.tags for r in self._loaded.rules}
                self._signature = signature
            return self._loaded

    def rules(self) -> list[Rule]:
        return self.loaded().rules

    def get(self, rule_id: str) -> Rule | None:
        self.loaded()
        return self._index.get(rule_id)

    def tags(self) -> dict[str, tuple[str, ...]]:
        """Each rule's tags (what watch lists select on); do not modify."""
        self.loaded()
        return self._tags

    # -- validation --------------------------------------------------------------------------

    def validate(self, draft: RuleDraft, *, creating: bool) -> list[Problem]:
        """Errors (which block saving) and warnings, each on its field."""
        problems: list[Problem] = []
        loaded = Loaded()
        # The file loader is the one judge of ids, severities and bounds: ask it.
        load_text(tomlkit.dumps({"rule": [draft.toml_table()]}), "<editor>", loaded)
        for d in loaded.errors:
            name = d.message.split(" ", 1)[0]
            if name in FIELDS and name != "query":
                problems.append(Problem("error", name, d.message))
        try:
            parsed = parse(draft.query)
        except QueryError as exc:
            problems.append(Problem("error", "query", exc.message, exc.start, exc.end))
            parsed = None
        if draft.severity not in SEVERITIES and not any(p.field == "severity" for p in problems):
            problems.append(
                Problem("error", "severity", f"severity must be one of {', '.join(SEVERITIES)}")
            )
        if creating and self.get(draft.id) is not None:
            problems.append(Problem("error", "id", f"a rule with id {draft.id!r} already exists"))
        if parsed is not None and not any(p.level == "error" for p in problems):
            for message in check_rule(draft.rule()):
                problems.append(Problem("warning", "query", message))
        return problems

    # -- editing -----------------------------------------------------------------------------

    def _target(self, rule: Rule | None) -> Path:
        if rule is not None and rule.file:
            return Path(rule.file)
        first = self.paths[0] if self.paths else Path("rules")
        return first / NEW_RULES_FILE if first.suffix != ".toml" else first

    def save(
        self, draft: RuleDraft, *, creating: bool, expect: str = ""
    ) -> tuple[Rule, RuleDraft | None, int, str]:
        """Write the rule to its file; returns (rule, previous draft, query version, file).

        ``expect`` is the etag the editor loaded; a different current etag raises
        :class:`RuleConflict`. Validation errors raise ValueError with the problems.
        """
        if not self.writable:
            raise RuleConflict("these rules are read-only here: `veille init` gives you your own")
        with self._lock:
            self._signature = ()  # re-read the files after this write, whatever happens
            current = next(
                (r for r in load(p for p in self.paths if p.exists()).rules if r.id == draft.id),
                None,
            )
        if creating and current is not None:
            raise RuleConflict(f"a rule with id {draft.id!r} already exists")
        if not creating and current is None:
            raise KeyError(draft.id)
        before = RuleDraft.of(current) if current is not None else None
        if not creating and expect and etag(before) != expect:
            raise RuleConflict(f"rule {draft.id!r} was changed by someone else: reload it")
        errors = [p for p in self.validate(draft, creating=creating) if p.level == "error"]
        if errors:
            raise ValueError("; ".join(f"{p.field}: {p.message}" for p in errors))
        path = self._target(current)
        text = path.read_text(encoding="utf-8") if path.exists() else ""
        doc = tomlkit.parse(text)
        tables = doc.get("rule")
        if tables is None:
            tables = AoT([])
            doc.append("rule", tables)
        new_table = draft.toml_table()
        if current is None:
            tables.append(new_table)
        else:
            for index, table in enumerate(tables):
                if table.get("id") == draft.id:
                    tables[index] = new_table
                    break
            else:
                raise RuleConflict(f"rule {draft.id!r} moved out of {path}: reload it")
        new_text = tomlkit.dumps(doc)
        check = Loaded()
        load_text(new_text, str(path), check)
        if check.errors:
            raise ValueError("; ".join(d.format() for d in check.errors))
        _atomic_write(path, new_text)
        rule = next(r for r in check.rules if r.id == draft.id)
        version = self.registry.assign([(rule.id, rule.query.source)])[rule.id]
        return rule, before, version, str(path)

    # -- dry-run -----------------------------------------------------------------------------

    def dry_run(
        self,
        draft: RuleDraft,
        store: Store,
        *,
        days: float,
        now: datetime,
        max_posts: int,
        visible: Callable[[StoredPost], bool] = lambda _: True,
    ) -> DryRun:
        """Run the draft (and the saved rule, to compare) over the last ``days`` of archive.

        Reads at most ``max_posts`` posts, the newest; ``visible`` hides posts the caller may
        not see from the examples (they still count: counts are not personal data).
        """
        since = now - timedelta(days=days)
        trial = replace(draft.rule(), id="draft", enabled=True)
        rules = [trial]
        saved = self.get(draft.id)
        if saved is not None:
            rules.append(replace(saved, id="saved", enabled=True))
        matcher = Matcher(rules)
        result = DryRun(since=since, compared=saved is not None)
        # Newest first, a day at a time, so a capped run covers the most recent posts.
        until = now
        while until > since and not result.truncated:
            start = max(since, until - timedelta(days=1))
            for batch in store.iter_posts(since=start, until=until, batch_size=2000):
                for stored in reversed(batch):
                    if result.scanned >= max_posts:
                        result.truncated = True
                        break
                    self._try(matcher, stored, result, visible)
                if result.truncated:
                    break
            until = start
        return result

    @staticmethod
    def _try(
        matcher: Matcher,
        stored: StoredPost,
        result: DryRun,
        visible: Callable[[StoredPost], bool],
    ) -> None:
        result.scanned += 1
        found = {m.rule: m for m in matcher.match(stored.post)}
        new, old = found.get("draft"), found.get("saved")
        if new is not None:
            result.matched += 1
            day = (stored.post.created_at or stored.stored_at).date().isoformat()
            result.per_day[day] = result.per_day.get(day, 0) + 1
            if len(result.examples) < MAX_EXAMPLES and visible(stored):
                result.examples.append((stored, new))
        if result.compared:
            result.only_new += new is not None and old is None
            result.only_old += old is not None and new is None


def draft_post(text: str, lang: str = "", platform: str = "test") -> Post:
    """A post made of the editor's test-box text (to try a rule without the archive)."""
    return Post(platform=platform, native_id="test", text=text, lang=lang)
