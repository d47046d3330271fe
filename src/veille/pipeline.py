"""The running program: sources → normalise → match → enrich → store → after-store hooks.

Wiring only. Three kinds of asyncio task joined by bounded :class:`~veille.bus.memory.Channel`
queues, so a slow store makes ``put`` wait all the way back to the sources and memory stays
bounded (queue length × batch size × item bound):

1. one reader per source puts its batches on the *raw* channel;
2. the processor runs the pure stages (:class:`Processor`) on each batch, on a thread of this
   process (never on the event loop, so a large batch does not hold up alert delivery or HTTP
   ingest) or in worker processes (``workers``), keeping batch order, and puts the results on
   the *processed* channel;
3. the writer takes whatever results are queued (up to ``store_batch_posts`` posts), writes them
   with the sources' cursors and the quarantined records in ONE transaction of the sink (in a
   thread, so the event loop keeps reading meanwhile), then acknowledges the sources and runs
   the after-store hooks (alerts, live console).

A cursor is therefore committed only with the posts before it. :meth:`Pipeline.stop` (what
SIGINT/SIGTERM call) stops the readers, lets everything already read flow through and be
committed, then returns. A record failing a stage is quarantined with its stage and error; its
neighbours go on. A worker process that dies is replaced and the batch bisected to isolate the
record that killed it; a store write that keeps failing is bisected the same way, and the one
post that cannot be written is quarantined.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging
import signal
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from itertools import chain
from operator import attrgetter
from typing import Any, Final, Protocol, runtime_checkable

import msgspec

from veille.bus.memory import Channel, ChannelClosed
from veille.clock import Clock, utcnow
from veille.model import Enrichment, Match, Post, Quarantined, RawItem, Stage
from veille.normalise.fold import Folded, fold
from veille.normalise.registry import Mapper, mapper_for
from veille.sources.base import Batch, Source
from veille.store.checks import (
    MAX_ID,
    MAX_PLATFORM,
    MAX_RAW,
    check_post,
    raw_of,
    storable_payload,
)

log = logging.getLogger(__name__)


# --- the pure stages -------------------------------------------------------------------------


class Matcher(Protocol):
    """What the pipeline needs of ``veille.match``: the matches of one folded post."""

    def match(self, post: Post, folded: Folded | None = None) -> list[Match]: ...


Language = Callable[[Post, Folded], str]
"""Decides ``post.lang`` before matching (so ``lang:`` rules work); returns an ISO 639-1 code,
``"und"`` when unsure. Without one, the platform's hint is used. A hook may also have a batch
form, :class:`BatchLanguage`, which the processor then prefers."""

Enricher = Callable[[Post, Folded, Sequence[Match], Enrichment], Enrichment]
"""One enrichment step (sentiment, threat, personal data, urgency …): receives what the earlier
steps found and returns it extended. Steps run in order, so urgency scoring goes last. A step
may also have a batch form, :class:`BatchEnricher`, which the processor then prefers."""


@runtime_checkable
class BatchLanguage(Protocol):
    """A language hook's optional batch form: ``many(posts, folded)[i]`` is what the hook
    returns for ``posts[i]``, computed for the whole batch at once (model calls cost per call)."""

    def many(self, posts: Sequence[Post], folded: Sequence[Folded]) -> list[str]: ...


@runtime_checkable
class BatchEnricher(Protocol):
    """An enrichment step's optional batch form: element ``i`` of the result is what the step
    returns for post ``i``."""

    def many(
        self,
        posts: Sequence[Post],
        folded: Sequence[Folded],
        matches: Sequence[Sequence[Match]],
        enrichments: Sequence[Enrichment],
    ) -> list[Enrichment]: ...


class Processed(msgspec.Struct):
    """One batch after the pure stages: ``posts[i]`` matched ``matches[i]``."""

    posts: list[Post] = []
    sources: list[str] = []
    """Parallel to ``posts``: the source each came from."""
    matches: list[list[Match]] = []
    folded: list[str] = []
    """Parallel to ``posts``: the folded scan text (the store indexes it for search)."""
    enrichments: list[Enrichment] = []
    """Parallel to ``posts``; empty when no enricher is installed."""
    quarantined: list[Quarantined] = []
    origins: list[int] = []
    """Parallel to ``posts`` as the :class:`Processor` returns them: the position in its batch
    of the item a post was mapped from when the post's raw copy is that item's payload, -1
    when it is in ``post.raw``. The payload is never sent back from a worker process: the
    pipeline holds the items, and :meth:`with_payloads` turns these into ``payloads``."""
    payloads: list[bytes | None] = []
    """Parallel to ``posts`` once :meth:`with_payloads` ran: the payload that is each post's
    raw copy (well-formed UTF-8 without NUL, checked by the Processor), or ``None``."""

    def with_payloads(self, items: Sequence[RawItem]) -> Processed:
        """Resolve ``origins`` against the ``items`` this batch was processed from."""
        origins = self.origins
        if origins:
            if min(origins) >= 0:  # the usual batch: C-level passes, no frame per post
                self.payloads = list(map(_PAYLOAD, map(items.__getitem__, origins)))
            else:
                self.payloads = [items[at].payload if at >= 0 else None for at in origins]
            self.origins = []
        elif len(self.payloads) != len(self.posts):
            self.payloads = [None] * len(self.posts)
        return self

    def split(self, at: int) -> tuple[Processed, Processed]:
        """The first ``at`` posts, and the rest with the quarantined records."""
        head = Processed(
            self.posts[:at],
            self.sources[:at],
            self.matches[:at],
            self.folded[:at],
            self.enrichments[:at],
            payloads=self.payloads[:at],
        )
        tail = Processed(
            self.posts[at:],
            self.sources[at:],
            self.matches[at:],
            self.folded[at:],
            self.enrichments[at:],
            self.quarantined,
            payloads=self.payloads[at:],
        )
        return head, tail

    def extend(self, other: Processed) -> None:
        self.posts += other.posts
        self.sources += other.sources
        self.matches += other.matches
        self.folded += other.folded
        self.enrichments += other.enrichments
        self.quarantined += other.quarantined
        self.payloads += other.payloads


@dataclass(slots=True)
class _Item:
    """One raw item's posts on their way through the stages (kept or quarantined whole)."""

    index: int
    """Position in the batch: quarantined records keep the batch order."""
    item: RawItem
    posts: list[Post]
    folded: list[Folded]
    matches: Sequence[list[Match]] = ()
    enrichments: Sequence[Enrichment] = ()
    raw_is_payload: bool = True
    """The posts' raw copy is ``item.payload`` (see :attr:`Processed.origins`)."""


