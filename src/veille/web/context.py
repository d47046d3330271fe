"""Everything a request handler needs, built once per application: :class:`Web`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from fastapi import Request

from veille.clock import Clock, utcnow
from veille.config import Settings
from veille.store import Store
from veille.store.accounts import Accounts, User
from veille.store.audit import AuditLog
from veille.store.rule_edits import RuleEdits
from veille.web.auth import Principal, RateLimiter
from veille.web.oidc import OidcClient, origin
from veille.web.rulebook import Rulebook
from veille.web.scope import Pseudonymiser, Scope
from veille.web.security import content_security_policy


@dataclass
class Web:
    """The application's services: store, accounts, audit log, rules, settings and clock."""

    settings: Settings
    store: Store
    rulebook: Rulebook
    clock: Clock = utcnow
    accounts: Accounts = field(init=False)
    audit: AuditLog = field(init=False)
    edits: RuleEdits = field(init=False)
    pseudonymise: Pseudonymiser = field(init=False)
    login_limiter: RateLimiter = field(init=False)
    oidc: OidcClient | None = field(init=False)
    """The OpenID Connect client when ``[web.oidc]`` is enabled."""
    csp: str = field(init=False)
    """The Content-Security-Policy of every page (the provider may receive the logout form)."""
    extras: dict[str, Any] = field(default_factory=dict)
    """Optional services other parts attach (alert engine, source health …)."""

    def __post_init__(self) -> None:
        engine = self.store.engine
        self.accounts = Accounts(engine, clock=self.clock)
        self.audit = AuditLog(engine, clock=self.clock)
        self.edits = RuleEdits(engine, clock=self.clock)
        self.pseudonymise = Pseudonymiser(self.settings.web.pseudonym_key)
        self.login_limiter = RateLimiter(self.settings.web.login_rate_per_minute, 60.0)
        conf = self.settings.web.oidc
        self.oidc = (
            OidcClient(conf, self.settings.web.base_url, clock=self.clock) if conf.enabled else None
        )
        self.csp = content_security_policy([origin(conf.issuer)] if self.oidc else [])

    @property
    def idle(self) -> timedelta:
        return timedelta(minutes=self.settings.web.idle_minutes)

    @property
    def session_lifetime(self) -> timedelta:
        return timedelta(hours=self.settings.web.session_hours)

    def secure(self, request: Request) -> bool:
        """Served over TLS (directly, or as the configured public https URL)."""
        return request.url.scheme == "https" or self.settings.web.base_url.startswith("https:")

    def scope(self, user: User) -> Scope:
        lists = [] if user.role == "admin" else self.accounts.watch_lists(user)
        return Scope.of(user, lists)

    def record(
        self,
        who: Principal | str,
        action: str,
        target: str = "",
        *,
        reason: str = "",
        **detail: Any,
    ) -> None:
        """Append to the audit log (who, what, on what, why)."""
        actor = who if isinstance(who, str) else who.actor
        self.audit.append(actor, action, target, reason=reason, detail=detail)
