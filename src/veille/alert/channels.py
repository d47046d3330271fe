"""Channels: how one notification reaches one receiver — a signed webhook, or Apprise.

A channel sends once and says what happened; retrying, backoff and dead letters are the
worker's job. Nothing here decides what to say (that is ``render``).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import time
import warnings
from collections.abc import Mapping
from datetime import timedelta
from typing import Protocol

import httpx
import msgspec
import orjson

from veille import __version__
from veille.alert.retry import parse_retry_after
from veille.clock import Clock, utcnow
from veille.config import AlertReceiver, AlertsSettings

SIGNATURE_HEADER = "X-Veille-Signature"
TIMESTAMP_HEADER = "X-Veille-Timestamp"
IDEMPOTENCY_HEADER = "Idempotency-Key"
RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


class SendResult(msgspec.Struct, frozen=True, kw_only=True):
    """The outcome of one attempt."""

    ok: bool
    error: str = ""
    retry_after: timedelta | None = None
    permanent: bool = False
    """Retrying cannot help (the receiver refused the request itself, e.g. HTTP 400/401/404)."""


class Message(Protocol):
    """What a channel needs from a leased notification."""

    @property
    def idempotency_key(self) -> str: ...

    @property
    def payload(self) -> bytes: ...


class Channel(Protocol):
    """Anything that can attempt one delivery."""

    async def send(self, message: Message) -> SendResult: ...

    async def aclose(self) -> None: ...


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    """The signature header value: ``sha256=`` HMAC-SHA256 over ``timestamp + "." + body``.

    The timestamp is inside the signed text so a captured request cannot be replayed later
    with a fresh timestamp; receivers reject timestamps older than a few minutes.
    """
    mac = hmac.new(secret, timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(secret: bytes, timestamp: str, body: bytes, signature: str) -> bool:
    """Check a webhook signature in constant time (what a receiver does; used in tests)."""
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


class WebhookChannel:
    """POST the JSON body, signed, with an idempotency key, to one URL."""

    def __init__(
        self,
        url: str,
        secret: bytes,
        timeout: timedelta,
        client: httpx.AsyncClient | None = None,
        clock: Clock = utcnow,
    ) -> None:
        self.url = url
        self.secret = secret
        self.timeout = timeout.total_seconds()
        self.clock = clock
        self._client = client or httpx.AsyncClient(
            timeout=self.timeout,
            follow_redirects=False,
            limits=httpx.Limits(max_connections=32, max_keepalive_connections=8),
        )
        self._owns_client = client is None

    async def send(self, message: Message) -> SendResult:
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": f"veille/{__version__}",
            IDEMPOTENCY_HEADER: message.idempotency_key,
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign(self.secret, timestamp, message.payload),
        }
        try:
            # an overall deadline too: a receiver trickling bytes cannot hold a worker forever
            response = await asyncio.wait_for(
                self._client.post(self.url, content=message.payload, headers=headers),
                timeout=self.timeout * 2,
            )
        except (httpx.HTTPError, TimeoutError) as exc:
            return SendResult(ok=False, error=f"{type(exc).__name__}: {exc}"[:500])
        status = response.status_code
        if 200 <= status < 300:
            return SendResult(ok=True)
        error = f"HTTP {status} from {self.url}"
        if status in RETRYABLE_STATUS:
            delay = parse_retry_after(response.headers.get("retry-after"), self.clock())
            return SendResult(ok=False, error=error, retry_after=delay)
        return SendResult(ok=False, error=error, permanent=True)

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()


class AppriseChannel:
    """Any service Apprise speaks: e-mail, Slack, Teams, Matrix, Telegram, ntfy, json:// …

    A receiver with several URLs is retried whole when one of them fails; give each service its
    own receiver when a duplicate message on the others matters.
    """

    def __init__(self, urls: list[str], timeout: timedelta) -> None:
        # imported here: loading its plugins costs ~0.3 s, only when used. Apprise loads them
        # on the first add(); some import modules Python deprecates (imghdr): theirs to fix.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            import apprise

            self._apprise = apprise.Apprise()
            for url in urls:
                if not self._apprise.add(url):
                    raise ValueError(f"Apprise does not understand the URL {_redact(url)!r}")
        self.timeout = timeout.total_seconds()

    async def send(self, message: Message) -> SendResult:
        body = orjson.loads(message.payload)
        try:
            ok = await asyncio.wait_for(
                asyncio.to_thread(
                    self._apprise.notify, title=str(body["title"]), body=str(body["text"])
                ),
                timeout=max(self.timeout * 3, 10.0),
            )
        except TimeoutError:
            return SendResult(ok=False, error="Apprise did not finish in time")
        return SendResult(ok=True) if ok else SendResult(ok=False, error="Apprise reported failure")

    async def aclose(self) -> None:
        return None


def _redact(url: str) -> str:
    """A URL without credentials, for error messages (Apprise URLs carry tokens)."""
    scheme, _, rest = url.partition("://")
    return f"{scheme}://…" if rest else url[:20]


def receiver_secret(receiver: AlertReceiver, environ: Mapping[str, str] | None = None) -> bytes:
    """The webhook HMAC key: from ``secret_env`` (preferred) or ``secret``."""
    env = os.environ if environ is None else environ
    if receiver.secret_env:
        value = env.get(receiver.secret_env, "")
        if not value:
            raise ValueError(
                f"receiver {receiver.name!r}: environment variable {receiver.secret_env} is empty"
            )
        return value.encode()
    if not receiver.secret:
        raise ValueError(f"receiver {receiver.name!r}: a webhook needs secret or secret_env")
    return receiver.secret.encode()


def build_channel(receiver: AlertReceiver, client: httpx.AsyncClient | None = None) -> Channel:
    """The channel for one configured receiver (raises ``ValueError`` naming what is wrong)."""
    if receiver.type == "webhook":
        if not receiver.url.startswith(("http://", "https://")):
            raise ValueError(f"receiver {receiver.name!r}: url must be http:// or https://")
        return WebhookChannel(receiver.url, receiver_secret(receiver), receiver.timeout, client)
    if not receiver.urls:
        raise ValueError(f"receiver {receiver.name!r}: an apprise receiver needs urls")
    try:
        return AppriseChannel(receiver.urls, receiver.timeout)
    except ValueError as exc:
        raise ValueError(f"receiver {receiver.name!r}: {exc}") from None


def build_channels(
    settings: AlertsSettings, client: httpx.AsyncClient | None = None
) -> dict[str, Channel]:
    """Every configured receiver's channel, by receiver name."""
    return {r.name: build_channel(r, client) for r in settings.receivers}
