"""The scale-out bus: raw items on a NATS JetStream stream, one partition per pipeline worker.

``veille ingest`` runs the connectors and *publishes* each :class:`~veille.model.RawItem` on
``<prefix>.<partition>``; the partition is a stable hash of the item's conversation (its root
id, else its parent, else itself), so one conversation goes to one worker. A publish carries
``Nats-Msg-Id`` (platform, native id and a digest of the payload): the server's duplicate window
drops what a restarted connector publishes again, while an *edit* (same id, new payload) still
goes through. A source's cursor is saved only once the server acknowledged its items.

``veille run --bus URL --partition I/N`` reads partition I through :class:`BusSource`, whose
cursor is the stream sequence of the last item of a batch. The pipeline commits that cursor in
the same transaction as the posts, so a worker killed at any moment resumes right after its
stored data with a fresh consumer starting at ``cursor + 1``: no ack bookkeeping, no loss, and
no duplicate beyond the store's upsert.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import re
import ssl
import zlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any, Final

import msgspec
import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    StorageType,
    StreamConfig,
    StreamInfo,
)

from veille.clock import Clock, utcnow
from veille.config import BusSettings
from veille.model import Quarantined, RawItem
from veille.normalise.registry import normalise
from veille.sources.base import Batch
from veille.sources.live import Backoff

log = logging.getLogger("veille.bus")

_DESCRIPTION: Final = "veille raw items, {n} partitions"
_PARTITIONS_RE: Final = re.compile(r"veille raw items, (\d+) partitions")
_SAFE_ID: Final = re.compile(r"[!-~]{1,256}")
"""A native id put as is in a header: printable ASCII, bounded; others are hashed."""
_REJECT_PREFIX: Final = 4096
_HEADER_ROOM: Final = 512
"""Bytes kept for the ``Nats-Msg-Id`` header (a bounded id and a digest) within a limit."""
_ACK_TIMEOUT: Final = 10.0
_FETCH_WAIT: Final = 1.0
_CONSUMER_IDLE: Final = 300.0
"""Seconds after which the server forgets the consumer of a worker that died (kill -9)."""

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(RawItem).decode


class BusError(Exception):
    """The bus cannot be used as configured: the message says what and where."""


# -- connecting ------------------------------------------------------------------------------


async def connect(settings: BusSettings) -> Client:
    """Connect to the configured servers; afterwards nats-py reconnects on its own, forever,
    every ``reconnect_time_wait`` seconds (publishes wait, fetches fail and are retried)."""

    async def on_error(exc: Exception) -> None:
        log.warning("NATS: %s", exc)

    clients: list[Client] = []

    async def on_disconnect() -> None:
        if clients and not clients[0].is_closed:  # not our own close()
            log.warning("NATS: disconnected from %s, reconnecting", settings.url)

    async def on_reconnect() -> None:
        log.info("NATS: reconnected")

    options: dict[str, Any] = {
        "servers": [s.strip() for s in settings.url.split(",") if s.strip()],
        "connect_timeout": settings.connect_timeout,
        "allow_reconnect": True,
        # The first connection tries each server twice: a wrong URL is an error, not a hang.
        "max_reconnect_attempts": 1,
        "reconnect_time_wait": 2,
        "error_cb": on_error,
        "disconnected_cb": on_disconnect,
        "reconnected_cb": on_reconnect,
    }
    if settings.user:
        options["user"] = settings.user
        options["password"] = settings.password
    if settings.token:
        options["token"] = settings.token
    if settings.creds_file:
        options["user_credentials"] = settings.creds_file
    if settings.tls_ca_file or settings.tls_cert_file:
        context = ssl.create_default_context(cafile=settings.tls_ca_file or None)
        if settings.tls_cert_file:
            context.load_cert_chain(settings.tls_cert_file, settings.tls_key_file or None)
        options["tls"] = context
    try:
        client = await nats.connect(**options)
    except (TimeoutError, OSError, nats.errors.Error) as exc:
        raise BusError(
            f"cannot reach NATS at {settings.url}: {exc or type(exc).__name__}"
        ) from None
    # Once connected, a lost connection is retried forever (nats-py reads this option live).
    client.options["max_reconnect_attempts"] = -1
    clients.append(client)
    return client


def stream_config(settings: BusSettings) -> StreamConfig:
    """The stream as configured: file storage, bounded by age, bytes and message size."""
    return StreamConfig(
        name=settings.stream,
        description=_DESCRIPTION.format(n=settings.partitions),
        subjects=[f"{settings.subject_prefix}.*"],
        storage=StorageType.FILE,
        discard=DiscardPolicy.OLD,
        max_age=settings.max_age_hours * 3600 or None,
        max_bytes=settings.max_bytes,
        max_msg_size=settings.max_msg_bytes,
        duplicate_window=settings.duplicate_window_seconds,
        num_replicas=settings.replicas,
    )


_CREATED_MEANWHILE: Final = frozenset({10058, 10065})
"""JetStream's codes for "stream name already in use" and "subjects overlap with an existing
stream": answered to a create when the stream appeared after it was looked up (another process
created it, or the server was still recovering its streams after a restart)."""
_LOOKUPS: Final = 5


async def ensure_stream(js: JetStreamContext, settings: BusSettings) -> StreamInfo:
    """Create the stream, or bring an existing one to the configured limits (idempotent).

    Refuses a stream made for another number of partitions: items already routed by the old
    count would be read by the wrong worker, or by none. A stream that appears between the
    lookup and the create (workers starting together, a server restarting) is looked up again.
    """
    wanted = stream_config(settings)
    for lookup in range(_LOOKUPS):
        info = await _stream_info(js, settings)
        try:
            if info is None:
                return await js.add_stream(wanted)
            found = _PARTITIONS_RE.fullmatch(info.config.description or "")
            if found is None or int(found.group(1)) != settings.partitions:
                raise BusError(
                    f"stream {settings.stream} on {settings.url} is described as "
                    f"{info.config.description!r}, not as {settings.partitions} partitions: "
                    "[bus] partitions cannot change for a stream; drain the workers and use a "
                    "new stream name"
                )
            if info.config.subjects != wanted.subjects:
                raise BusError(
                    f"stream {settings.stream} holds subjects {info.config.subjects}, not "
                    f"{wanted.subjects}: [bus] subject_prefix cannot change for a stream"
                )
            return await js.update_stream(wanted)
        except nats.js.errors.APIError as exc:
            if info is None and exc.err_code in _CREATED_MEANWHILE and lookup < _LOOKUPS - 1:
                await asyncio.sleep(0.1 * (lookup + 1))
                continue
            raise BusError(
                f"stream {settings.stream} on {settings.url} refused [bus] (max_bytes "
                f"{settings.max_bytes}, replicas {settings.replicas}, …): {exc.description}"
            ) from None
    raise AssertionError("unreachable: the last lookup returns or raises")


async def _stream_info(js: JetStreamContext, settings: BusSettings) -> StreamInfo | None:
    """The stream's state, ``None`` when it does not exist; a clear error when JetStream is
    off or does not answer."""
    try:
        return await js.stream_info(settings.stream)
    except nats.js.errors.NotFoundError:
        return None
    except (nats.errors.NoRespondersError, nats.js.errors.ServiceUnavailableError):
        raise BusError(
            f"JetStream is not enabled on {settings.url}: start nats-server with -js"
        ) from None
    except (TimeoutError, nats.errors.TimeoutError):
        raise BusError(
            f"NATS at {settings.url} did not answer about stream {settings.stream}"
        ) from None


# -- routing ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Route:
    """Where one item goes on the bus and the id the server deduplicates it by."""

    partition: int
    msg_id: str


def _digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=8).hexdigest()


def route(item: RawItem, partitions: int) -> Route:
    """The partition of ``item`` (by conversation) and its ``Nats-Msg-Id``.

    The platform's mapper tells the post's id and thread: the partition hashes the root id,
    else the parent id (a direct reply joins its root), else the post's own id. A payload that
    does not map goes by its digest; the worker quarantines it with the mapper's error.
    """
    digest = _digest(item.payload)
    try:
        posts = normalise(item)
    except Exception:  # the worker reports it, with the error, in quarantine
        posts = []
    if not posts:
        key = f"{item.platform}:#{digest}"
        return Route(zlib.crc32(key.encode()) % partitions, key)
    post = posts[0]
    root = post.root_id or post.reply_to or post.native_id
    partition = zlib.crc32(f"{post.platform}:{root}".encode()) % partitions
    native = (
        post.native_id
        if _SAFE_ID.fullmatch(post.native_id)
        else "#" + _digest(post.native_id.encode("utf-8", "surrogatepass"))
    )
    return Route(partition, f"{post.platform}:{native}:{digest}")


def subject(settings: BusSettings, partition: int) -> str:
    """The subject of one partition."""
    return f"{settings.subject_prefix}.{partition}"


# -- publishing ------------------------------------------------------------------------------


class Publisher:
    """Publishes batches and returns only once the server acknowledged every item.

    At most ``in_flight`` publishes await their ack at once. A publish that fails or is not
    acknowledged in time is sent again (with backoff, until it is): the message id makes the
    second copy a no-op if the first one did arrive. An item over ``max_msg_bytes`` is
    returned as quarantined instead.
    """

    def __init__(
        self,
        client: Client,
        settings: BusSettings,
        *,
        clock: Clock = utcnow,
        ack_timeout: float = _ACK_TIMEOUT,
    ) -> None:
        self.client = client
        self.js = client.jetstream(publish_async_max_pending=settings.in_flight)
        self.settings = settings
        self.clock = clock
        self.ack_timeout = ack_timeout
        self.published = 0
        self.duplicates = 0
        self.retries = 0

    async def send(self, source: str, items: Sequence[RawItem]) -> list[Quarantined]:
        """Publish ``items``; returns those too large for the bus (the caller quarantines)."""
        rejected: list[Quarantined] = []
        pending: list[tuple[str, bytes, str]] = []
        # The server refuses messages over its max_payload (1 MiB unless configured); the
        # message id header counts too.
        limit = min(self.settings.max_msg_bytes, self.client.max_payload or (1 << 30))
        for item in items:
            data = _encode(item)
            if len(data) + _HEADER_ROOM > limit:
                rejected.append(
                    Quarantined(
                        source=item.source or source,
                        stage="source",
                        error=f"{item.origin or 'item'}: {len(data)} bytes on the bus, over "
                        f"its limit of {limit} ([bus] max_msg_bytes, the server's max_payload;"
                        f" first {_REJECT_PREFIX} bytes kept)",
                        payload=item.payload[:_REJECT_PREFIX],
                        at=self.clock(),
                        platform=item.platform,
                    )
                )
                continue
            where = route(item, self.settings.partitions)
            pending.append((subject(self.settings, where.partition), data, where.msg_id))
        backoff = Backoff(0.2, 30.0)
        while pending:
            failed = await self._attempt(pending)
            if not failed:
                break
            self.retries += len(failed)
            delay = backoff.next()
            log.warning(
                "bus: %d of %d publishes not acknowledged; again in %.1fs",
                len(failed),
                len(pending),
                delay,
            )
            pending = failed
            await asyncio.sleep(delay)
        return rejected

    async def _attempt(self, pending: list[tuple[str, bytes, str]]) -> list[tuple[str, bytes, str]]:
        failed = []
        step = self.settings.in_flight
        for start in range(0, len(pending), step):
            failed += await self._window(pending[start : start + step])
        return failed

    async def _window(self, pending: list[tuple[str, bytes, str]]) -> list[tuple[str, bytes, str]]:
        # At most `in_flight` publishes, so the client's semaphore (as large) never waits:
        # without a stall timeout no publish yields to the event loop, and the whole window
        # leaves in one socket write instead of one per message.
        futures: list[asyncio.Future[Any] | None] = []
        for subj, data, msg_id in pending:
            try:
                future = await self.js.publish_async(
                    subj, data, headers={"Nats-Msg-Id": msg_id}, wait_stall=None
                )
            except (nats.errors.Error, OSError) as exc:
                log.debug("bus: publish failed: %s", exc)
                future = None
            futures.append(future)
        waiting = [f for f in futures if f is not None]
        if waiting:
            await asyncio.wait(waiting, timeout=self.ack_timeout)
        failed = []
        for message, future in zip(pending, futures, strict=True):
            if future is None or not future.done() or future.exception() is not None:
                if future is not None and not future.done():
                    future.cancel()
                elif future is not None and future.exception() is not None:
                    log.debug("bus: publish refused: %s", future.exception())
                failed.append(message)
                continue
            ack = future.result()
            self.published += 1
            self.duplicates += bool(ack.duplicate)
        return failed


# -- consuming -------------------------------------------------------------------------------


def parse_partition(text: str) -> tuple[int, int]:
    """``"I/N"`` → ``(I, N)`` with ``0 <= I < N``, or a ValueError saying what is expected."""
    index, slash, count = text.partition("/")
    if not slash or not index.isdigit() or not count.isdigit():
        raise ValueError(f"partition {text!r}: expected I/N, e.g. 0/2")
    i, n = int(index), int(count)
    if not 0 <= i < n:
        raise ValueError(f"partition {text!r}: I must be at least 0 and below N")
    return i, n


class BusSource:
    """One partition of the stream as a pipeline source; the cursor is a stream sequence.

    Each :meth:`stream` starts an ephemeral pull consumer at ``cursor + 1`` filtered on the
    partition's subject, with no acknowledgements: the committed cursor is the only state.
    """

    def __init__(
        self,
        settings: BusSettings,
        partition: int,
        *,
        batch_size: int | None = None,
        clock: Clock = utcnow,
    ) -> None:
        if not 0 <= partition < settings.partitions:
            raise ValueError(
                f"partition {partition} does not exist: [bus] partitions = {settings.partitions}"
            )
        self.settings = settings
        self.partition = partition
        self.batch_size = batch_size or settings.fetch_batch
        self.clock = clock
        self.name = f"nats:{settings.stream}:{partition}/{settings.partitions}"
        self._closing = asyncio.Event()

    def close(self) -> None:
        """End the stream after the batch being handed over (what the pipeline calls on stop)."""
        self._closing.set()

    async def stream(self, cursor: str | None) -> AsyncIterator[Batch]:
        """Batches of the partition from the item after ``cursor`` until :meth:`close`."""
        try:
            position = int(cursor) if cursor else 0
        except ValueError:
            raise BusError(f"{self.name}: cursor {cursor!r} is not a stream sequence") from None
        client = await connect(self.settings)
        try:
            js = client.jetstream()
            info = await ensure_stream(js, self.settings)
            if position and info.state.first_seq > position + 1:
                log.error(
                    "%s: the stream now starts at sequence %d, after this worker's cursor %d: "
                    "items in between expired ([bus] max_age_hours / max_bytes) before they "
                    "were read",
                    self.name,
                    info.state.first_seq,
                    position,
                )
            async for batch in self._read(js, position):
                yield batch
        finally:
            with contextlib.suppress(Exception):
                await client.close()

    async def _subscribe(self, js: JetStreamContext, position: int) -> Any:
        config = ConsumerConfig(
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=position + 1,
            ack_policy=AckPolicy.NONE,
            inactive_threshold=_CONSUMER_IDLE,
        )
        return await js.pull_subscribe(
            subject(self.settings, self.partition), stream=self.settings.stream, config=config
        )

    async def _read(self, js: JetStreamContext, position: int) -> AsyncIterator[Batch]:
        subscription = await self._subscribe(js, position)
        backoff = Backoff(0.5, 30.0)
        idle = 0
        while not self._closing.is_set():
            try:
                messages = await subscription.fetch(self.batch_size, timeout=_FETCH_WAIT)
            except (TimeoutError, nats.errors.TimeoutError):
                idle += 1
                if idle % 30 == 0 and not await self._consumer_alive(subscription):
                    subscription = await self._resubscribe(js, subscription, position)
                continue
            except (nats.errors.Error, OSError) as exc:
                delay = backoff.next()
                log.warning("%s: fetch failed (%s); again in %.1fs", self.name, exc, delay)
                await asyncio.sleep(delay)
                with contextlib.suppress(Exception):
                    subscription = await self._resubscribe(js, subscription, position)
                continue
            idle = 0
            backoff.reset()
            batch = self._batch(messages)
            if batch is None:
                continue
            position = int(batch.cursor or position)
            yield batch
        with contextlib.suppress(Exception):
            await subscription.unsubscribe()

    def _batch(self, messages: Sequence[Any]) -> Batch | None:
        items: list[RawItem] = []
        rejected: list[Quarantined] = []
        last = 0
        for message in messages:
            metadata = message.metadata
            if metadata is None or metadata.sequence is None:  # a status, not an item
                continue
            last = metadata.sequence.stream
            try:
                items.append(_decode(message.data))
            except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                rejected.append(
                    Quarantined(
                        source=self.name,
                        stage="source",
                        error=f"stream sequence {last}: not a veille raw item: {exc}",
                        payload=bytes(message.data[:_REJECT_PREFIX]),
                        at=self.clock(),
                    )
                )
        if not last:
            return None
        return Batch(items, str(last), rejected)

    async def _consumer_alive(self, subscription: Any) -> bool:
        try:
            await subscription.consumer_info()
        except nats.js.errors.NotFoundError:
            return False
        except (TimeoutError, nats.errors.Error, OSError):
            return True  # cannot tell now: the connection is the problem, not the consumer
        return True

    async def _resubscribe(self, js: JetStreamContext, subscription: Any, position: int) -> Any:
        log.info("%s: consumer gone; resuming after sequence %d", self.name, position)
        with contextlib.suppress(Exception):
            await subscription.unsubscribe()
        return await self._subscribe(js, position)
