"""``veille run`` and ``veille demo``: the pipeline from sources to the store, with a console."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import signal
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any, Final, TypeVar

import click

from veille.after_store import InBackground
from veille.alert.channels import build_channels
from veille.alert.service import AlertService
from veille.alert.signals import AlertHook
from veille.alert.signals import RuleInfo as AlertRuleInfo
from veille.cli.console import ConversationLine, LiveConsole, RuleInfo
from veille.config import Settings, load_settings
from veille.demo import STARTER_RULES, DemoSource
from veille.enrich.detect import ENRICHERS
from veille.model import AlertSignal
from veille.pipeline import Pipeline
from veille.reload import RuleWatcher, swap_catalogue
from veille.rules.files import RuleFileError
from veille.sources.base import Source
from veille.sources.configured import configured, live_sources
from veille.sources.health import REGISTRY, HealthRegistry, HealthTracker
from veille.sources.http_ingest import HttpIngestSource, create_app, serve
from veille.sources.replay import ReplaySource
from veille.sources.silence import SilenceWatch
from veille.sources.x import StreamRule
from veille.sources.x_rules import stream_rules
from veille.store import Store
from veille.store.source_health import save_health
from veille.trends.service import TrendHook
from veille.wiring import Catalogue, ProcessorSpec

F = TypeVar("F", bound=Callable[..., Any])

log = logging.getLogger("veille")


def load_catalogue(paths: Sequence[str]) -> Catalogue:
    """The configured rules, or a clear error saying how to get some."""
    missing = [p for p in paths if not Path(p).exists()]
    if missing:
        raise click.ClickException(
            f"no rules at {', '.join(missing)}: run `veille init` for starter rules, "
            "or set [rules] paths in veille.toml"
        )
    try:
        return Catalogue.load(paths)
    except RuleFileError as exc:
        raise click.ClickException(f"rule files have errors:\n{exc}") from None


def x_stream_rules(settings: Settings, catalogue: Catalogue) -> Callable[[], list[StreamRule]]:
    """The X stream rules of the watch rules, for the X source to sync when it starts.

    What cannot be asked from X is logged as a warning each time: those posts reach veille only
    through other sources.
    """
    x = settings.sources.x

    def current() -> list[StreamRule]:
        if not x.sync_rules:
            return []
        rules, problems = stream_rules(
            catalogue.rules, x.rule_tag_prefix, x.max_rule_length, x.max_rules
        )
        for problem in problems:
            log.warning("X stream rules: %s", problem)
        return rules

    return current


def open_store(settings: Settings) -> Store:
    """The configured store, migrated."""
    try:
        return Store.from_settings(settings)
    except Exception as exc:
        raise click.ClickException(f"cannot open the store {settings.store.url}: {exc}") from None


def conversation_lines(store: Store, limit: int = 8) -> list[ConversationLine]:
    """The most recently active flagged conversations, for the console."""
    return [
        ConversationLine(
            key=f"{c.platform}:{c.root}",
            rules=sorted(c.rules),
            posts=c.post_count,
            participants=c.participants,
            last_activity=c.last_activity,
        )
        for c in store.conversations(limit=limit)
    ]


async def run_pipeline(
    pipeline: Pipeline,
    servers: Sequence[Coroutine[Any, Any, None]] = (),
    *,
    linger: bool = False,
) -> None:
    """Run the pipeline (and any HTTP servers beside it) until it ends or a signal drains it.

    The servers (the dashboard, the ingest endpoint, the alert worker) run in the same event
    loop; with ``linger`` they keep running after the sources ended (the demo's dashboard)
    until SIGINT/SIGTERM.
    """
    pipeline.install_signal_handlers()
    tasks = [asyncio.create_task(server) for server in servers]
    try:
        await pipeline.run()
        if linger and not pipeline.stopping:  # a signal during the run means: stop now
            loop = asyncio.get_running_loop()
            stop = asyncio.Event()
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(signum, stop.set)
            click.echo("The stream has ended; the dashboard stays up until Ctrl-C.")
            await stop.wait()
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task


LANGUAGE_HOOK = "veille.normalise.language:pipeline_language"
SENTIMENT_STEP = "veille.enrich.sentiment:pipeline_step"


def processor_spec(settings: Settings, store: Store, catalogue: Catalogue) -> ProcessorSpec:
    """The recipe of the pure stages for ``catalogue`` (its rule versions registered in the
    store) with the configured language and enrichment steps."""
    enrichers = list(ENRICHERS) if settings.detect.enabled else []
    if settings.sentiment.enabled:
        # Before urgency (the last detector step), which scores what every step found.
        enrichers.insert(max(0, len(enrichers) - 1), SENTIMENT_STEP)
    return ProcessorSpec.of(
        catalogue,
        catalogue.versions(store.versions),
        language=LANGUAGE_HOOK,
        enrichers=tuple(enrichers),
    )


TREND_EVERY: Final = 1.0
"""Seconds at least between two trend-rollup writes: their commits are joined meanwhile."""


def assemble(
    settings: Settings,
    store: Store,
    catalogue: Catalogue,
    sources: list[Source],
    cursors: dict[str, str] | None = None,
) -> tuple[Pipeline, AlertService]:
    """The pipeline on ``store`` with its after-store hooks (alerts, trends), and the alert
    service whose delivery must run beside it: what ``veille run`` runs (bench/latency.py too)."""
    pipeline = Pipeline(
        sources,
        store,
        processor_spec(settings, store, catalogue),
        workers=settings.pipeline.workers,
        queue_batches=settings.pipeline.queue_batches,
        store_batch_posts=settings.pipeline.store_batch_posts,
        cursors=store.cursors() if cursors is None else cursors,
    )
    try:
        alerting = AlertService(store.engine, settings.alerts)
    except ValueError as exc:
        raise click.ClickException(f"[alerts]: {exc}") from None
    infos = {r.id: AlertRuleInfo(r.severity, r.name, r.tags) for r in catalogue.rules}
    pipeline.after_store.append(AlertHook(alerting, infos))
    if settings.trends.enabled:
        tags = {r.id: r.tags for r in catalogue.rules}
        channels = build_channels(settings.alerts) if settings.reports else {}
        trend_hook = TrendHook(
            store.engine,
            alerting.submit,
            tags_of=tags,
            sensitivity=settings.trends.sensitivity,
            reports=settings.reports,
            channels=channels,
        )
        # Beside the pipeline, not in its way, once a second: the rollups cost per call, and
        # the alerts must not wait for them (veille.after_store).
        pipeline.after_store.append(InBackground(trend_hook, every=TREND_EVERY))
    return pipeline, alerting


def silence_watch(settings: Settings) -> SilenceWatch:
    """The silence threshold of every configured live source (its own, or the default)."""
    thresholds = {c.name: c.silent_after for c in configured(settings.sources)}
    return SilenceWatch(thresholds, settings.sources.silent_after)


async def report_health(
    store: Store,
    submit: Callable[[list[AlertSignal]], Awaitable[object]],
    watch: SilenceWatch,
    every: float,
    registry: HealthRegistry = REGISTRY,
) -> None:
    """Every ``every`` seconds: write the live sources' health to the store (for ``veille
    sources``, the API and the dashboard) and raise or resolve "silent source" alerts."""
    while True:
        try:
            report = registry.report()
            await asyncio.to_thread(save_health, store.engine, report, store.clock())
            signals = watch.check(report)
            if signals:
                await submit(signals)
        except Exception:  # a failed report is retried next time, never fatal
            log.exception("writing source health failed; retrying")
        await asyncio.sleep(every)


def rule_watcher(
    settings: Settings,
    store: Store,
    pipeline: Pipeline,
    catalogue: Catalogue,
    paths: Sequence[str],
    *,
    say: Callable[[str], None] | None = None,
) -> RuleWatcher:
    """Watches ``paths`` for ``veille run``: a changed valid catalogue gets its versions
    registered in the store, then replaces the pipeline's processor and the rule tables of
    its after-store hooks (alerts, trends, console); ``say`` tells the operator."""
    spec = processor_spec(settings, store, catalogue)

    async def use(new: Catalogue) -> None:
        nonlocal spec
        spec = await swap_catalogue(pipeline, spec, new, store.versions)
        for hook in pipeline.after_store:
            if isinstance(hook, InBackground):
                hook = hook.hook
            if isinstance(hook, AlertHook):
                hook.rules = {r.id: AlertRuleInfo(r.severity, r.name, r.tags) for r in new.rules}
            elif isinstance(hook, TrendHook):
                hook.tags_of = {r.id: r.tags for r in new.rules}
            elif isinstance(hook, LiveConsole):
                hook.rules = {r.id: RuleInfo(r.severity, r.name) for r in new.rules}
        if say is not None:
            enabled = sum(1 for r in new.rules if r.enabled)
            say(f"rules reloaded: {len(new.rules)} rules, {enabled} enabled")

    return RuleWatcher(paths, use, interval=settings.rules.reload_seconds)


def start(
    settings: Settings,
    store: Store,
    catalogue: Catalogue,
    sources: list[Source],
    *,
    plain: bool | None,
    quiet: bool,
    servers: Sequence[Coroutine[Any, Any, None]] = (),
    cursors: dict[str, str] | None = None,
    linger: bool = False,
    rule_paths: Sequence[str] = (),
) -> None:
    """Build the pipeline on ``store`` and run it with the live console; with ``rule_paths``
    (and ``[rules] reload_seconds``) changed rule files are taken into use while running."""
    pipeline, alerting = assemble(settings, store, catalogue, sources, cursors)
    if any(isinstance(getattr(s, "health", None), HealthTracker) for s in sources):
        watch = silence_watch(settings)
        every = settings.sources.health_every
        servers = [*servers, report_health(store, alerting.submit, watch, every)]
    if settings.rules.reload_seconds > 0 and rule_paths:
        say = None if quiet else functools.partial(click.echo, err=True)
        watcher = rule_watcher(settings, store, pipeline, catalogue, rule_paths, say=say)
        servers = [*servers, watcher.run()]

    async def main() -> None:
        stop_alerts = asyncio.Event()
        delivering = asyncio.create_task(alerting.run(stop_alerts))
        try:
            await run_pipeline(pipeline, servers, linger=linger)
        finally:
            # Alerts the last posts raised go out before exiting (in-flight sends finish);
            # anything due later stays in the outbox for the next run or `veille alerts deliver`.
            stop_alerts.set()
            await delivering

    if quiet:
        asyncio.run(main())
        return
    rules = {r.id: RuleInfo(r.severity, r.name) for r in catalogue.rules}
    console = LiveConsole(pipeline.stats, rules, lambda: conversation_lines(store), plain=plain)
    pipeline.after_store.append(console)
    with console:
        asyncio.run(main())


def replay_and_live_sources(
    settings: Settings,
    catalogue: Catalogue,
    replays: Sequence[str],
    platform: str,
    follow: bool,
    *,
    live: bool = True,
) -> list[Source]:
    """The replayed files and (with ``live``) the live sources enabled in [sources]."""
    sources: list[Source] = [
        ReplaySource(
            path,
            platform=platform,
            follow=follow,
            batch_size=settings.pipeline.batch_size,
            max_line_bytes=settings.pipeline.max_line_bytes,
        )
        for path in replays
    ]
    if not live:
        return sources
    return sources + live_sources(settings.sources, x_rules=x_stream_rules(settings, catalogue))


def http_ingest_source(settings: Settings) -> HttpIngestSource:
    """The ``POST /ingest`` source as [ingest] configures it."""
    conf = settings.ingest
    try:
        return HttpIngestSource(
            token=conf.token,
            platform=conf.platform,
            max_body_bytes=conf.max_body_bytes,
            max_items=conf.max_items,
            queue_requests=conf.queue_requests,
            ack_seconds=conf.ack_seconds,
        )
    except ValueError as exc:
        raise click.ClickException(f"[ingest]: {exc} (set VEILLE_INGEST__TOKEN)") from None


def bus_source(settings: Settings, url: str | None, partition: str | None) -> Source:
    """The partition of the NATS bus a worker reads (``--bus URL --partition I/N``)."""
    if partition is None:
        raise click.ClickException(
            "--bus needs --partition I/N (which partition this worker reads)"
        )
    from veille.bus.nats import BusSource, parse_partition

    try:
        index, count = parse_partition(partition)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    update: dict[str, object] = {"partitions": count}
    if url:
        update["url"] = url
    return BusSource(settings.bus.model_copy(update=update), index)


def source_options(command: F) -> F:
    """The options choosing what a command reads: replayed files and the HTTP ingest endpoint
    (``veille run`` and ``veille ingest`` share them)."""
    for option in reversed(
        (
            click.option(
                "--replay",
                "replays",
                multiple=True,
                metavar="FILE",
                help="Replay a JSON Lines file (.gz too), or - for stdin. Repeatable.",
            ),
            click.option(
                "--platform",
                default="generic",
                show_default=True,
                help="Mapping of replayed lines.",
            ),
            click.option(
                "--follow", is_flag=True, help="Keep reading replayed files as they grow."
            ),
            click.option(
                "--from-start", is_flag=True, help="Ignore saved cursors of replayed files."
            ),
            click.option(
                "--ingest/--no-ingest", default=None, help="Serve POST /ingest (default: [ingest])."
            ),
        )
    ):
        command = option(command)
    return command


@click.command("run")
@source_options
@click.option(
    "--web", is_flag=True, help="Serve the dashboard beside the pipeline ([web] host and port)."
)
@click.option("--plain", is_flag=True, default=None, help="One line per match instead of tables.")
@click.option("--quiet", is_flag=True, help="No console output.")
@click.option("--bus", metavar="URL", help="Read items from the NATS bus (default URL: [bus] url).")
@click.option("--partition", metavar="I/N", help="With --bus: the partition this worker reads.")
def run(
    replays: tuple[str, ...],
    platform: str,
    follow: bool,
    from_start: bool,
    ingest: bool | None,
    web: bool,
    plain: bool | None,
    quiet: bool,
    bus: str | None,
    partition: str | None,
) -> None:
    """Run the watch pipeline: sources → match → store, until the sources end or Ctrl-C.

    Ctrl-C (or SIGTERM) stops reading, stores what was read and commits the cursors; a second
    Ctrl-C exits at once (what was committed stays committed).
    """
    settings = load_settings()
    catalogue = load_catalogue(settings.rules.paths)
    # A bus worker leaves the connectors of [sources] and [ingest] to `veille ingest`, which
    # shares its configuration file: running them here too would read everything twice.
    worker = bus is not None or partition is not None
    sources = replay_and_live_sources(
        settings, catalogue, replays, platform, follow, live=not worker
    )
    servers = []
    ingest_router = None
    if ingest if ingest is not None else settings.ingest.enabled and not worker:
        http = http_ingest_source(settings)
        sources.append(http)
        if web and settings.web.mount_ingest:
            ingest_router = http.router()
        else:
            servers.append(serve(create_app(http), settings.ingest.host, settings.ingest.port))
    if worker:
        sources.append(bus_source(settings, bus, partition))
    if not sources:
        raise click.ClickException(
            "nothing to run: give --replay FILE (or - for stdin), --bus URL --partition I/N, "
            "enable [ingest] or a source in [sources]"
        )
    with open_store(settings) as store:
        if web:
            from veille.cli.web import dashboard

            servers.append(dashboard(settings, store, ingest=ingest_router))
            if not quiet:
                click.echo(f"dashboard on http://{settings.web.host}:{settings.web.port}/")
        cursors = store.cursors()
        if from_start:
            for source in sources:
                cursors.pop(source.name, None)
        start(
            settings,
            store,
            catalogue,
            sources,
            plain=plain,
            quiet=quiet,
            servers=servers,
            cursors=cursors,
            rule_paths=settings.rules.paths,
        )


@click.command("demo")
@click.option("--rate", default=40.0, show_default=True, help="Posts per second (0: no pacing).")
@click.option(
    "--web/--no-web", default=True, show_default=True, help="Serve the dashboard too ([web])."
)
@click.option("--plain", is_flag=True, default=None, help="One line per match instead of tables.")
@click.option("--quiet", is_flag=True, help="No console output.")
def demo(rate: float, web: bool, plain: bool | None, quiet: bool) -> None:
    """Replay the bundled demo stream (synthetic FR/NL/DE/EN posts) into the local store.

    Uses the configured store (default: ./veille.db) and rules (default: ./rules, else the
    starter rules). The demo posts have platform "demo", so they are easy to tell apart.
    """
    settings = load_settings()
    paths = [p for p in settings.rules.paths if Path(p).exists()] or [str(STARTER_RULES)]
    catalogue = load_catalogue(paths)
    with open_store(settings) as store:
        servers = []
        own = paths != [str(STARTER_RULES)]
        if web:
            from veille.cli.web import dashboard, demo_account

            servers.append(dashboard(settings, store, rules=paths, writable=own))
            login = demo_account(store)
            if not quiet:
                click.echo(
                    f"dashboard on http://{settings.web.host}:{settings.web.port}/ — {login}"
                )
        start(
            settings,
            store,
            catalogue,
            [DemoSource(rate=rate or None)],
            plain=plain,
            quiet=quiet,
            servers=servers,
            linger=web,
            rule_paths=paths if own else (),
        )
        if not quiet:
            click.echo(
                "Explore: `veille conversations`, `veille show CONVERSATION`, "
                "`veille search 'manif* OR betoging'`"
            )
