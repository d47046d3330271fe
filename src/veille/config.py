"""Settings: ``veille.toml`` plus ``VEILLE_*`` environment variables, typed in one place.

Each subsystem owns one section model here; environment variables override the file with
``__`` between levels, e.g. ``VEILLE_STORE__URL=postgresql+psycopg://…``.
"""

from __future__ import annotations

import os
import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

DEFAULT_CONFIG_FILE = "veille.toml"


class Section(BaseModel):
    """Base of every configuration section: unknown keys are an error, not silently ignored."""

    model_config = ConfigDict(extra="forbid")


class StoreSettings(Section):
    url: str = "sqlite:///veille.db"
    """SQLAlchemy URL: ``sqlite:///path`` (default) or ``postgresql+psycopg://user@host/db``."""
    keep: Literal["all", "matched"] = "all"
    """``all`` stores every post; ``matched`` only posts that matched a rule and the posts of
    conversations followed after a match (the rest is counted and dropped)."""
    synchronous: Literal["off", "normal", "full", "extra"] = "normal"
    """SQLite only: ``normal`` keeps every committed batch through a killed process; ``full``
    also through a power cut, at the cost of one fsync per batch."""


class ConversationsSettings(Section):
    follow_window_hours: float = Field(default=72.0, gt=0, le=24 * 365)
    """How long after its last match a flagged conversation's new posts are still followed."""


class RulesSettings(Section):
    paths: list[str] = Field(default_factory=lambda: ["rules"])
    """Rule files, or folders whose ``*.toml`` files are all loaded."""
    reload_seconds: float = Field(default=5.0, ge=0.0, le=3_600.0)
    """How often ``veille run`` looks for changed rule files and swaps in the new catalogue
    (docs/rules.md); 0: never, rules are read at start only."""


class PipelineSettings(Section):
    """How posts flow: batch sizes, queue bounds, worker processes (docs/running.md)."""

    batch_size: int = Field(default=1000, ge=1, le=100_000)
    """Items per batch read from a replay file or stdin."""
    queue_batches: int = Field(default=4, ge=1, le=1_000)
    """Batches each queue between two stages holds before the earlier stage waits."""
    workers: int = Field(default=0, ge=0, le=64)
    """Processes running normalise → match → enrich beside the store writer; 0 runs them in the
    main process. With enrichment on, 1 nearly doubles what two cores pass (docs/running.md)."""
    store_batch_posts: int = Field(default=5000, ge=1, le=1_000_000)
    """Most posts written in one transaction (queued batches are combined up to this)."""
    max_line_bytes: int = Field(default=1 << 20, ge=1_024, le=1 << 30)
    """Longest JSON line accepted from a replay; longer ones are quarantined."""


class IngestSettings(Section):
    """The HTTP ingest endpoint ``POST /ingest`` (docs/running.md)."""

    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = Field(default=8787, ge=1, le=65_535)
    token: str = ""
    """Bearer token clients must send, 16 characters at least. Prefer the environment:
    ``VEILLE_INGEST__TOKEN``."""
    platform: str = "generic"
    """Mapping applied to posted payloads."""
    max_body_bytes: int = Field(default=8 << 20, ge=1_024, le=1 << 30)
    max_items: int = Field(default=10_000, ge=1, le=1_000_000)
    queue_requests: int = Field(default=8, ge=1, le=10_000)
    """Requests waiting for the pipeline before clients get 429."""
    ack_seconds: float = Field(default=10.0, ge=0, le=300)
    """How long a request waits for its posts to be stored before answering 202."""


