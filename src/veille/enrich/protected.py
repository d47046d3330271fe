"""Protected staff (doxxing): names matched by keyed hash, never held or logged in clear.

The list file holds, for each protected person, a keyed BLAKE2b hash of the name folded exactly
like rules fold text (:func:`veille.normalise.fold.fold_word`), its number of words, a 16-bit
checksum of its first word, and an opaque label ("officer 4711") that explanations and alerts
show instead of the name. The key is the file's random salt plus an optional *pepper* kept
outside the file (``VEILLE_DETECT__PROTECTED__PEPPER``): with a pepper, the file alone does not
let anyone test guesses against it.

At run time, windows of the post's folded words with a listed length are hashed and looked up;
the first-word checksum (shared by many words, so it reveals little) skips almost every window.
A protected name next to personal data, an address or a place is *doxxing*.
"""

from __future__ import annotations

import hashlib
import json
import os
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Final, NamedTuple

from veille.enrich.base import Document
from veille.enrich.lexicon import Lexicon, load_lexicon
from veille.model import Finding, Span
from veille.normalise.fold import fold_word

FORMAT_VERSION: Final = 1
MAX_WORDS: Final = 6
"""Longest name, in folded words, that the list accepts."""
_CACHE_LIMIT: Final = 200_000

_KIND_WORDS: Final = {
    "national_id": "a national register number",
    "iban": "a bank account",
    "payment_card": "a payment card",
    "phone": "a phone number",
    "email": "an e-mail address",
    "licence_plate": "a licence plate",
    "gps": "GPS coordinates",
    "address": "an address",
}


class Entry(NamedTuple):
    """One protected person as stored: no name, only what matching needs."""

    label: str
    words: int
    first: int


@dataclass(slots=True)
class ProtectedList:
    """The hashed names of protected people, with their opaque labels."""

    salt: bytes
    pepper: bytes = b""
    entries: dict[bytes, Entry] = field(default_factory=dict)
    """Keyed hash of the folded name → entry."""

    @classmethod
    def new(cls, pepper: str = "") -> ProtectedList:
        """An empty list with a fresh random salt."""
        return cls(salt=os.urandom(16), pepper=pepper.encode())

    @classmethod
    def load(cls, path: str | Path, pepper: str = "") -> ProtectedList:
        """Read a list written by :meth:`save`; errors name the file and the entry."""
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("version") != FORMAT_VERSION:
                raise ValueError(f"unsupported version {data.get('version')!r}")
            protected = cls(salt=bytes.fromhex(data["salt"]), pepper=pepper.encode())
            for number, raw in enumerate(data["entries"], 1):
                try:
                    digest = bytes.fromhex(raw["hash"])
                    entry = Entry(str(raw["label"]), int(raw["words"]), int(raw["first"]))
                    if len(digest) != 16 or not 1 <= entry.words <= MAX_WORDS:
                        raise ValueError("bad hash or word count")
                except (KeyError, TypeError, ValueError) as exc:
                    raise ValueError(f"entry {number}: {exc}") from exc
                protected.entries[digest] = entry
        except (OSError, KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"protected-names file {path}: {exc}") from exc
        return protected

    def save(self, path: str | Path) -> None:
        """Write the list atomically, readable by its owner only (hashes and labels, no name)."""
        entries = [
            {"hash": digest.hex(), "words": e.words, "first": e.first, "label": e.label}
            for digest, e in sorted(self.entries.items(), key=lambda item: item[1].label)
        ]
        data = {"version": FORMAT_VERSION, "salt": self.salt.hex(), "entries": entries}
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        tmp.touch(mode=0o600)
        tmp.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
        tmp.replace(path)

    def add(self, name: str, label: str) -> int:
        """Protect ``name`` (any spelling: it is folded first); returns its number of words."""
        words = fold_word(name).split()
        if not words:
            raise ValueError("a protected name needs at least one word")
        if len(words) > MAX_WORDS:
            raise ValueError(f"a protected name has at most {MAX_WORDS} words")
        if not label.strip():
            raise ValueError("a protected name needs a label (shown instead of the name)")
        self.entries[self.digest(words)] = Entry(label, len(words), self.checksum(words[0]))
        return len(words)

    def remove(self, label: str) -> int:
        """Forget every entry with ``label``; returns how many were removed."""
        gone = [d for d, e in self.entries.items() if e.label == label]
        for digest in gone:
            del self.entries[digest]
        return len(gone)

    def digest(self, words: Sequence[str]) -> bytes:
        """Keyed hash of folded words (salt + pepper as the key)."""
        key = hashlib.sha256(self.salt + self.pepper).digest()
        return hashlib.blake2b(" ".join(words).encode(), key=key, digest_size=16).digest()

    def checksum(self, word: str) -> int:
        """16-bit salted checksum of a folded word: thousands of words share each value."""
        return zlib.crc32(word.encode(), zlib.crc32(self.salt)) & 0xFFFF

    def __len__(self) -> int:
        return len(self.entries)


