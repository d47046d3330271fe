"""Temperature reports: volume and mood charts, spikes, top conversations, alerts and handling.

:func:`gather` reads the rollups and the alert tables of a window (optionally one watch list:
a set of rules); :func:`render_html` and :func:`render_pdf` lay the same figures out. The HTML
is one self-contained page (inline SVG, no script, every post-derived string escaped); the PDF
is drawn with fpdf2 (extra ``report``), DejaVu Sans when the system has it.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Final

import msgspec
import sqlalchemy as sa

from veille.model import Alert
from veille.store import alerts as alert_store
from veille.store import trends as st
from veille.trends.rollup import Bucket, Dimension, Granularity, TermKind, floor

if TYPE_CHECKING:
    from fpdf import FPDF

MAX_ROWS: Final = 10
FONT_PATHS: Final = (
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
    Path("/usr/share/fonts/TTF/DejaVuSans.ttf"),
)
COLOURS: Final = {"negative": "#c0392b", "neutral": "#95a5a6", "positive": "#27ae60"}


class Row(msgspec.Struct, frozen=True):
    """One line of a ranking: what, how many posts, mood."""

    name: str
    volume: int
    net: float = 0.0
    negative_share: float = 0.0


class Report(msgspec.Struct, kw_only=True):
    """Everything a report shows, gathered once and rendered as HTML or PDF."""

    title: str
    since: datetime
    until: datetime
    granularity: Granularity
    series: list[tuple[datetime, Bucket]]
    total: Bucket
    rules: list[Row]
    tags: list[Row]
    languages: list[Row]
    conversations: list[Row]
    terms: list[tuple[str, int]]
    hashtags: list[tuple[str, int]]
    domains: list[tuple[str, int]]
    spikes: list[Alert]
    alerts: list[Alert]


def _rows(
    conn: sa.Connection, dim: Dimension, since: datetime, until: datetime, only: set[str] | None
) -> list[Row]:
    out = []
    for value, _ in st.top_values(conn, dim, since, until, limit=200 if only else MAX_ROWS):
        if only is not None and value not in only:
            continue
        b = st.total(conn, dim, value, since, until)
        out.append(Row(value, b.volume, round(b.net_sentiment, 3), round(b.negative_share, 3)))
    return out[:MAX_ROWS]


def _terms(
    conn: sa.Connection,
    dim: Dimension,
    value: str,
    kind: TermKind,
    since: datetime,
    until: datetime,
) -> list[tuple[str, int]]:
    return st.top_terms(conn, dim, value, kind, since, until, MAX_ROWS)


def gather(
    engine: sa.Engine,
    since: datetime,
    until: datetime,
    *,
    rules: Sequence[str] = (),
    title: str = "veille — temperature report",
) -> Report:
    """The figures of ``[since, until)``; with ``rules`` (a watch list) only those rules."""
    span = until - since
    granularity: Granularity = "hour" if span <= timedelta(days=3) else "day"
    since = floor(since, "hour")
    only = set(rules) if rules else None
    with engine.connect() as conn:
        if only is None:
            series = st.series(conn, granularity, "all", "", since, until)
        else:
            merged: dict[datetime, Bucket] = {}
            for rule in sorted(only):
                for at, b in st.series(conn, granularity, "rule", rule, since, until):
                    merged.setdefault(at, Bucket()).add(b)
            series = sorted(merged.items())
        total = Bucket()
        for _, b in series:
            total.add(b)
        dim: Dimension = "all"
        value = ""
        if only is not None and len(only) == 1:
            dim, value = "rule", next(iter(only))
        recent = alert_store.list_alerts(conn, limit=500)
        in_window = [
            a
            for a in recent
            if since <= a.last_seen < until and (only is None or a.rule in only or not a.rule)
        ]
        return Report(
            title=title,
            since=since,
            until=until,
            granularity=granularity,
            series=series,
            total=total,
            rules=_rows(conn, "rule", since, until, only),
            tags=_rows(conn, "tag", since, until, None) if only is None else [],
            languages=_rows(conn, "lang", since, until, None) if only is None else [],
            conversations=_rows(conn, "conversation", since, until, None) if only is None else [],
            terms=_terms(conn, dim, value, "word", since, until),
            hashtags=_terms(conn, dim, value, "hashtag", since, until),
            domains=_terms(conn, dim, value, "domain", since, until),
            spikes=[a for a in in_window if a.kind == "trend"][: MAX_ROWS * 2],
            alerts=[a for a in in_window if a.kind != "trend"][: MAX_ROWS * 5],
        )


def handling(alert: Alert) -> str:
    """How an alert was handled, in words: acknowledged by whom, resolved, assigned, or open."""
    parts = []
    if alert.acknowledged_by:
        parts.append(f"acknowledged by {alert.acknowledged_by}")
    if alert.assignee:
        parts.append(f"assigned to {alert.assignee}")
    if alert.resolved_at is not None:
        parts.append(f"resolved{' by ' + alert.resolved_by if alert.resolved_by else ''}")
    return ", ".join(parts) or "open, not acknowledged"


# --- HTML ------------------------------------------------------------------------------------

_CSS = """
body{font:14px/1.45 "DejaVu Sans",Arial,sans-serif;color:#222;margin:2em auto;max-width:60em}
h1{font-size:1.6em}h2{font-size:1.2em;border-bottom:1px solid #ddd;margin-top:1.6em}
table{border-collapse:collapse;width:100%}td,th{padding:.25em .5em;border-bottom:1px solid #eee;
text-align:left}td.n{text-align:right}.neg{color:#c0392b}.pos{color:#27ae60}small{color:#666}
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _stack(b: Bucket) -> tuple[tuple[str, int], ...]:
    return (("negative", b.negative), ("neutral", b.neutral), ("positive", b.positive))


def _svg_volume(report: Report, width: int = 900, height: int = 220) -> str:
    """Stacked bars per bucket: negative, neutral and positive posts."""
    series = report.series
    if not series:
        return "<p>No posts in this window.</p>"
    top = max(b.volume for _, b in series) or 1
    bar = width / len(series)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height + 20}" '
        f'role="img" aria-label="volume per {report.granularity}">'
    ]
    for i, (at, b) in enumerate(series):
        y = float(height)
        for label, count in (
            ("negative", b.negative),
            ("neutral", b.neutral),
            ("positive", b.positive),
        ):
            h = count / top * (height - 10)
            y -= h
            parts.append(
                f'<rect x="{i * bar:.1f}" y="{y:.1f}" width="{max(bar - 1, 0.5):.1f}" '
                f'height="{h:.1f}" fill="{COLOURS[label]}">'
                f"<title>{at:%Y-%m-%d %H:%M} {label}: {count}</title></rect>"
            )
    parts.append(
        f'<text x="0" y="{height + 15}" font-size="11">{_e(series[0][0].strftime("%d/%m %H:%M"))}'
        f'</text><text x="{width}" y="{height + 15}" font-size="11" text-anchor="end">'
        f"{_e(series[-1][0].strftime('%d/%m %H:%M'))}</text></svg>"
    )
    return "".join(parts)


def _svg_net(report: Report, width: int = 900, height: int = 120) -> str:
    """Net sentiment per bucket as a line around zero."""
    points = [(i, b.net_sentiment) for i, (_, b) in enumerate(report.series) if b.volume]
    if len(points) < 2:
        return ""
    step = width / max(1, len(report.series) - 1)
    path = " ".join(f"{i * step:.1f},{height / 2 - v * height / 2:.1f}" for i, v in points)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
        f'aria-label="net sentiment"><line x1="0" y1="{height / 2}" x2="{width}" '
        f'y2="{height / 2}" stroke="#bbb"/><polyline fill="none" stroke="#2c3e50" '
        f'stroke-width="2" points="{path}"/></svg>'
    )


