"""Alert latency: from a post entering veille to the webhook receiving its alert.

Posts are replayed at a steady rate (default 2,000 posts/s, 1 % of them urgent: threats and
leaked personal data in FR/NL/DE/EN) through the real pipeline as ``veille run`` wires it — the
compiled matcher over a 1,000-rule catalogue, the detectors and urgency scoring, the SQLite
store, the alert hook, the alert engine and its delivery worker — to a webhook receiver on
127.0.0.1. A post "enters veille" when its source hands it to the pipeline; it is "alerted"
when the receiver has read the first notification carrying its alert.

Three configurations (``CONFIGS``): ``veille run`` with its defaults, the same with its pure
stages in one worker process, and a deployment kept to early warning with its pure stages in
one worker process. Peers on the same posts and the same
store, in the same process: scheduled monitors that check the store for new alerts every N
seconds and post what they find, as simple tools do.

Usage: python bench/latency.py [--quick] [--config NAME] [--seconds S] [--rate R] [--urgent F]
Prints a table; the last stdout line is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
from stdnum import iban as stdnum_iban

sys.path.insert(0, str(Path(__file__).resolve().parent))

import match_corpus
from veille.alert.channels import WebhookChannel
from veille.alert.engine import Outgoing
from veille.alert.policy import rank
from veille.alert.signals import AlertHook
from veille.cli.run import assemble
from veille.clock import utcnow
from veille.config import load_settings
from veille.model import RawItem
from veille.pipeline import Pipeline, Stored
from veille.sources.base import Batch
from veille.store import Store
from veille.store import alerts as alert_tables
from veille.testing import FakeWebhookReceiver, ReceivedRequest
from veille.wiring import Catalogue

TARGET_P99 = 1.0
SECRET = "bench-latency-secret"

# --- the urgent posts -------------------------------------------------------------------------

PLACES = ["Namur", "Gent", "Eupen", "Liège", "Mechelen", "Charleroi", "Leuven", "Mons"]
THREATS = {
    "fr": "Ce soir on va brûler le commissariat de {place}, ils l'ont bien cherché",
    "nl": "We gaan dat politiekantoor in {place} vanavond in brand steken",
    "de": "Wir werden die Polizeiwache in {place} heute Nacht anzünden",
    "en": "We are going to burn down the police station in {place} tonight",
}
LEAKS = {
    "fr": "Voici où habite l'agent : rue de la Station {n}, {place}, son compte {iban}",
    "nl": "Dit is het adres van die agent: Kerkstraat {n}, {place}, rekening {iban}",
    "de": "Hier wohnt der Polizist: Bahnhofstraße {n}, {place}, Konto {iban}",
    "en": "This is where the officer lives: Station Street {n}, {place}, account {iban}",
}


def belgian_iban(rng: random.Random) -> str:
    """A checksummed Belgian IBAN (bank code, account, mod-97 check, IBAN check digits)."""
    body = rng.randrange(10**9, 10**10)
    account = f"{body:010d}{body % 97 or 97:02d}"
    check = stdnum_iban.calc_check_digits(f"BE00{account}")
    raw = f"BE{check}{account}"
    return " ".join(raw[i : i + 4] for i in range(0, len(raw), 4))


def urgent_text(rng: random.Random, lang: str) -> str:
    place = rng.choice(PLACES)
    if rng.random() < 0.5:
        return THREATS[lang].format(place=place)
    return LEAKS[lang].format(place=place, n=rng.randint(1, 200), iban=belgian_iban(rng))


def stream(
    count: int, urgent_share: float, warmup: int, rules: int, seed: int = 7
) -> tuple[list[bytes], set[str], str]:
    """``warmup + count`` posts and a rule file, from the pipeline benchmark's generators
    (sparse rule hits, replies to recent posts), ``urgent_share`` of the ``count`` measured
    posts urgent; returns the lines, the urgent posts' ids and the rule file.

    Urgent posts keep their place in the stream (and, for replies, their thread) and come from
    accounts with a few thousand followers, so the detectors' urgency reaches ``high``. Rules
    are ``low`` (half), ``medium`` or ``high`` (15 %), as in a watch catalogue.
    """
    rng = random.Random(seed)
    queries = match_corpus.rule_queries(rules)
    lines: list[bytes] = []
    urgent: set[str] = set()
    for n, payload in enumerate(match_corpus.stream(warmup + count, queries)):
        if n >= warmup and rng.random() < urgent_share:
            payload["text"] = urgent_text(rng, payload["lang"])
            payload["author"]["followers"] = rng.randint(1_500, 20_000)
            urgent.add(payload["id"])
        lines.append(orjson.dumps(payload))
    severities = rng.choices(["low", "medium", "high"], weights=[50, 35, 15], k=len(queries))
    return lines, urgent, match_corpus.rule_file(queries, severities)


# --- the source -------------------------------------------------------------------------------


class PacedSource:
    """Hands pre-encoded posts to the pipeline at ``rate`` posts/s, whatever is due every
    ``tick`` seconds, at most ``max_batch`` at a time (as a streaming API delivers them).

    The first ``warmup`` posts go at once and the clock starts when they are stored (worker
    processes started, models loaded). Post ``i`` is then due at ``start + i / rate``: its
    latency counts from then, so a pipeline that pushes back (the source handing posts over
    late) is charged for it.
    """

    name = "bench"

    def __init__(
        self,
        lines: Sequence[bytes],
        rate: float,
        warmup: int,
        tick: float = 0.01,
        max_batch: int = 1000,
    ) -> None:
        self.lines = lines
        self.max_batch = max_batch
        self.rate = rate
        self.warmup = warmup
        self._stored = 0
        self._warm = asyncio.Event()
        self.step = max(1, int(rate * tick))
        self.start = 0.0
        """``time.monotonic()`` when the first measured post was due."""
        self.lag = 0.0
        """Most seconds a post was handed over after it was due."""

    def after_store(self, stored: Stored) -> None:
        """After-store hook: the clock starts once the warm-up posts are stored."""
        self._stored += len(stored.posts)
        if self._stored >= self.warmup:
            self._warm.set()

    def due(self, index: int) -> float:
        """When post ``index`` (counted after the warm-up) was due."""
        return self.start + index / self.rate

    def _batch(self, lines: Sequence[bytes], cursor: int) -> Batch:
        received = utcnow()
        items = [
            RawItem(source=self.name, platform="generic", payload=line, received_at=received)
            for line in lines
        ]
        return Batch(items, cursor=str(cursor))

    async def stream(self, cursor: str | None) -> AsyncIterator[Batch]:
        yield self._batch(self.lines[: self.warmup], self.warmup)
        await self._warm.wait()
        lines = self.lines[self.warmup :]
        total = len(lines)
        self.start = time.monotonic()
        sent = 0
        while sent < total:
            wait = self.due(min(total, sent + self.step) - 1) - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            now = time.monotonic()
            due = max(sent + 1, int((now - self.start) * self.rate) + 1)
            upto = min(total, sent + self.max_batch, due)
            self.lag = max(self.lag, now - self.due(sent))
            batch = self._batch(lines[sent:upto], self.warmup + upto)
            sent = upto
            yield batch


class Stamp:
    """An after-store hook noting when each watched post passed it."""

    def __init__(self, watched: set[str]) -> None:
        self.watched = watched
        self.at: dict[str, float] = {}

    def __call__(self, stored: Stored) -> None:
        now = time.monotonic()
        for post in stored.posts:
            if post.native_id in self.watched:
                self.at.setdefault(post.native_id, now)


class CpuMeter:
    """CPU seconds of this process and of the pipeline's worker processes between the first
    measured post and the commit of the last one (an after-store hook; Linux ``/proc``)."""

    def __init__(self, pipeline: Pipeline, first: int, last: int) -> None:
        self.pipeline = pipeline
        self.first, self.last = first, last
        self.start: tuple[float, float] | None = None
        self.used: tuple[float, float] = (0.0, 0.0)

    def sample(self) -> tuple[float, float]:
        pool = getattr(self.pipeline, "_pool", None)
        workers = 0.0
        for pid in getattr(pool, "_processes", None) or {}:
            with contextlib.suppress(OSError):
                fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
                workers += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return time.process_time(), workers

    def __call__(self, stored: Stored) -> None:
        done = self.pipeline.stats.stored
        if self.start is None and done >= self.first:
            self.start = self.sample()
        elif self.start is not None and done >= self.last and self.used == (0.0, 0.0):
            end = self.sample()
            self.used = (end[0] - self.start[0], end[1] - self.start[1])

    def per_post(self, posts: int) -> dict[str, float]:
        return {
            "main process": round(self.used[0] / posts * 1e6),
            "worker processes": round(self.used[1] / posts * 1e6),
        }


# --- the scheduled-poll peer --------------------------------------------------------------------


@dataclass
class PollMonitor:
    """What simple monitoring tools do: every ``interval`` seconds, look for new alerts in the
    store and post each one to the webhook."""

    db: sa.Engine
    interval: float
    url: str
    min_rank: int
    sent: int = 0
    last_id: int = 0
    checks: int = 0
    pending: list[int] = field(default_factory=list)

    async def run(self, stop: asyncio.Event) -> None:
        """Check on schedule until a check that began after ``stop`` was set."""
        channel = WebhookChannel(self.url, SECRET.encode(), timedelta(seconds=5))
        next_check = time.monotonic() + self.interval
        try:
            while True:
                await asyncio.sleep(max(0.0, next_check - time.monotonic()))
                last = stop.is_set()
                await self.check(channel)
                next_check += self.interval
                if last:
                    return
        finally:
            await channel.aclose()

    async def check(self, channel: WebhookChannel) -> None:
        self.checks += 1
        rows = await asyncio.to_thread(self._new_alerts)
        for row in rows:
            body = orjson.dumps({"alerts": [{"id": row[0], "post": {"native_id": row[1]}}]})
            message = Outgoing(
                id=row[0],
                receiver="poll",
                idempotency_key=f"poll-{row[0]}",
                payload=body,
                attempts=0,
                created_at=utcnow(),
            )
            await channel.send(message)
            self.sent += 1

    def _new_alerts(self) -> list[tuple[int, str]]:
        a = alert_tables.alerts.c
        with self.db.connect() as conn:
            rows = conn.execute(
                sa.select(a.id, a.native_id)
                .where(a.id > self.last_id, a.severity_rank >= self.min_rank, a.kind == "urgent")
                .order_by(a.id)
            ).all()
        if rows:
            self.last_id = rows[-1][0]
        return [(int(r[0]), str(r[1])) for r in rows]


# --- the run ----------------------------------------------------------------------------------


EARLY_WARNING = "[sentiment]\nenabled = false\n[trends]\nenabled = false\n"
CONFIGS = {
    "veille run, defaults": "",
    "every feature, 1 worker process": "[pipeline]\nworkers = 1\n",
    "early warning, 1 worker process": EARLY_WARNING + "[pipeline]\nworkers = 1\n",
}
"""The configurations measured: everything ``veille run`` does by default (every pure stage in
one thread of the main process); the same with the pure stages in a worker process (what
docs/running.md advises on two cores); and a deployment kept to early warning (no sentiment
step, no trend rollups: the temperature side) with its pure stages in a worker process."""


def veille_toml(tmp: Path, url: str, extra: str) -> str:
    """What a watch cell would configure: high and critical alerts to its webhook, everything
    from ``medium`` kept in the inbox. Timers and delivery keep their defaults."""
    return f"""{extra}