class ProtectedDetector:
    """Finds protected names in a post; :func:`doxxing` combines them with other hits."""

    name = "protected"

    def __init__(self, protected: ProtectedList) -> None:
        self.protected = protected
        self._lengths = sorted({e.words for e in protected.entries.values()}, reverse=True)
        self._firsts = {e.first for e in protected.entries.values()}
        self._key = hashlib.sha256(protected.salt + protected.pepper).digest()
        self._passes: dict[str, bool] = {}

    def _may_start(self, word: str) -> bool:
        passes = self._passes.get(word)
        if passes is None:
            if len(self._passes) > _CACHE_LIMIT:
                self._passes.clear()
            passes = self.protected.checksum(word) in self._firsts
            self._passes[word] = passes
        return passes

    def detect(self, doc: Document) -> list[Finding]:
        """One finding per protected name found (its label, never the name)."""
        if not self.protected.entries:
            return []
        tokens, spans = doc.folded.tokens, doc.folded.spans
        entries = self.protected.entries
        found = []
        i = 0
        while i < len(tokens):
            step = 1
            if self._may_start(tokens[i]):
                for length in self._lengths:
                    if i + length > len(tokens):
                        continue
                    window = " ".join(tokens[i : i + length]).encode()
                    digest = hashlib.blake2b(window, key=self._key, digest_size=16).digest()
                    entry = entries.get(digest)
                    if entry is not None:
                        found.append(
                            _name_hit(entry.label, (spans[i][0], spans[i + length - 1][1]))
                        )
                        step = length
                        break
            i += step
        return found


def _name_hit(label: str, span: Span) -> Finding:
    return Finding(
        kind="protected_name",
        detector="protected",
        score=0.95,
        spans=(span,),
        explanation=f"names protected person {label!r}",
    )


@cache
def _places() -> Lexicon:
    return load_lexicon("veille.data.lexicons", "places.toml")


def doxxing(doc: Document, findings: Iterable[Finding]) -> list[Finding]:
    """A ``doxxing`` finding for each protected name that appears with something that locates
    or identifies the person: personal data, an address, coordinates, a plate, a place name,
    or words about where they live or work."""
    findings = list(findings)
    names = [f for f in findings if f.kind == "protected_name"]
    if not names:
        return []
    located = [f for f in findings if f.detector == "personal_data"]
    reasons = [_KIND_WORDS.get(f.kind, f.kind) for f in located]
    spans = [f.spans[0] for f in located if f.spans]
    folded = doc.folded
    for hit in _places().hits(folded.tokens):
        reasons.append("a place" if hit.category == "place" else "where they live or work")
        spans.append((folded.spans[hit.first][0], folded.spans[hit.last - 1][1]))
    if not reasons:
        return []
    what = ", ".join(dict.fromkeys(reasons))
    return [
        Finding(
            kind="doxxing",
            detector="protected",
            score=1.0 if located else 0.9,
            spans=(name.spans[0], *sorted(set(spans))),
            explanation=f"{name.explanation} together with {what}",
        )
        for name in names
    ]