def _table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    if not rows:
        return "<p><small>Nothing in this window.</small></p>"
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="n">{_e(c)}</td>' if isinstance(c, int | float) else f"<td>{_e(c)}</td>"
            for c in row
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _mood_rows(rows: Sequence[Row]) -> list[list[object]]:
    return [[r.name, r.volume, f"{r.net:+.2f}", f"{r.negative_share:.0%}"] for r in rows]


def render_html(report: Report) -> str:
    """The report as one self-contained HTML page (no script; a CSP forbids any)."""
    t = report.total
    window = f"{report.since:%Y-%m-%d %H:%M} – {report.until:%Y-%m-%d %H:%M} UTC"
    sections = [
        f"<h1>{_e(report.title)}</h1><p>{_e(window)}</p>",
        f"<p><b>{t.volume}</b> posts · net sentiment <b>{t.net_sentiment:+.2f}</b> · "
        f'<span class="neg">{t.negative}</span> negative, {t.neutral} neutral, '
        f'<span class="pos">{t.positive}</span> positive · reach {t.reach:,}</p>',
        f"<h2>Volume and mood per {report.granularity}</h2>",
        _svg_volume(report),
        "<p><small>Bars: negative (red), neutral (grey), positive (green).</small></p>",
        "<h2>Net sentiment</h2>",
        _svg_net(report) or "<p><small>Too few posts.</small></p>",
        "<h2>Spikes</h2>",
        _table(
            ["when", "what", "details", "handling"],
            [
                [f"{a.first_seen:%d/%m %H:%M}", a.title, "; ".join(a.reasons[:3]), handling(a)]
                for a in report.spikes
            ],
        ),
        "<h2>Rules</h2>",
        _table(["rule", "posts", "net", "negative"], _mood_rows(report.rules)),
    ]
    if report.tags:
        sections += [
            "<h2>Tags</h2>",
            _table(["tag", "posts", "net", "negative"], _mood_rows(report.tags)),
        ]
    if report.languages:
        sections += [
            "<h2>Languages</h2>",
            _table(["language", "posts", "net", "negative"], _mood_rows(report.languages)),
        ]
    if report.conversations:
        sections += [
            "<h2>Top conversations</h2>",
            _table(["conversation", "posts", "net", "negative"], _mood_rows(report.conversations)),
        ]
    sections += [
        "<h2>Top terms</h2>",
        _table(["word", "posts"], report.terms),
        _table(["hashtag", "posts"], [[f"#{h}", n] for h, n in report.hashtags]),
        _table(["domain", "posts"], report.domains),
        "<h2>Alerts and their handling</h2>",
        _table(
            ["last seen", "severity", "kind", "title", "status", "handling"],
            [
                [f"{a.last_seen:%d/%m %H:%M}", a.severity, a.kind, a.title, a.status, handling(a)]
                for a in report.alerts
            ],
        ),
    ]
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'; img-src data:\">"
        f"<title>{_e(report.title)}</title><style>{_CSS}</style></head><body>"
        + "".join(sections)
        + "</body></html>"
    )