_PAYLOAD: Final = attrgetter("payload")
_POSTS: Final = attrgetter("posts")
_MATCHES: Final = attrgetter("matches")
_FOLDED: Final = attrgetter("folded")
_ENRICHMENTS: Final = attrgetter("enrichments")

Work = Callable[[list[_Item]], None]
"""A stage over some items: all or nothing for the items it is given (it assigns its results
only once every one is computed)."""


class Processor:
    """normalise → language → fold → match → enrich for a batch; pure, no I/O.

    Stages run one after the other, each called once over the whole batch (a step with a batch
    form, :class:`BatchLanguage` or :class:`BatchEnricher`, then sees it all at once; a call per
    item would cost a frame and a list per post); should that call raise, the stage is run
    again item by item. The first stage that raises for an item quarantines it with the stage's
    name and the error, and the batch goes on.
    """

    def __init__(
        self,
        matcher: Matcher,
        *,
        language: Language | None = None,
        enrichers: Sequence[Enricher] = (),
        clock: Clock = utcnow,
    ) -> None:
        self.matcher = matcher
        self.language = language
        self.enrichers = tuple(enrichers)
        self.clock = clock

    def __call__(self, items: Sequence[RawItem]) -> Processed:
        out = Processed()
        rejected: list[tuple[int, Quarantined]] = []
        todo = self._normalise(items, rejected)
        todo = self._stage(todo, "normalise", self._decide_language, rejected)
        todo = self._stage(todo, "match", self._match, rejected)
        for step in self.enrichers:
            todo = self._stage(todo, "enrich", functools.partial(self._enrich, step), rejected)
        # One C-level pass per field rather than five list extensions per item.
        out.posts = list(chain.from_iterable(map(_POSTS, todo)))
        out.sources = [one.item.source for one in todo for _ in one.posts]
        out.matches = list(chain.from_iterable(map(_MATCHES, todo)))
        out.folded = [f.scan for f in chain.from_iterable(map(_FOLDED, todo))]
        out.enrichments = list(chain.from_iterable(map(_ENRICHMENTS, todo)))
        out.origins = [one.index if one.raw_is_payload else -1 for one in todo for _ in one.posts]
        rejected.sort(key=lambda r: r[0])  # stable: an item's own records keep their order
        out.quarantined = [q for _, q in rejected]
        return out

    def _normalise(
        self, items: Sequence[RawItem], rejected: list[tuple[int, Quarantined]]
    ) -> list[_Item]:
        todo: list[_Item] = []
        mappers: dict[str, Mapper] = {}
        for index, item in enumerate(items):
            try:
                mapper = mappers.get(item.platform)
                if mapper is None:
                    mapper = mappers[item.platform] = mapper_for(item.platform)
                mapped = mapper(item)
                # A post's raw copy is its payload, kept as bytes and stored as text: never
                # decoded here nor sent back from a worker process (the pipeline holds the
                # items). Only a payload that is not storable text as it is gets decoded.
                whole = storable_payload(item.payload, MAX_RAW)
                if whole and isinstance(mapped, Post) and check_post(mapped) is None:
                    # The usual item: one post the store accepts (no loop, no list to fill).
                    todo.append(_Item(index, item, [mapped], [fold(mapped.text)]))
                    continue
                raw = "" if whole else raw_of(item.payload)
                posts: list[Post] = []
                for post in (mapped,) if isinstance(mapped, Post) else mapped:
                    if raw:
                        post.raw = raw
                    refused = check_post(post)
                    if refused is not None:
                        # What the store would refuse, found here (in a worker process when
                        # there is one) so the store does not check again.
                        record = quarantine(item, "store", _refusal(post, refused), self.clock)
                        rejected.append((index, record))
                        continue
                    posts.append(post)
                folded = [fold(post.text) for post in posts]
            except Exception as exc:  # one bad record must not stop its neighbours
                rejected.append((index, quarantine(item, "normalise", exc, self.clock)))
                continue
            if posts:
                todo.append(_Item(index, item, posts, folded, raw_is_payload=whole))
        return todo

    def _stage(
        self,
        todo: list[_Item],
        stage: Stage,
        work: Work,
        rejected: list[tuple[int, Quarantined]],
    ) -> list[_Item]:
        """``work`` over the whole batch, or when that raises, item by item, quarantining the
        items it raises for (the stages are pure: a second run gives the same results)."""
        if len(todo) > 1:
            try:
                work(todo)
                return todo
            except Exception:  # find the item(s) at fault, one at a time
                log.debug("%s: batch call failed, retrying item by item", stage, exc_info=True)
        kept = []
        for one in todo:
            try:
                work([one])
            except Exception as exc:  # one bad record must not stop its neighbours
                rejected.append((one.index, quarantine(one.item, stage, exc, self.clock)))
            else:
                kept.append(one)
        return kept

    def _decide_language(self, todo: list[_Item]) -> None:
        posts = [post for one in todo for post in one.posts]
        language = self.language
        if language is None:
            for post in posts:
                if not post.lang:
                    post.lang = post.lang_hint
            return
        folded = [f for one in todo for f in one.folded]
        if isinstance(language, BatchLanguage):
            langs = language.many(posts, folded)
        else:
            langs = [language(post, f) for post, f in zip(posts, folded, strict=True)]
        for post, lang in zip(posts, langs, strict=True):
            post.lang = lang

    def _match(self, todo: list[_Item]) -> None:
        match = self.matcher.match
        found = [
            [match(one.posts[0], one.folded[0])]
            if len(one.posts) == 1
            else [match(p, f) for p, f in zip(one.posts, one.folded, strict=True)]
            for one in todo
        ]
        for one, matches in zip(todo, found, strict=True):
            one.matches = matches
            if self.enrichers:
                one.enrichments = [Enrichment(lang=post.lang) for post in one.posts]

    def _enrich(self, step: Enricher, todo: list[_Item]) -> None:
        posts = [post for one in todo for post in one.posts]
        folded = [f for one in todo for f in one.folded]
        matches = [m for one in todo for m in one.matches]
        so_far = [e for one in todo for e in one.enrichments]
        if isinstance(step, BatchEnricher):
            done = step.many(posts, folded, matches, so_far)
            if len(done) != len(posts):
                raise ValueError(f"{step!r}.many returned {len(done)} results for {len(posts)}")
        else:
            done = [step(*args) for args in zip(posts, folded, matches, so_far, strict=True)]
        at = 0
        for one in todo:
            one.enrichments = done[at : at + len(one.posts)]
            at += len(one.posts)