class BusSettings(Section):
    """The NATS JetStream bus between ``veille ingest`` and ``veille run --bus`` workers
    (docs/running.md, "Scaling out")."""

    url: str = "nats://127.0.0.1:4222"
    """Server(s), comma-separated: ``nats://host:4222`` or ``tls://host:4222``."""
    stream: str = Field(default="VEILLE_RAW", pattern=r"^[A-Za-z0-9_-]{1,64}$")
    subject_prefix: str = Field(
        default="veille.raw", pattern=r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$"
    )
    """Items go on ``<prefix>.<partition>``."""
    partitions: int = Field(default=2, ge=1, le=1_024)
    """How many partitions (one worker each); fixed for the life of a stream."""
    max_age_hours: float = Field(default=168.0, ge=0)
    """How long the stream keeps items (0: no limit); workers must not fall further behind."""
    max_bytes: int = Field(default=1 << 30, ge=1 << 20)
    """Disk the stream may use (the server reserves it at creation); past it the oldest items
    are dropped."""
    max_msg_bytes: int = Field(default=1 << 20, ge=1_024, le=64 << 20)
    """Largest item on the bus (the server's ``max_payload`` must allow it); larger items are
    quarantined by the ingester."""
    duplicate_window_seconds: float = Field(default=120.0, gt=0, le=86_400)
    """How long the server remembers message ids to drop re-publishes after a restart."""
    replicas: int = Field(default=1, ge=1, le=5)
    in_flight: int = Field(default=1_000, ge=1, le=100_000)
    """Publishes awaiting their ack at once (the ingester's bound)."""
    fetch_batch: int = Field(default=1_000, ge=1, le=100_000)
    """Items a worker fetches at once (one pipeline batch)."""
    connect_timeout: float = Field(default=5.0, gt=0, le=300)
    user: str = ""
    password: str = ""
    """Prefer ``VEILLE_BUS__PASSWORD`` to writing it in the file."""
    token: str = ""
    """Prefer ``VEILLE_BUS__TOKEN``."""
    creds_file: str = ""
    """A NATS ``.creds`` file (JWT + NKey seed)."""
    tls_ca_file: str = ""
    tls_cert_file: str = ""
    tls_key_file: str = ""


_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(value: object) -> object:
    """Accept ``"90s"``, ``"5m"``, ``"1h30m"``, ``"2d"`` (and what pydantic takes) as a duration."""
    if isinstance(value, str):
        text = value.strip().replace(" ", "")
        if text and _DURATION_PART.sub("", text) == "":
            seconds = sum(float(n) * _DURATION_UNITS[u] for n, u in _DURATION_PART.findall(text))
            return timedelta(seconds=seconds)
    return value


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
"""A length of time written ``"30s"``, ``"5m"``, ``"4h"``, ``"1h30m"`` or ``"2d"``."""

SeverityName = Literal["info", "low", "medium", "high", "critical"]


class AlertTiming(Section):
    """Alertmanager-style timers shared by every route unless a route overrides them."""

    group_wait: Duration = timedelta(0)
    """Wait before the first notification of a new group, to gather its first alerts. Zero
    means an urgent alert goes out at once; later ones in the group wait for group_interval."""
    group_interval: Duration = timedelta(minutes=5)
    """Least time between two notifications of one group: the group window."""
    repeat_interval: Duration = timedelta(hours=4)
    """Remind about alerts still firing and unacknowledged after this long."""


