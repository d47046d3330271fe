"""Detector findings per post: what the enrich stage found in each stored text version.

One row per finding — a classifier's verdict (threat, sentiment …) or a span detector's hit
(personal data, confidential marker, protected name …) — plus one row of kind ``urgency`` when
the post scored any urgency, keyed by the post, its text version and the finding's position.
:meth:`Store.write_batch` writes them in the same transaction as the post (one ``executemany``
per batch); a re-delivered post adds nothing (``ON CONFLICT DO NOTHING``), an edited post gets
the findings of its new text. Deleting a post deletes its findings (foreign-key cascade), so
retention needs nothing more.

A classifier's ``"none"`` verdict (nothing found) is not stored: it is the common case and says
nothing a reader needs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import orjson
import sqlalchemy as sa
from sqlalchemy import Column, Float, ForeignKey, Integer, PrimaryKeyConstraint, Table, Text

from veille.model import SEVERITIES, Enrichment, Finding, Severity, Urgency
from veille.store.schema import RowId, metadata
from veille.store.sql import CHUNK
from veille.store.types import JSONText, Timestamp

URGENCY: Final = "urgency"
"""Kind (and detector) of the row holding a post's urgency: label = severity, score = points,
explanation = the reasons, one per line."""

MAX_NAME: Final = 64
"""Longest kind, detector or label kept."""
MAX_EXPLANATION: Final = 1000
"""Longest explanation kept (cut with a marker)."""
MAX_SPANS: Final = 100
"""Most spans kept per finding."""

COLUMNS: Final = (
    "post_id",
    "post_version",
    "seq",
    "kind",
    "detector",
    "label",
    "score",
    "spans",
    "explanation",
    "found_at",
)

findings: Final = Table(
    "findings",
    metadata,
    Column("post_id", RowId, ForeignKey("posts.id", ondelete="CASCADE"), nullable=False),
    Column("post_version", Integer, nullable=False),
    Column("seq", Integer, nullable=False),
    Column("kind", Text, nullable=False),
    Column("detector", Text, nullable=False),
    Column("label", Text, nullable=False, server_default=""),
    Column("score", Float, nullable=False),
    Column("spans", JSONText, nullable=False, server_default="[]"),
    Column("explanation", Text, nullable=False, server_default=""),
    Column("found_at", Timestamp, nullable=False),
    PrimaryKeyConstraint("post_id", "post_version", "seq"),
    sqlite_with_rowid=False,
)
"""What the detectors found in a post at a text version (``seq`` orders a post's findings)."""


def _cut(value: str, limit: int) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"


def kept(enrichment: Enrichment) -> list[Finding]:
    """The findings of ``enrichment`` worth storing, urgency last as a finding of its own."""
    out = [f for f in enrichment.findings if not (f.is_verdict and f.label == "none")]
    urgency = enrichment.urgency
    if urgency.score > 0 or urgency.severity != "info":
        out.append(
            Finding(
                kind=URGENCY,
                detector=URGENCY,
                label=urgency.severity,
                score=urgency.score,
                explanation="\n".join(urgency.reasons),
            )
        )
    return out


def rows(
    post_id: int, post_version: int, enrichment: Enrichment, found_at: Any
) -> list[tuple[Any, ...]]:
    """The rows of one post's findings, in :data:`COLUMNS` order (``found_at`` already bound
    for the engine)."""
    return [
        (
            post_id,
            post_version,
            seq,
            _cut(f.kind, MAX_NAME),
            _cut(f.detector, MAX_NAME),
            _cut(f.label, MAX_NAME),
            float(f.score),
            orjson.dumps(f.spans[:MAX_SPANS]).decode() if f.spans else "[]",
            _cut(f.explanation, MAX_EXPLANATION),
            found_at,
        )
        for seq, f in enumerate(kept(enrichment))
    ]


def current(
    conn: sa.Connection, versions: Mapping[int, int]
) -> dict[int, tuple[tuple[Finding, ...], Urgency | None]]:
    """The findings of each post's current text version (``versions``: post id → version)."""
    f = findings.c
    out: dict[int, tuple[list[Finding], Urgency | None]] = {}
    ids = list(versions)
    for start in range(0, len(ids), CHUNK):
        query = (
            sa.select(findings)
            .where(f.post_id.in_(ids[start : start + CHUNK]))
            .order_by(f.post_id, f.post_version, f.seq)
        )
        for r in conn.execute(query):
            if r.post_version != versions[r.post_id]:
                continue
            found, _ = out.setdefault(r.post_id, ([], None))
            if r.kind == URGENCY:
                out[r.post_id] = (found, _urgency(r))
            else:
                found.append(
                    Finding(
                        kind=r.kind,
                        detector=r.detector,
                        label=r.label,
                        score=r.score,
                        spans=tuple((int(s), int(e)) for s, e in r.spans),
                        explanation=r.explanation,
                    )
                )
    return {post_id: (tuple(found), urgency) for post_id, (found, urgency) in out.items()}


def _urgency(row: Any) -> Urgency:
    severity: Severity = next((s for s in SEVERITIES if s == row.label), "info")
    reasons = tuple(line for line in row.explanation.split("\n") if line)
    return Urgency(severity=severity, score=row.score, reasons=reasons)