def _refusal(post: Post, error: str) -> str:
    return f"post {post.platform[:MAX_PLATFORM]}:{post.native_id[:MAX_ID]!r}: {error}"


def quarantine(
    item: RawItem, stage: Stage, error: BaseException | str, clock: Clock
) -> Quarantined:
    """The quarantine record of ``item``, its error prefixed with where the item came from."""
    message = error if isinstance(error, str) else (str(error) or type(error).__name__)
    return Quarantined(
        source=item.source,
        stage=stage,
        error=f"{item.origin}: {message}" if item.origin else message,
        payload=item.payload,
        at=clock(),
        platform=item.platform,
    )


# Worker processes build their Processor once, from a picklable factory.
ProcessorFactory = Callable[[], Processor]
_worker_processor: Processor | None = None

GC_THRESHOLDS: Final = (50_000, 20, 100)
"""Young-generation size and how many younger collections trigger an older one (see
:func:`freeze_heap`)."""


def _init_worker(factory: ProcessorFactory) -> None:
    global _worker_processor  # one processor per worker process, by design
    _worker_processor = factory()
    freeze_heap()


def freeze_heap() -> None:
    """Exempt every object alive now (compiled rules, models) from garbage collection.

    The batch stages allocate many short-lived containers, so the collector runs often; each
    full pass would walk the millions of objects of 10,000 compiled rules again, for nothing
    (they live as long as the process). Measured: matching 14-15 µs per post without, 5-6 with
    (docs/benchmarks.md). Garbage is collected first so none is kept for ever. Objects built
    later (a reloaded catalogue) are collected as usual; calling this again after building
    them is cheap.

    The thresholds are raised for the same reason: a batch in flight is tens of thousands of
    young objects freed by reference counting, and the default (a collection every 700 net
    allocations, a full one every 100) walked them again and again. Timed with ``gc.callbacks``
    around ``bench/pipeline.py``'s end-to-end run (100,000 posts, one worker), the collections
    of the main process went from 1.2 s to 0.12–0.3 s. Cycles are still collected.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


_items_codec = msgspec.msgpack.Encoder()
_items_decoder = msgspec.msgpack.Decoder(list[RawItem])
_processed_decoder = msgspec.msgpack.Decoder(Processed)


def _worker_ready() -> bool:
    return _worker_processor is not None


def _process_in_worker(payload: bytes) -> bytes:
    # Records cross the process boundary as msgpack of the model: much cheaper than pickle.
    assert _worker_processor is not None, "worker process was not initialised"
    return _items_codec.encode(_worker_processor(_items_decoder.decode(payload)))


# --- the I/O side ----------------------------------------------------------------------------


class Sink(Protocol):
    """The store as the writer sees it (``veille.store.Store`` is one): one transaction a call."""

    def write_batch(
        self,
        posts: Sequence[Post],
        matches: Sequence[Sequence[Match]] | None = None,
        cursors: Mapping[str, str] | None = None,
        *,
        rejected: Sequence[Quarantined] = (),
        folded: Sequence[str] | None = None,
        payloads: Sequence[bytes | None] | None = None,
        source: str = "",
        enrichments: Sequence[Enrichment] | None = None,
        checked: bool = False,
    ) -> Any:
        """Store posts (upsert), their matches and findings, quarantined records and cursors
        atomically; the result may list the conversations it ``flagged`` as
        ``(platform, root)``. ``payloads[i]``, when not ``None``, is the raw copy of
        ``posts[i]`` (instead of its ``raw``). ``checked``: every post passed
        ``veille.store.checks.check_post`` already (and every payload
        ``storable_payload``)."""
        ...


@runtime_checkable
class Acknowledging(Protocol):
    """A source that wants to know when each of its batches is stored (HTTP ingest does)."""

    def stored(self, batch: Batch, quarantined: Sequence[Quarantined]) -> None: ...


@runtime_checkable
class Closable(Protocol):
    """A source that ends its stream itself when asked (draining what it accepted)."""

    def close(self) -> None: ...


@dataclass(frozen=True)
class Stored:
    """What one transaction committed: handed to the after-store hooks."""

    posts: Sequence[Post]
    matches: Sequence[Sequence[Match]]
    enrichments: Sequence[Enrichment]
    quarantined: Sequence[Quarantined]
    cursors: Mapping[str, str]
    flagged: Sequence[tuple[str, str]] = ()
    """Conversations ``(platform, root)`` this transaction flagged."""


AfterStore = Callable[[Stored], Awaitable[None] | None]
"""Runs after each commit, in order (alert engine, live console, metrics). A hook that raises
is logged; it never undoes or blocks storage."""


@runtime_checkable
class Closing(Protocol):
    """An after-store hook with work of its own to finish when the pipeline ends
    (:class:`veille.after_store.InBackground`)."""

    async def aclose(self) -> None: ...


@dataclass
class Stats:
    """Counters of a running pipeline, read by the live console and the benchmark."""

    received: int = 0
    stored: int = 0
    matched_posts: int = 0
    matches: int = 0
    quarantined: int = 0
    transactions: int = 0
    started: float = field(default_factory=time.monotonic)
    """When reading began (after worker processes were ready)."""

    @property
    def rate(self) -> float:
        """Posts stored per second since the start."""
        elapsed = time.monotonic() - self.started
        return self.stored / elapsed if elapsed > 0 else 0.0


@dataclass
class _Work:
    """A batch on its way: where it came from and, once processed, what it became."""

    source: Source
    batch: Batch
    processed: Processed | None = None


class Pipeline:
    """Runs sources through the stages into a sink until they end or :meth:`stop` is called."""

    def __init__(
        self,
        sources: Iterable[Source],
        sink: Sink,
        processor: Processor | ProcessorFactory,
        *,
        workers: int = 0,
        queue_batches: int = 4,
        store_batch_posts: int = 5000,
        cursors: Mapping[str, str] | None = None,
        after_store: Sequence[AfterStore] = (),
        clock: Clock = utcnow,
    ) -> None:
        """``processor`` is a Processor, or with ``workers`` a picklable factory of one."""
        self.sources = list(sources)
        names = [s.name for s in self.sources]
        if len(set(names)) != len(names):
            raise ValueError(f"two sources share a name: {sorted(names)}")
        self.sink = sink
        self.workers = workers
        self.store_batch_posts = store_batch_posts
        self.cursors = dict(cursors or {})
        self.after_store = list(after_store)
        self.clock = clock
        self.stats = Stats()
        self._factory: ProcessorFactory | None = None
        self._processor: Processor | None = None
        if isinstance(processor, Processor):
            if workers:
                raise ValueError("worker processes need a processor factory, not a Processor")
            self._processor = processor
        elif workers:
            self._factory = processor
        else:
            self._processor = processor()
        self._raw: Channel[_Work] = Channel(queue_batches, "raw")
        self._processed: Channel[_Work] = Channel(queue_batches, "processed")
        self._readers: list[asyncio.Task[None]] = []
        self._pool: Executor | None = None
        self._thread: ThreadPoolExecutor | None = None
        """Runs the in-process Processor: one thread, so it stays single-threaded and in order."""
        self._stopping = False

    # -- running ------------------------------------------------------------------------------

    async def run(self) -> Stats:
        """Run until every source has ended, or :meth:`stop` was called and all is drained."""
        self._start_pool()
        try:
            await self._warm_up()
            freeze_heap()
            self.stats.started = time.monotonic()
            self._readers = [
                asyncio.create_task(self._read(source), name=f"read {source.name}")
                for source in self.sources
            ]
            stages = [
                asyncio.create_task(self._process(), name="process"),
                asyncio.create_task(self._write(), name="write"),
            ]
            readers = asyncio.gather(*self._readers, return_exceptions=True)
            for source, result in zip(self.sources, await readers, strict=True):
                if isinstance(result, BaseException) and not isinstance(
                    result, asyncio.CancelledError
                ):
                    log.error("source %s failed: %s", source.name, result, exc_info=result)
            self._raw.close()
            await asyncio.gather(*stages)
            for hook in self.after_store:
                if isinstance(hook, Closing):
                    await hook.aclose()
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True, cancel_futures=True)
            if self._thread is not None:
                self._thread.shutdown(wait=True)
                self._thread = None
        return self.stats

    @property
    def processor(self) -> Processor | None:
        """The processor running the pure stages in this process (``None`` with workers)."""
        return self._processor

    @property
    def stopping(self) -> bool:
        """Whether :meth:`stop` was called (by a signal, or by the caller)."""
        return self._stopping

    def stop(self) -> None:
        """Stop reading; what was read goes through and is committed, then :meth:`run` returns."""
        if self._stopping:
            return
        self._stopping = True
        for source, reader in zip(self.sources, self._readers, strict=False):
            if isinstance(source, Closable):
                source.close()  # it ends its own stream after handing over what it accepted
            else:
                reader.cancel()

    def install_signal_handlers(self) -> None:
        """SIGINT/SIGTERM drain and commit; a second one exits at once (committed data stays)."""
        loop = asyncio.get_running_loop()

        def on_signal(signum: int) -> None:
            if self._stopping:
                log.warning("second %s: exiting without draining", signal.Signals(signum).name)
                raise SystemExit(128 + signum)
            log.info("%s: draining, then stopping", signal.Signals(signum).name)
            self.stop()

        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, on_signal, signum)

    # -- stage 1: read ------------------------------------------------------------------------

    async def _read(self, source: Source) -> None:
        async for batch in source.stream(self.cursors.get(source.name)):
            self.stats.received += len(batch.items)
            try:
                await self._raw.put(_Work(source, batch))
            except ChannelClosed:
                return

    # -- stage 2: the pure stages -------------------------------------------------------------

    async def _process(self) -> None:
        # Submitting and collecting are two tasks, so worker processes always have the next
        # batch queued while the oldest result is awaited; results leave in batch order.
        in_flight: Channel[tuple[_Work, asyncio.Future[Processed]]] = Channel(
            max(1, self.workers) * 2, "in flight"
        )

        async def submit() -> None:
            try:
                async for work in self._raw:
                    future = asyncio.ensure_future(self._run_pure(work.batch.items))
                    await in_flight.put((work, future))
            finally:
                in_flight.close()

        async def collect() -> None:
            try:
                async for work, future in in_flight:
                    work.processed = await future
                    work.processed.quarantined += work.batch.rejected
                    await self._processed.put(work)
            finally:
                self._processed.close()

        await asyncio.gather(submit(), collect())

    async def _run_pure(self, items: list[RawItem]) -> Processed:
        if self._processor is not None:
            if self._thread is None:
                self._thread = ThreadPoolExecutor(1, thread_name_prefix="veille-pure")
            loop = asyncio.get_running_loop()
            done = await loop.run_in_executor(self._thread, self._processor, items)
            return done.with_payloads(items)
        pool = self._pool
        assert pool is not None
        payload = _items_codec.encode(items)
        try:
            result = await asyncio.get_running_loop().run_in_executor(
                pool, _process_in_worker, payload
            )
            return _processed_decoder.decode(result).with_payloads(items)
        except BrokenProcessPool:
            if pool is self._pool:  # not a pool already replaced by a swap
                self._start_pool()
            if len(items) == 1:
                log.error("worker died on %s %s: quarantined", items[0].source, items[0].origin)
                return Processed(
                    quarantined=[
                        quarantine(items[0], "match", "a worker process died on it", self.clock)
                    ]
                )
            half = len(items) // 2
            first = await self._run_pure(items[:half])
            first.extend(await self._run_pure(items[half:]))
            return first

    async def _warm_up(self, pool: Executor | None = None) -> None:
        """Have every worker build its processor (compiling the rules) before reading starts,
        so the first batches do not wait and throughput counts from the first post."""
        pool = pool or self._pool
        if pool is None:
            return
        loop = asyncio.get_running_loop()
        await asyncio.gather(
            *(loop.run_in_executor(pool, _worker_ready) for _ in range(self.workers))
        )

    async def swap_processor(self, processor: Processor | ProcessorFactory) -> None:
        """Run the pure stages of every batch not yet started with ``processor`` (the rules
        changed); each batch is processed wholly by the old or wholly by the new one.

        In this process (``processor`` a Processor) the swap is one assignment; the batches
        already handed to the pure-stage thread finish with the old one. With worker
        processes (``processor`` a factory) a new pool is started and warmed up while the old
        one keeps working; then new batches go to the new pool, and the old one finishes the
        batches it holds and exits.
        """
        if self._factory is None:
            if not isinstance(processor, Processor):
                raise TypeError("a pipeline without workers swaps in a Processor")
            self._processor = processor
            return
        if isinstance(processor, Processor):
            raise TypeError("worker processes need a processor factory, not a Processor")
        if self._pool is None:  # not running yet: run() starts the pool with the new factory
            self._factory = processor
            return
        pool = ProcessPoolExecutor(
            max_workers=self.workers, initializer=_init_worker, initargs=(processor,)
        )
        try:
            await self._warm_up(pool)
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        self._factory = processor
        old, self._pool = self._pool, pool
        old.shutdown(wait=False)

    def _start_pool(self) -> None:
        if self._factory is None:
            return
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        self._pool = ProcessPoolExecutor(
            max_workers=self.workers, initializer=_init_worker, initargs=(self._factory,)
        )

    # -- stage 3: store -----------------------------------------------------------------------

    async def _write(self) -> None:
        while True:
            try:
                works = [await self._processed.get()]
            except ChannelClosed:
                return
            size = _posts(works[-1])
            while size < self.store_batch_posts and (more := self._processed.get_nowait()):
                works.append(more)
                size += _posts(more)
            await self._commit(works)

    async def _commit(self, works: list[_Work]) -> None:
        combined = Processed()
        cursors: dict[str, str] = {}
        for work in works:
            assert work.processed is not None
            combined.extend(work.processed)
            if work.batch.cursor is not None:
                cursors[work.source.name] = work.batch.cursor
        flagged = await self._write_isolating(combined, cursors)
        self.cursors.update(cursors)
        self._count(combined)
        for work in works:
            if isinstance(work.source, Acknowledging):
                assert work.processed is not None
                work.source.stored(work.batch, work.processed.quarantined)
        stored = Stored(
            combined.posts,
            combined.matches,
            combined.enrichments,
            combined.quarantined,
            cursors,
            flagged,
        )
        for hook in self.after_store:
            try:
                result = hook(stored)
                if result is not None:
                    await result
            except Exception:
                log.exception("after-store hook %r failed", hook)

    async def _write_isolating(
        self, done: Processed, cursors: Mapping[str, str]
    ) -> list[tuple[str, str]]:
        """Write in one transaction; when that fails, bisect to find and quarantine the culprit.

        The cursors go with the last piece, so none is committed before all its posts are. When
        nothing is left to isolate the store itself is failing: wait and try again, for ever
        (backpressure then holds the sources). Returns the conversations flagged.
        """
        pause = 0.1
        while True:
            try:
                return await self._write_once(done, cursors)
            except Exception as exc:
                error = exc
            if len(done.posts) > 1:
                log.warning(
                    "store write of %d posts failed (%s): bisecting", len(done.posts), error
                )
                first, second = done.split(len(done.posts) // 2)
                flagged = await self._write_isolating(first, {})
                flagged += await self._write_isolating(second, cursors)
                first.extend(second)
                _replace(done, first)
                return flagged
            if done.posts:
                post = done.posts[0]
                payload = done.payloads[0] if done.payloads else None
                if payload is not None:  # the record keeps the post whole, its raw copy too
                    post = msgspec.structs.replace(post, raw=raw_of(payload))
                culprit = Quarantined(
                    source=done.sources[0],
                    stage="store",
                    error=f"post {post.platform}:{post.native_id}: {error}",
                    payload=msgspec.json.encode(post),
                    at=self.clock(),
                    platform=post.platform,
                )
                alone = Processed(quarantined=[*done.quarantined, culprit])
                with contextlib.suppress(Exception):
                    await self._write_once(alone, cursors)
                    _replace(done, alone)
                    return []
            log.error("store unavailable (%s); retrying in %.1f s", error, pause)
            await asyncio.sleep(pause)
            pause = min(pause * 2, 5.0)

    async def _write_once(
        self, done: Processed, cursors: Mapping[str, str]
    ) -> list[tuple[str, str]]:
        sources = set(done.sources)
        result = await asyncio.to_thread(
            functools.partial(
                self.sink.write_batch,
                done.posts,
                done.matches,
                cursors,
                rejected=done.quarantined,
                folded=done.folded,
                payloads=done.payloads,
                source=sources.pop() if len(sources) == 1 else "",
                enrichments=done.enrichments if done.enrichments else None,
                checked=True,  # the Processor ran the store's checks
            )
        )
        return list(getattr(result, "flagged", ()))

    def _count(self, done: Processed) -> None:
        stats = self.stats
        stats.transactions += 1
        stats.stored += len(done.posts)
        stats.quarantined += len(done.quarantined)
        for matches in done.matches:
            if matches:
                stats.matched_posts += 1
                stats.matches += len(matches)


def _replace(target: Processed, source: Processed) -> None:
    for name in Processed.__struct_fields__:
        setattr(target, name, getattr(source, name))


def _posts(work: _Work) -> int:
    return len(work.processed.posts) if work.processed is not None else 0