class AlertRoute(Section):
    """Which alerts go to which receivers: every listed condition must hold (empty = any)."""

    receivers: list[str]
    min_severity: SeverityName = "info"
    kinds: list[Literal["rule", "urgent", "trend", "source"]] = Field(default_factory=list)
    rules: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    """At least one of these tags."""
    match: dict[str, str] = Field(default_factory=dict)
    """Exact label values, e.g. ``{platform = "bluesky"}``."""
    group_by: list[str] | None = None
    group_wait: Duration | None = None
    group_interval: Duration | None = None
    repeat_interval: Duration | None = None
    continue_: bool = Field(default=False, alias="continue")
    """Keep looking at later routes after this one matched (as in Alertmanager)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class AlertReceiver(Section):
    """A destination: a signed webhook or any channel Apprise speaks (e-mail, Slack, Teams …)."""

    name: str
    type: Literal["webhook", "apprise"]
    url: str = ""
    """Webhook: the URL that receives the signed JSON POST."""
    secret: str = ""
    """Webhook: HMAC-SHA256 key. Prefer ``secret_env`` to keep it out of the file."""
    secret_env: str = ""
    """Webhook: name of the environment variable holding the HMAC key."""
    urls: list[str] = Field(default_factory=list)
    """Apprise: service URLs (``mailtos://…``, ``slack://…``, ``ntfy://…``, ``tgram://…``)."""
    timeout: Duration = timedelta(seconds=5)


class AlertInhibition(Section):
    """An alert at ``source_min_severity`` or above mutes firing alerts below
    ``target_below`` that share the ``equal`` labels."""

    source_min_severity: SeverityName = "critical"
    target_below: SeverityName = "critical"
    equal: list[str] = Field(default_factory=lambda: ["conversation"])


class AlertEscalation(Section):
    """Notify more people when a serious alert stays unacknowledged."""

    after: Duration = timedelta(minutes=15)
    min_severity: SeverityName = "critical"
    receivers: list[str] = Field(default_factory=list)


class AlertDelivery(Section):
    """How the delivery worker retries: exponential backoff with jitter, then dead letter."""

    max_attempts: int = Field(default=10, ge=1, le=1000)
    backoff_initial: Duration = timedelta(seconds=1)
    backoff_max: Duration = timedelta(minutes=5)
    retry_after_max: Duration = timedelta(hours=1)
    """Cap on a receiver's ``Retry-After``."""
    max_age: Duration = timedelta(hours=24)
    """A notification still undelivered after this long goes to the dead letters."""
    lease: Duration = timedelta(seconds=60)
    """A worker holds a notification this long while sending; a crashed worker's lease lapses."""
    concurrency: int = Field(default=8, ge=1, le=256)


class AlertsSettings(AlertTiming):
    """The ``[alerts]`` section: receivers, routes, inhibition, escalation and delivery."""

    base_url: str = "http://127.0.0.1:8000"
    """Where the dashboard answers: messages link to ``{base_url}/conversations/{id}``."""
    min_severity: SeverityName = "medium"
    """Signals below this severity are not turned into alerts (rule matches stay flags)."""
    group_by: list[str] = Field(default_factory=lambda: ["conversation", "rule"])
    resolve_after: Duration = timedelta(hours=24)
    """An alert with no new signal for this long resolves by itself."""
    default_receivers: list[str] = Field(default_factory=list)
    """Receivers for alerts no route matched (empty: such alerts only reach the inbox)."""
    receivers: list[AlertReceiver] = Field(default_factory=list)
    routes: list[AlertRoute] = Field(default_factory=list)
    inhibit: list[AlertInhibition] = Field(default_factory=lambda: [AlertInhibition()])
    escalation: AlertEscalation | None = None
    delivery: AlertDelivery = Field(default_factory=AlertDelivery)

    @model_validator(mode="after")
    def _receivers_exist(self) -> AlertsSettings:
        names = [r.name for r in self.receivers]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"receiver names must be unique: {', '.join(duplicates)}")
        known = set(names)
        used: list[tuple[str, str]] = [("default_receivers", n) for n in self.default_receivers]
        for i, route in enumerate(self.routes):
            used += [(f"routes[{i}].receivers", n) for n in route.receivers]
        if self.escalation:
            used += [("escalation.receivers", n) for n in self.escalation.receivers]
        missing = [f"{where}: {name!r}" for where, name in used if name not in known]
        if missing:
            raise ValueError("unknown receiver " + "; ".join(missing))
        return self