# --- PDF -------------------------------------------------------------------------------------


def render_pdf(report: Report) -> bytes:
    """The report as PDF: the same figures, charts drawn as vector rectangles and lines."""
    try:
        from fpdf import FPDF
    except ImportError as exc:  # pragma: no cover - the extra is part of [all]
        raise RuntimeError(
            "PDF reports need the 'report' extra: pip install 'veille[report]'"
        ) from exc

    pdf = FPDF(orientation="P", unit="mm", format="A4")
    pdf.set_auto_page_break(auto=True, margin=15)
    supported = _use_font(pdf)

    def clean(text: object) -> str:
        return "".join(c if ord(c) in supported else "?" for c in str(text))

    pdf.add_page()
    pdf.set_font_size(18)
    pdf.cell(0, 10, clean(report.title), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font_size(10)
    t = report.total
    pdf.cell(
        0, 6,
        clean(f"{report.since:%Y-%m-%d %H:%M} – {report.until:%Y-%m-%d %H:%M} UTC"),
        new_x="LMARGIN", new_y="NEXT",
    )  # fmt: skip
    pdf.cell(
        0, 6,
        clean(f"{t.volume} posts · net sentiment {t.net_sentiment:+.2f} · {t.negative} negative, "
              f"{t.neutral} neutral, {t.positive} positive · reach {t.reach:,}"),
        new_x="LMARGIN", new_y="NEXT",
    )  # fmt: skip
    _pdf_heading(pdf, clean(f"Volume and mood per {report.granularity}"))
    _pdf_bars(pdf, report)
    _pdf_heading(pdf, "Spikes")
    _pdf_table(
        pdf, clean,
        ["when", "what", "handling"],
        [[f"{a.first_seen:%d/%m %H:%M}", a.title, handling(a)] for a in report.spikes],
        [25, 110, 55],
    )  # fmt: skip
    _pdf_heading(pdf, "Rules")
    widths = [90, 30, 35, 35]
    _pdf_table(pdf, clean, ["rule", "posts", "net", "negative"], _mood_rows(report.rules), widths)
    if report.conversations:
        _pdf_heading(pdf, "Top conversations")
        rows = _mood_rows(report.conversations)
        _pdf_table(pdf, clean, ["conversation", "posts", "net", "negative"], rows, widths)
    _pdf_heading(pdf, "Top terms")
    terms = [[w, n] for w, n in report.terms] + [[f"#{h}", n] for h, n in report.hashtags]
    _pdf_table(pdf, clean, ["term", "posts"], terms, [90, 30])
    _pdf_heading(pdf, "Alerts and their handling")
    _pdf_table(
        pdf, clean,
        ["last seen", "severity", "title", "handling"],
        [[f"{a.last_seen:%d/%m %H:%M}", a.severity, a.title, handling(a)] for a in report.alerts],
        [25, 20, 95, 50],
    )  # fmt: skip
    return bytes(pdf.output())


def _use_font(pdf: FPDF) -> set[int]:
    """DejaVu Sans when installed (any script it covers), else Helvetica (Latin-1)."""
    for path in FONT_PATHS:
        if path.is_file():
            from fontTools.ttLib import TTFont

            pdf.add_font("DejaVu", "", str(path))
            pdf.add_font("DejaVu", "B", str(path))
            pdf.set_font("DejaVu", size=10)
            cmap = TTFont(str(path)).getBestCmap()
            return {cp for cp in cmap if cp > 31}
    pdf.set_font("Helvetica", size=10)
    return set(range(32, 127)) | set(range(160, 256))


def _pdf_heading(pdf: FPDF, text: str) -> None:
    pdf.ln(4)
    pdf.set_font_size(13)
    pdf.cell(0, 8, text, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font_size(9)


def _pdf_bars(pdf: FPDF, report: Report) -> None:
    x0, y0, width, height = 10.0, pdf.get_y() + 2, 190.0, 50.0
    series = report.series
    top = max((b.volume for _, b in series), default=0) or 1
    bar = width / max(1, len(series))
    colours = {"negative": (192, 57, 43), "neutral": (149, 165, 166), "positive": (39, 174, 96)}
    for i, (_, b) in enumerate(series):
        y = y0 + height
        for label, count in (
            ("negative", b.negative),
            ("neutral", b.neutral),
            ("positive", b.positive),
        ):
            h = count / top * height
            if h <= 0:
                continue
            y -= h
            pdf.set_fill_color(*colours[label])
            pdf.rect(x0 + i * bar, y, max(bar * 0.85, 0.2), h, style="F")
    pdf.set_draw_color(150, 150, 150)
    pdf.line(x0, y0 + height, x0 + width, y0 + height)
    pdf.set_y(y0 + height + 2)
    if series:
        first, last = series[0][0], series[-1][0]
        pdf.cell(95, 5, f"{first:%d/%m %H:%M}")
        pdf.cell(95, 5, f"{last:%d/%m %H:%M}", align="R", new_x="LMARGIN", new_y="NEXT")


def _pdf_table(
    pdf: FPDF,
    clean: Callable[[object], str],
    headers: Sequence[str],
    rows: Sequence[Sequence[object]],
    widths: Sequence[float],
) -> None:
    if not rows:
        pdf.cell(0, 6, "Nothing in this window.", new_x="LMARGIN", new_y="NEXT")
        return
    for h, w in zip(headers, widths, strict=True):
        pdf.cell(w, 6, h, border="B")
    pdf.ln()
    for row in rows:
        for cell, w in zip(row, widths, strict=True):
            text = clean(cell)
            while pdf.get_string_width(text) > w - 2 and len(text) > 1:
                text = text[:-2] + "…"
            pdf.cell(w, 5.5, text)
        pdf.ln()