[store]
url = "sqlite:///{tmp / "veille.db"}"

[rules]
paths = ["{tmp / "rules"}"]

[[alerts.receivers]]
name = "cell"
type = "webhook"
url = "{url}"
secret = "{SECRET}"

[[alerts.routes]]
receivers = ["cell"]
min_severity = "high"
"""


def percentiles(values: Sequence[float]) -> dict[str, float]:
    if not values:
        return {"n": 0}
    ordered = sorted(values)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]

    return {
        "n": len(ordered),
        "p50": at(0.50),
        "p95": at(0.95),
        "p99": at(0.99),
        "max": ordered[-1],
        "mean": statistics.fmean(ordered),
    }


async def measure(args: argparse.Namespace, config: str) -> dict[str, Any]:
    count = int(args.rate * args.seconds)
    lines, urgent, rules = stream(count, args.urgent, args.warmup, args.rules)
    tmp = Path(tempfile.mkdtemp(prefix="veille-latency-"))
    (tmp / "rules").mkdir()
    (tmp / "rules" / "bench.toml").write_text(rules, encoding="utf-8")
    async with FakeWebhookReceiver() as receiver:
        # veille's own configuration file: the enrichers read it in each worker process too
        toml = tmp / "veille.toml"
        toml.write_text(veille_toml(tmp, receiver.url, CONFIGS[config]), encoding="utf-8")
        os.environ["VEILLE_CONFIG"] = str(toml)
        settings = load_settings()
        catalogue = Catalogue.load(settings.rules.paths)
        store = Store.from_settings(settings)
        source = PacedSource(lines, args.rate, args.warmup, max_batch=settings.pipeline.batch_size)
        # exactly what `veille run` runs, measured by hooks around the alert hook
        pipeline, service = assemble(settings, store, catalogue, [source], cursors={})
        alerts_at = next(i for i, h in enumerate(pipeline.after_store) if isinstance(h, AlertHook))
        stored, queued = Stamp(urgent), Stamp(urgent)
        meter = CpuMeter(pipeline, args.warmup, args.warmup + count)
        pipeline.after_store[alerts_at : alerts_at + 1] = [
            source.after_store,
            stored,
            pipeline.after_store[alerts_at],
            queued,
            meter,
        ]
        high = rank("high")
        pollers = [
            PollMonitor(store.engine, interval, f"{receiver.url}/poll-{interval:g}", high)
            for interval in args.poll
        ]
        stop_alerts, stop_polls = asyncio.Event(), asyncio.Event()
        background = [asyncio.create_task(service.run(stop_alerts))]
        background += [asyncio.create_task(p.run(stop_polls)) for p in pollers]
        stats = await pipeline.run()
        replay = time.monotonic() - source.start
        first = {orjson.loads(line)["id"] for line in lines[args.warmup :]}
        expected = await asyncio.to_thread(_expected, store.engine, high, first)
        wanted = {(kind, n) for kind, ids in expected.items() for n in ids}
        deadline = time.monotonic() + args.drain
        while time.monotonic() < deadline:
            waiting = wanted - set(_first_arrivals(receiver.requests, "/hook"))
            if not waiting or waiting <= await asyncio.to_thread(_held, store.engine):
                break
            await asyncio.sleep(0.25)
        held = await asyncio.to_thread(_held, store.engine)
        stop_alerts.set()
        await background[0]
        # each poller finishes its current wait, so it has looked once after the last alert
        stop_polls.set()
        await asyncio.gather(*background[1:])
    store.close()

    def due(native_id: str) -> float:
        return source.due(int(native_id) - args.warmup)

    push = _first_arrivals(receiver.requests, "/hook")
    rows = []
    for kind, label in (("urgent", "urgent (detectors)"), ("rule", "rule match, severity high+")):
        ids = expected.get(kind, set())
        got = [push[kind, n] - due(n) for n in ids if (kind, n) in push]
        kept = sum((kind, n) in held for n in ids if (kind, n) not in push)
        missing = len(ids) - len(got) - kept
        rows.append(
            {"path": f"veille push: {label}", "held": kept, "missing": missing} | percentiles(got)
        )
    for poller in pollers:
        arrived = _first_arrivals(receiver.requests, f"/hook/poll-{poller.interval:g}")
        ids = expected.get("urgent", set())
        got = [arrived["urgent", n] - due(n) for n in ids if ("urgent", n) in arrived]
        path = f"scheduled poll every {poller.interval:g} s"
        rows.append({"path": path, "held": 0, "missing": len(ids) - len(got)} | percentiles(got))
    alerted = [n for n in expected.get("urgent", set()) if ("urgent", n) in push]
    stages = {
        "entered → stored": [stored.at[n] - due(n) for n in alerted],
        "stored → alert queued": [queued.at[n] - stored.at[n] for n in alerted],
        "queued → webhook received": [push["urgent", n] - queued.at[n] for n in alerted],
    }
    return {
        "config": config,
        "posts": count,
        "stored": stats.stored - args.warmup,
        "rate": args.rate,
        "achieved_rate": round((stats.stored - args.warmup) / replay, 1),
        "urgent_posts": len(urgent),
        "urgent_alerted": len(expected.get("urgent", ())),
        "source_lag_s": round(source.lag, 3),
        "cpu_us_per_post": meter.per_post(count),
        "loadavg": round(os.getloadavg()[0], 1),
        "rows": rows,
        "stages": {name: percentiles(values) for name, values in stages.items()},
    }


def _expected(db: sa.Engine, min_rank: int, measured: set[str]) -> dict[str, set[str]]:
    """Post ids of the measured posts' alerts that the route sends to the webhook, by kind."""
    a = alert_tables.alerts.c
    with db.connect() as conn:
        found = conn.execute(sa.select(a.kind, a.native_id).where(a.severity_rank >= min_rank))
        expected: dict[str, set[str]] = {}
        for kind, native_id in found:
            if native_id in measured:
                expected.setdefault(kind, set()).add(native_id)
    return expected