class OidcSettings(Section):
    """Single sign-on through an OpenID Connect provider (docs/dashboard.md, "Single sign-on").

    The authorization-code flow with PKCE, state and nonce; the ID token's signature is checked
    against the provider's published keys (JWKS), and a claim of it (``roles_claim``) decides the
    veille role and teams.
    """

    enabled: bool = False
    issuer: str = ""
    """The provider's issuer URL, exactly as its discovery document states it, e.g.
    ``https://sso.example.be/realms/police`` (its ``/.well-known/openid-configuration`` is read)."""
    client_id: str = ""
    client_secret: str = ""
    """Keep it out of the file: ``VEILLE_WEB__OIDC__CLIENT_SECRET``."""
    scopes: list[str] = Field(default_factory=lambda: ["openid", "profile", "email"])
    roles_claim: str = "groups"
    """The ID-token claim listing the user's groups or roles; a dotted path reaches into an
    object (Keycloak's ``realm_access.roles``)."""
    roles: dict[str, Literal["admin", "analyst", "viewer"]] = Field(default_factory=dict)
    """Claim value → veille role. A user gets the highest role of their mapped values and is
    refused when none is mapped."""
    teams_claim: str = ""
    """The claim listing the user's teams (default: ``roles_claim``)."""
    teams: dict[str, list[str]] = Field(default_factory=dict)
    """Claim value → veille teams. At each login the user's membership of every team named here
    is set from the claim; other teams are left as they are."""
    username_claim: str = "preferred_username"
    """The claim giving a new account its username (lower-cased; ``email`` also works)."""
    create_users: bool = True
    """Create an account at the first login of a user with a mapped role; when off, an admin
    creates it first (``veille users add NAME --oidc``)."""
    local_login: bool = True
    """Whether the username-and-password form stays available; turn off to make the provider
    the only way in (API tokens still work)."""
    provider_logout: bool = True
    """On logout, also end the session at the provider (when it offers ``end_session_endpoint``)."""
    algorithms: list[str] = Field(
        default_factory=lambda: [
            "RS256",
            "RS384",
            "RS512",
            "PS256",
            "PS384",
            "PS512",
            "ES256",
            "ES384",
            "ES512",
            "EdDSA",
        ]
    )
    """Signature algorithms accepted on ID tokens (asymmetric only: ``none`` and HMAC never)."""
    leeway_seconds: int = Field(default=60, ge=0, le=600)
    """Clock skew tolerated on ``exp``, ``iat`` and ``nbf``."""
    max_age_seconds: int = Field(default=600, ge=30, le=86_400)
    """Longest time between starting a login and returning from the provider, and oldest
    accepted ID token (``iat``)."""
    timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    """Timeout of each call to the provider."""
    button: str = "Single sign-on"
    """The label of the login button."""

    @model_validator(mode="after")
    def _complete(self) -> OidcSettings:
        if not self.enabled:
            if not self.local_login:
                raise ValueError("local_login = false needs enabled = true: nobody could log in")
            return self
        problems = []
        if not _http_url(self.issuer):
            problems.append(
                "issuer must be an https:// URL (http:// only on loopback), "
                f"not {self.issuer[:100]!r}"
            )
        if not self.client_id:
            problems.append("client_id is missing")
        if not self.client_secret:
            problems.append("client_secret is missing: set VEILLE_WEB__OIDC__CLIENT_SECRET")
        if "openid" not in self.scopes:
            problems.append("scopes must include 'openid'")
        if not self.roles:
            problems.append(
                "roles maps no claim value to a role: nobody could log in "
                '(e.g. roles = { "veille-analysts" = "analyst" })'
            )
        if not self.roles_claim:
            problems.append("roles_claim is empty")
        bad = sorted(set(self.algorithms) - ASYMMETRIC_ALGORITHMS)
        if bad or not self.algorithms:
            problems.append(
                "algorithms: only asymmetric signatures are accepted "
                f"({', '.join(sorted(ASYMMETRIC_ALGORITHMS))}), not {', '.join(bad) or 'none'}"
            )
        if problems:
            raise ValueError("[web.oidc] " + "; ".join(problems))
        return self


ASYMMETRIC_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)


def _http_url(url: str) -> bool:
    """An https URL, or http on a loopback address (a provider on this machine, tests)."""
    parts = urlsplit(url)
    if not parts.hostname or parts.query or parts.fragment:
        return False
    if parts.scheme == "https":
        return True
    return parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost", "::1")


class WebSettings(Section):
    """The dashboard and JSON API (``veille web``): docs/dashboard.md, docs/api.md."""

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65_535)
    base_url: str = ""
    """Public URL of the dashboard, e.g. ``https://veille.example.be``. When it is https (or the
    request came over TLS), cookies are marked Secure and HSTS is sent."""
    session_hours: float = Field(default=12.0, gt=0, le=24 * 30)
    idle_minutes: float = Field(default=60.0, gt=0, le=24 * 60)
    login_attempts: int = Field(default=5, ge=1, le=100)
    """Failed passwords in a row before an account locks for ``lockout_minutes``."""
    lockout_minutes: float = Field(default=15.0, gt=0, le=24 * 60)
    login_rate_per_minute: int = Field(default=10, ge=1, le=10_000)
    """Login attempts one client address may make per minute."""
    pseudonym_key: str = ""
    """Key of the HMAC that pseudonymises authors for watch lists asking for it. Prefer the
    environment: ``VEILLE_WEB__PSEUDONYM_KEY``; without a key, pseudonymised lists show no
    author at all."""
    default_language: Literal["fr", "nl", "en"] = "en"
    export_max_rows: int = Field(default=10_000, ge=1, le=1_000_000)
    dry_run_max_posts: int = Field(default=200_000, ge=1, le=10_000_000)
    """Most archived posts one rule dry-run reads."""
    mount_ingest: bool = True
    """Serve ``POST /ingest`` from the dashboard's server when ``[ingest]`` is enabled."""
    oidc: OidcSettings = Field(default_factory=OidcSettings)

    @model_validator(mode="after")
    def _oidc_needs_base_url(self) -> WebSettings:
        if self.oidc.enabled and not _http_url(self.base_url.rstrip("/") or "-"):
            raise ValueError(
                "[web.oidc] needs [web] base_url (the dashboard's public https:// URL): "
                "the provider sends users back to base_url + /login/oidc/callback"
            )
        return self


class PlatformRetention(Section):
    """Keep periods of one platform; a value left out is taken from ``[retention]``."""

    unmatched_days: float | None = Field(default=None, ge=0)
    matched_days: float | None = Field(default=None, ge=0)


class RetentionSettings(Section):
    """How long posts are kept (``veille retention run``, and hourly inside ``veille web``).

    *Matched* posts matched a rule or belong to a flagged conversation; the others are
    *unmatched*. ``0`` keeps them for ever; ``platforms`` overrides per platform."""

    unmatched_days: float = Field(default=7.0, ge=0)
    matched_days: float = Field(default=365.0, ge=0)
    platforms: dict[str, PlatformRetention] = Field(default_factory=dict)
    interval_hours: float = Field(default=1.0, ge=0, le=24 * 7)
    """How often ``veille web`` runs the retention job; ``0``: only ``veille retention run``."""


class ThreatSettings(Section):
    threshold: float | None = Field(default=None, gt=0, lt=1)
    """Probability from which a post is labelled a threat; empty uses the trained model's
    (chosen by cross-validation, see docs/detection.md)."""
    require_structure: bool = True
    """Only call a post a threat when it says who threatens whom (intent, call or threat
    formula, a violent act, a target). Off trades many more false alarms for some recall on
    implicit threats (docs/detection.md measures both)."""


class PersonalDataSettings(Section):
    kinds: list[str] = Field(
        default_factory=lambda: [
            "national_id",
            "iban",
            "payment_card",
            "phone",
            "email",
            "licence_plate",
            "gps",
            "address",
        ]
    )
    """Which kinds of personal data to look for."""
    phone_region: str = Field(default="BE", min_length=2, max_length=2)
    """Country whose national phone format is assumed for numbers without ``+``."""


class ConfidentialSettings(Section):
    """Confidentiality markers (docs/detection.md lists the built-in ones)."""

    markers: list[str] | None = None
    """Stamps matched case-sensitively as whole words; empty keeps the built-in list."""
    phrases: list[str] | None = None
    """Phrases matched in any case; empty keeps the built-in list."""
    patterns: dict[str, str] | None = None
    """``label = "RE2 expression"`` for reference numbers; empty keeps the built-in ones."""
    extra_markers: list[str] = Field(default_factory=list)
    extra_phrases: list[str] = Field(default_factory=list)
    extra_patterns: dict[str, str] = Field(default_factory=dict)
    """Added to the lists above (the usual way to extend them)."""


class ProtectedSettings(Section):
    path: str = ""
    """The hashed protected-names file written by ``veille protected add``; empty: none."""
    pepper: str = ""
    """Secret mixed into the hash key, kept out of the file. Prefer the environment:
    ``VEILLE_DETECT__PROTECTED__PEPPER``."""


class UrgencySettings(Section):
    """How findings, rule severity, reach and velocity add up to a severity (docs/detection.md)."""

    points: dict[str, float] = Field(
        default_factory=lambda: {
            "threat": 4.0,
            "doxxing": 5.0,
            "protected_name": 2.0,
            "national_id": 3.0,
            "iban": 3.0,
            "payment_card": 3.0,
            "confidential": 3.0,
            "address": 2.0,
            "gps": 2.0,
            "phone": 1.0,
            "email": 1.0,
            "licence_plate": 1.0,
        }
    )
    """Points per kind of finding (a hit scoring under 0.8 counts half)."""
    rule_points: dict[str, float] = Field(
        default_factory=lambda: {
            "info": 0.0,
            "low": 1.0,
            "medium": 2.0,
            "high": 3.0,
            "critical": 5.0,
        }
    )
    """Points of the most severe matching rule."""
    protected_threat_points: float = 3.0
    """Added when a threat and a protected person are in the same post."""
    followers: list[tuple[int, float]] = Field(
        default_factory=lambda: [(1_000, 1.0), (10_000, 2.0), (100_000, 3.0)]
    )
    """``[followers, points]`` tiers for the author's reach (the highest tier reached counts)."""
    velocity: list[tuple[float, float]] = Field(default_factory=lambda: [(5.0, 1.0), (30.0, 2.0)])
    """``[posts per minute, points]`` tiers for the conversation's speed."""
    velocity_window: float = Field(default=300.0, ge=10.0, le=86_400.0)
    """Seconds over which a conversation's posts per minute are counted (``veille run``)."""
    velocity_conversations: int = Field(default=100_000, ge=100, le=10_000_000)
    """Most conversations whose recent posts are counted in memory (least active forgotten)."""
    thresholds: dict[str, float] = Field(
        default_factory=lambda: {"low": 1.0, "medium": 3.0, "high": 5.0, "critical": 8.0}
    )
    """Least points for each severity; below ``low`` a post is ``info``."""