def _first_arrivals(requests: Sequence[ReceivedRequest], path: str) -> dict[tuple[str, str], float]:
    """When the receiver first read each (kind, post) alert on ``path``."""
    first: dict[tuple[str, str], float] = {}
    for request in requests:
        if request.path == path and request.answer == "200":
            for alert in orjson.loads(request.body)["alerts"]:
                first.setdefault(
                    (alert.get("kind", "urgent"), alert["post"]["native_id"]), request.at
                )
    return first


def _held(db: sa.Engine) -> set[tuple[str, str]]:
    """Alerts waiting, by design, for their group's next window: their group was notified less
    than ``group_interval`` ago, so they go out with its next message."""
    a = alert_tables.alerts.c
    m = alert_tables.alert_group_members.c
    n = alert_tables.alert_notifications.c
    query = (
        sa.select(a.kind, a.native_id)
        .join(alert_tables.alert_group_members, m.alert_id == a.id)
        .join(alert_tables.alert_notifications, n.group_id == m.group_id)
        .where(m.pending.is_(True), n.status == "pending", n.frozen_at.is_(None))
        .where(n.due_at > utcnow())
    )
    with db.connect() as conn:
        return {(kind, native_id) for kind, native_id in conn.execute(query)}


def print_table(result: dict[str, Any]) -> None:
    print(
        f"\n## {result['config']}: {result['stored']:,} posts replayed at "
        f"{result['rate']:,.0f} posts/s "
        f"(stored at {result['achieved_rate']:,.0f}/s; the source fell at most "
        f"{result['source_lag_s']} s behind), {result['urgent_posts']} urgent "
        f"({result['urgent_alerted']} rated high or critical); load average "
        f"{result['loadavg']} on {os.cpu_count()} cores\n"
    )
    print(
        "| post entered → webhook received | alerts | p50 | p95 | p99 | max "
        "| held for the group window | lost |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for row in result["rows"]:
        print(
            f"| {row['path']} | {row['n']:,} | {_cells(row)} | {row['held']} | {row['missing']} |"
        )
    print("\n| urgent alerts, by stage | p50 | p95 | p99 | max |")
    print("|---|---:|---:|---:|---:|")
    for name, row in result["stages"].items():
        print(f"| {name} | {_cells(row)} |")
    cpu = result["cpu_us_per_post"]
    cores = (cpu["main process"] + cpu["worker processes"]) * result["rate"] / 1e6
    print(
        f"\nCPU per post: {cpu['main process']} µs in the main process, "
        f"{cpu['worker processes']} µs in worker processes: {cores:.2f} cores busy at "
        f"{result['rate']:,.0f} posts/s"
    )


def _cells(row: dict[str, float]) -> str:
    if not row["n"]:
        return " | | | "
    return " | ".join(_seconds(row[k]) for k in ("p50", "p95", "p99", "max"))


def _seconds(value: float) -> str:
    return f"{value * 1000:,.0f} ms" if value < 1 else f"{value:,.2f} s"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="a run of under a minute")
    parser.add_argument("--seconds", type=float, default=0, help="length of the replay")
    parser.add_argument("--rate", type=float, default=2000.0, help="posts per second")
    parser.add_argument("--urgent", type=float, default=0.01, help="share of urgent posts")
    parser.add_argument("--rules", type=int, default=1000, help="rules in the catalogue")
    parser.add_argument(
        "--poll", type=float, nargs="*", default=None, help="intervals of the poll peers (s)"
    )
    parser.add_argument("--warmup", type=int, default=500, help="posts before the clock starts")
    parser.add_argument("--drain", type=float, default=30.0, help="most seconds to wait after")
    parser.add_argument(
        "--config",
        choices=["all", *CONFIGS],
        default=None,
        help="which configuration(s) (default: all; --quick: the early-warning one)",
    )
    args = parser.parse_args()
    args.seconds = args.seconds or (8.0 if args.quick else 60.0)
    args.config = args.config or ("early warning, 1 worker process" if args.quick else "all")
    if args.poll is None:
        args.poll = [5.0] if args.quick else [10.0, 60.0]
    if args.quick:
        args.drain = min(args.drain, 10.0)
    results = []
    for config in CONFIGS if args.config == "all" else [args.config]:
        result = asyncio.run(measure(args, config))
        print_table(result)
        push = result["rows"][0]
        result["met"] = bool(push["n"]) and push["p99"] < TARGET_P99 and push["missing"] == 0
        results.append(result)
    print(json.dumps({"bench": "latency", "target_p99_s": TARGET_P99, "runs": results}))


if __name__ == "__main__":
    main()