class DetectSettings(Section):
    """The detectors of the enrich stage (docs/detection.md)."""

    enabled: bool = True
    """Run the detectors and urgency scoring in ``veille run`` (off: rule matching only)."""
    max_chars: int = Field(default=20_000, ge=100, le=1_000_000)
    """Detectors read at most this many characters of a post."""
    threat: ThreatSettings = Field(default_factory=ThreatSettings)
    personal_data: PersonalDataSettings = Field(default_factory=PersonalDataSettings)
    confidential: ConfidentialSettings = Field(default_factory=ConfidentialSettings)
    protected: ProtectedSettings = Field(default_factory=ProtectedSettings)
    urgency: UrgencySettings = Field(default_factory=UrgencySettings)


class DraftSettings(Section):
    """Checking staff's drafts before they post (``veille draft``, the dashboard's Draft page)."""

    rule_tags: list[str] = Field(default_factory=lambda: ["secrecy"])
    """Watch rules with one of these tags are terms a draft must not contain (operation names,
    internal project names); severity high or critical means "do not post"."""
    allowed: list[str] = Field(default_factory=list, max_length=1000)
    """The institution's own contact values a draft may contain (phone numbers, e-mail
    addresses, IBAN, street addresses), compared without spaces, separators or case."""


class LanguageSettings(Section):
    languages: list[str] = Field(default_factory=lambda: ["fr", "nl", "de", "en"])
    """Languages veille decides among; any other is reported as ``und``."""
    min_confidence: float = Field(default=0.6, ge=0.0, le=1.0)
    """Below this probability (among the configured languages) the answer is ``und``."""


class SentimentSettings(Section):
    enabled: bool = True
    """Run the sentiment step in ``veille run`` (trends then read it instead of computing it)."""
    backend: Literal["builtin", "onnx"] = "builtin"
    """``builtin``: the shipped model; ``onnx``: a transformer export in ``model_path``."""
    model_path: str = ""
    """``onnx``: the local model folder; ``builtin``: a ``.npz`` retrained with
    ``train/sentiment.py`` (empty: the shipped model)."""


class TrendsSettings(Section):
    enabled: bool = True
    """Keep the minute/hour/day rollups as posts are stored, and check spikes every hour."""
    sensitivity: Literal["low", "medium", "high"] = "medium"
    """Spike sensitivity: ``low`` raises only large, sure spikes; ``high`` smaller ones too."""


class ReportSchedule(Section):
    """A report sent on a schedule through alert receivers (``[[reports]]``)."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    rules: list[str] = Field(default_factory=list)
    """The watch list: only these rules (empty: everything)."""
    every: Literal["daily", "weekly"] = "daily"
    """Daily covers the last 24 hours; weekly (on Mondays) the last 7 days."""
    hour: int = Field(default=7, ge=0, le=23)
    """Hour of the day (UTC) at which it is sent."""
    format: Literal["html", "pdf"] = "pdf"
    receivers: list[str] = Field(default_factory=list)
    """Names of ``[[alerts.receivers]]`` that get it (a summary, and the file's path)."""
    folder: str = "reports"
    """Where the files are kept."""


class Polite(Section):
    """How a connector treats the network: timeouts, backoff, size limits and batching."""

    timeout: float = Field(default=30.0, gt=0)
    """Seconds for connecting and for each request; a stream silent this long is reconnected."""
    backoff_initial: float = Field(default=1.0, gt=0)
    """First delay after a failure; it doubles (with jitter) up to ``backoff_max``."""
    backoff_max: float = Field(default=300.0, gt=0)
    max_message_bytes: int = Field(default=2_000_000, gt=0)
    """Largest single message or response accepted; a larger one is refused, not parsed."""
    batch_size: int = Field(default=500, gt=0)
    batch_delay: float = Field(default=0.5, gt=0)
    """A batch is handed to the pipeline when full or this many seconds after its first item."""
    silent_after: float | None = Field(default=None, gt=0)
    """Seconds without an event before this source raises a "silent" alert (default: the
    ``[sources] silent_after`` of all sources)."""


class BlueskySettings(Polite):
    """Bluesky through Jetstream (no credentials: the firehose is public)."""

    enabled: bool = False
    hosts: list[str] = Field(
        default_factory=lambda: [
            "wss://jetstream2.us-east.bsky.network/subscribe",
            "wss://jetstream1.us-east.bsky.network/subscribe",
            "wss://jetstream1.us-west.bsky.network/subscribe",
            "wss://jetstream2.us-west.bsky.network/subscribe",
        ]
    )
    """Jetstream endpoints, tried in order; the next one is used when one keeps failing."""
    collections: list[str] = Field(default_factory=lambda: ["app.bsky.feed.post"])
    """Also ``app.bsky.feed.repost`` to count reposts."""
    dids: list[str] = Field(default_factory=list)
    """Only these accounts (empty: everyone)."""
    rewind_seconds: float = Field(default=3.0, ge=0)
    """On resume, replay this much before the cursor (Jetstream's advice); overlap is dropped."""
    gap_seconds: float = Field(default=60.0, gt=0)
    """A resume whose first event is this much newer than the cursor records a gap."""


class MastodonInstance(Polite):
    """One Mastodon (or compatible) server to follow."""

    enabled: bool = True
    url: str
    """Base address, e.g. ``https://mastodon.social``."""
    streams: list[str] = Field(default_factory=lambda: ["public:local"])
    """``public``, ``public:local``, ``public:remote``, ``hashtag:NAME``, ``hashtag:local:NAME``
    or ``list:ID`` (a list needs a token)."""
    token_env: str = ""
    """Name of the environment variable holding this instance's access token, if any."""
    poll_interval: float = Field(default=60.0, gt=0)
    """Seconds between REST polls when streaming is unavailable."""
    streaming: bool = True
    """Use the streaming API (server-sent events); False: REST polling only."""
    max_catchup_pages: int = Field(default=20, gt=0)
    """Pages of 40 fetched to fill what a reconnect missed before a gap is recorded."""


class RedditSettings(Polite):
    """Reddit through its OAuth API (an app of type "script" or "web" gives the credentials)."""

    enabled: bool = False
    subreddits: list[str] = Field(default_factory=lambda: ["belgium", "brussels"])
    comments: bool = True
    """Follow new comments as well as new posts."""
    client_id_env: str = "VEILLE_REDDIT_CLIENT_ID"
    client_secret_env: str = "VEILLE_REDDIT_CLIENT_SECRET"  # noqa: S105 (a variable name)
    user_agent: str = "veille/0.1 (social-media watch; contact: set sources.reddit.user_agent)"
    """Reddit asks for a unique, descriptive user agent naming the operator."""
    poll_interval: float = Field(default=30.0, gt=0)
    max_pages: int = Field(default=10, gt=0)
    """Pages of 100 fetched per poll to catch up before a gap is recorded."""
    api_url: str = "https://oauth.reddit.com"
    token_url: str = "https://www.reddit.com/api/v1/access_token"  # noqa: S105


class Feed(Section):
    """One RSS, Atom or JSON feed."""

    url: str
    interval: float = Field(default=300.0, gt=0)
    """Seconds between fetches of this feed."""
    name: str = ""


class RssSettings(Polite):
    """News sites and blogs through their feeds."""

    enabled: bool = False
    feeds: list[Feed] = Field(default_factory=list)
    allow_private: bool = False
    """Allow feed addresses that resolve to private, loopback or link-local networks."""
    max_message_bytes: int = Field(default=10_000_000, gt=0)
    user_agent: str = "veille/0.1 (feed reader)"
    seen_ids: int = Field(default=1_000, gt=0)
    """Entry ids remembered per feed (and kept in the cursor) to drop entries already stored."""


class XSettings(Polite):
    """X (Twitter) API v2 filtered stream. Off by default; read docs/sources.md first."""

    enabled: bool = False
    bearer_token_env: str = "VEILLE_X_BEARER_TOKEN"  # noqa: S105 (a variable name)
    api_url: str = "https://api.x.com"
    sync_rules: bool = True
    """Keep the stream's rules in step with veille's watch rules (translated to X operators)."""
    rule_tag_prefix: str = "veille:"
    """Only stream rules whose tag starts with this are managed (others are left alone)."""
    max_rule_length: int = Field(default=512, gt=0)
    """X's limit on one rule's length for the plan in use (512 basic/pro, 1024 enterprise)."""
    max_rules: int = Field(default=25, gt=0)
    backfill_minutes: int = Field(default=0, ge=0, le=5)
    """Ask X to replay up to this many minutes after a reconnect (only some access levels
    allow it; when X refuses, veille goes on without and records each disconnect as a gap)."""
    keepalive_timeout: float = Field(default=20.0, gt=0)
    """X sends a keep-alive every 20 s; this long without a byte means the stream stalled."""
    network_backoff: float = Field(default=0.25, gt=0)
    """X's policy: after a network error wait this much more per attempt …"""
    network_backoff_max: float = Field(default=16.0, gt=0)
    http_backoff: float = Field(default=5.0, gt=0)
    """… after an HTTP error start here and double …"""
    http_backoff_max: float = Field(default=320.0, gt=0)
    rate_limit_backoff: float = Field(default=60.0, gt=0)
    """… after a 429 start here and double (or wait for ``x-rate-limit-reset``)."""
    rate_limit_backoff_max: float = Field(default=960.0, gt=0)


class SourcesSettings(Section):
    """The live networks; each is off until configured."""

    bluesky: BlueskySettings = Field(default_factory=BlueskySettings)
    mastodon: list[MastodonInstance] = Field(default_factory=list)
    reddit: RedditSettings = Field(default_factory=RedditSettings)
    rss: RssSettings = Field(default_factory=RssSettings)
    x: XSettings = Field(default_factory=XSettings)
    silent_after: float = Field(default=900.0, gt=0)
    """Seconds without an event after which an enabled source raises a "silent" alert (each
    source may set its own ``silent_after``)."""
    health_every: float = Field(default=15.0, gt=0)
    """Seconds between two health reports written to the store by ``veille run``."""


class Settings(BaseSettings):
    """The whole configuration of one veille installation."""

    model_config = SettingsConfigDict(
        env_prefix="VEILLE_", env_nested_delimiter="__", extra="forbid"
    )

    store: StoreSettings = Field(default_factory=StoreSettings)
    conversations: ConversationsSettings = Field(default_factory=ConversationsSettings)
    rules: RulesSettings = Field(default_factory=RulesSettings)
    pipeline: PipelineSettings = Field(default_factory=PipelineSettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    bus: BusSettings = Field(default_factory=BusSettings)
    alerts: AlertsSettings = Field(default_factory=AlertsSettings)
    detect: DetectSettings = Field(default_factory=DetectSettings)
    web: WebSettings = Field(default_factory=WebSettings)
    retention: RetentionSettings = Field(default_factory=RetentionSettings)
    language: LanguageSettings = Field(default_factory=LanguageSettings)
    sentiment: SentimentSettings = Field(default_factory=SentimentSettings)
    trends: TrendsSettings = Field(default_factory=TrendsSettings)
    reports: list[ReportSchedule] = Field(default_factory=list)
    sources: SourcesSettings = Field(default_factory=SourcesSettings)
    draft: DraftSettings = Field(default_factory=DraftSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        path = os.environ.get("VEILLE_CONFIG", DEFAULT_CONFIG_FILE)
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls, Path(path)))


def load_settings(path: str | Path | None = None, **overrides: Any) -> Settings:
    """Read settings from ``path`` (or ``$VEILLE_CONFIG``, or ``./veille.toml`` when it exists)."""
    if path is None:
        return Settings(**overrides)
    previous = os.environ.get("VEILLE_CONFIG")
    os.environ["VEILLE_CONFIG"] = str(path)
    try:
        return Settings(**overrides)
    finally:
        if previous is None:
            del os.environ["VEILLE_CONFIG"]
        else:
            os.environ["VEILLE_CONFIG"] = previous
