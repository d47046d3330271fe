"""Who may use veille: users, their sessions and API tokens, teams and the watch lists they see.

Only hashes of secrets are kept: a session cookie or an API token is stored as its SHA-256, a
password as an argon2 hash computed by the web layer (``veille.web.auth``). A watch list names
the rules (by id or tag, ``*`` for all) that the members of its team may see; a watch list may
ask for its authors to be pseudonymised (keyed HMAC) for teams that only need trends.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final, Literal

import sqlalchemy as sa
from sqlalchemy import (
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
)

from veille.clock import Clock, utcnow
from veille.store.engine import WRITE
from veille.store.schema import RowId, metadata
from veille.store.types import JSONText, Timestamp

Role = Literal["admin", "analyst", "viewer"]
ROLES: Final[tuple[Role, ...]] = ("admin", "analyst", "viewer")

USERNAME: Final = re.compile(r"[a-z0-9][a-z0-9_.@-]{0,63}")
"""Usernames: lower-case letters, digits and ``_ . @ -``; at most 64 characters."""
TEAM_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _.-]{0,63}")

users: Final = Table(
    "users",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("username", String(64), nullable=False),
    Column("display_name", Text, nullable=False, server_default=""),
    Column("password_hash", Text),
    Column("role", String(16), nullable=False),
    Column("disabled", Boolean, nullable=False, server_default=false()),
    Column("lang", String(8), nullable=False, server_default=""),
    Column("oidc_subject", Text),
    Column("created_at", Timestamp, nullable=False),
    Column("last_login_at", Timestamp),
    Column("failed_logins", Integer, nullable=False, server_default="0"),
    Column("locked_until", Timestamp),
    UniqueConstraint("username"),
    UniqueConstraint("oidc_subject"),
)
"""Local accounts; ``password_hash`` is empty for accounts that only log in through OIDC."""

sessions: Final = Table(
    "sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("user_id", RowId, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("csrf", String(64), nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Column("expires_at", Timestamp, nullable=False),
    Column("last_seen_at", Timestamp, nullable=False),
    Index(None, "expires_at"),
)
"""Logged-in browser sessions, by the SHA-256 of the cookie value."""

api_tokens: Final = Table(
    "api_tokens",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("user_id", RowId, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("name", Text, nullable=False),
    Column("token_hash", String(64), nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Column("expires_at", Timestamp),
    Column("last_used_at", Timestamp),
    Column("revoked_at", Timestamp),
    UniqueConstraint("token_hash"),
)
"""Bearer tokens for the API; each acts as its user, with the user's role."""

teams: Final = Table(
    "teams",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False),
    Column("created_at", Timestamp, nullable=False),
    UniqueConstraint("name"),
)

team_members: Final = Table(
    "team_members",
    metadata,
    Column("team_id", RowId, ForeignKey("teams.id", ondelete="CASCADE"), nullable=False),
    Column("user_id", RowId, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    PrimaryKeyConstraint("team_id", "user_id"),
)

watch_lists: Final = Table(
    "watch_lists",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False),
    Column("team_id", RowId, ForeignKey("teams.id", ondelete="CASCADE"), nullable=False),
    Column("rules", JSONText, nullable=False, server_default="[]"),
    Column("tags", JSONText, nullable=False, server_default="[]"),
    Column("pseudonymise", Boolean, nullable=False, server_default=false()),
    Column("created_at", Timestamp, nullable=False),
    UniqueConstraint("name"),
)
"""What a team sees: rules by id (``*`` = every rule) or by tag."""


class AccountError(ValueError):
    """A request about accounts that cannot be honoured (unknown user, bad name …)."""


@dataclass(frozen=True, slots=True)
class User:
    """An account as the web layer needs it."""

    id: int
    username: str
    role: Role
    display_name: str = ""
    disabled: bool = False
    lang: str = ""
    password_hash: str | None = None
    oidc_subject: str | None = None
    created_at: datetime | None = None
    last_login_at: datetime | None = None
    failed_logins: int = 0
    locked_until: datetime | None = None


@dataclass(frozen=True, slots=True)
class Session:
    """A live browser session: whose, and the CSRF token its forms must carry."""

    user: User
    csrf: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class ApiToken:
    """An API token's public part (the secret itself is never stored)."""

    id: int
    user_id: int
    name: str
    created_at: datetime
    expires_at: datetime | None = None
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class WatchList:
    """Rules a team sees (ids, tags; ``*`` for all) and whether authors are pseudonymised."""

    id: int
    name: str
    team: str
    rules: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    pseudonymise: bool = False


@dataclass(frozen=True, slots=True)
class Team:
    id: int
    name: str
    members: tuple[str, ...] = ()


def secret_hash(secret: str) -> str:
    """SHA-256 of a high-entropy secret (session cookie, API token): what the database keeps."""
    return hashlib.sha256(secret.encode()).hexdigest()


def _user(row: Any) -> User:
    return User(
        id=row.id,
        username=row.username,
        role=row.role,
        display_name=row.display_name,
        disabled=row.disabled,
        lang=row.lang,
        password_hash=row.password_hash,
        oidc_subject=row.oidc_subject,
        created_at=row.created_at,
        last_login_at=row.last_login_at,
        failed_logins=row.failed_logins,
        locked_until=row.locked_until,
    )


def check_username(username: str) -> str:
    """The username if well-formed, else :class:`AccountError` saying what is allowed."""
    if not USERNAME.fullmatch(username):
        raise AccountError(
            f"username {username[:80]!r}: use 1–64 lower-case letters, digits and _ . @ -"
        )
    return username


def check_role(role: str) -> str:
    if role not in ROLES:
        raise AccountError(f"role {role[:40]!r}: must be one of {', '.join(ROLES)}")
    return role


class Accounts:
    """Users, sessions, API tokens, teams and watch lists, on the store's database."""

    def __init__(self, engine: sa.Engine, *, clock: Clock = utcnow) -> None:
        self.engine = engine
        self.clock = clock

    def _write(self) -> sa.Connection:
        return self.engine.connect().execution_options(**WRITE)

    # -- users -------------------------------------------------------------------------------

    def add_user(
        self,
        username: str,
        role: str,
        *,
        password_hash: str | None = None,
        display_name: str = "",
        oidc_subject: str | None = None,
    ) -> User:
        """Create an account; :class:`AccountError` if the name is taken or malformed."""
        check_username(username)
        check_role(role)
        if len(display_name) > 200:
            raise AccountError("display name is longer than 200 characters")
        with self._write() as conn, conn.begin():
            taken = conn.execute(sa.select(users.c.id).where(users.c.username == username)).first()
            if taken:
                raise AccountError(f"user {username!r} already exists")
            conn.execute(
                users.insert().values(
                    username=username,
                    role=role,
                    password_hash=password_hash,
                    display_name=display_name,
                    oidc_subject=oidc_subject,
                    created_at=self.clock(),
                )
            )
        user = self.user(username)
        assert user is not None
        return user

    def user(self, username: str) -> User | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(users).where(users.c.username == username)).first()
        return None if row is None else _user(row)

    def user_by_subject(self, subject: str) -> User | None:
        """The account linked to an OIDC subject (``issuer|sub``)."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(users).where(users.c.oidc_subject == subject)).first()
        return None if row is None else _user(row)

    def user_by_id(self, user_id: int) -> User | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(users).where(users.c.id == user_id)).first()
        return None if row is None else _user(row)

    def list_users(self) -> list[User]:
        with self.engine.connect() as conn:
            return [_user(r) for r in conn.execute(sa.select(users).order_by(users.c.username))]

    def update_user(self, username: str, **values: Any) -> User:
        """Change an account's role, display name, password hash, language, disabled flag …"""
        allowed = {"role", "display_name", "password_hash", "disabled", "lang", "oidc_subject"}
        unknown = set(values) - allowed
        if unknown:
            raise AccountError(f"cannot change {', '.join(sorted(unknown))}")
        if "role" in values:
            check_role(values["role"])
        if not values:
            found = self.user(username)
            if found is None:
                raise AccountError(f"no user {username!r}")
            return found
        with self._write() as conn, conn.begin():
            done = conn.execute(users.update().where(users.c.username == username).values(**values))
            if done.rowcount == 0:
                raise AccountError(f"no user {username!r}")
            if values.get("disabled") or "password_hash" in values:
                user_id = sa.select(users.c.id).where(users.c.username == username)
                conn.execute(sessions.delete().where(sessions.c.user_id.in_(user_id)))
        user = self.user(username)
        assert user is not None
        return user

    def login_failed(self, user: User, *, limit: int, lock_for: timedelta) -> User:
        """Count a failed password; after ``limit`` in a row the account locks for a while."""
        failures = user.failed_logins + 1
        values: dict[str, Any] = {"failed_logins": failures}
        if failures >= limit:
            values["locked_until"] = self.clock() + lock_for
            values["failed_logins"] = 0
        with self._write() as conn, conn.begin():
            conn.execute(users.update().where(users.c.id == user.id).values(**values))
        found = self.user_by_id(user.id)
        assert found is not None
        return found

    def login_succeeded(self, user: User) -> None:
        with self._write() as conn, conn.begin():
            conn.execute(
                users.update()
                .where(users.c.id == user.id)
                .values(failed_logins=0, locked_until=None, last_login_at=self.clock())
            )

    # -- sessions ----------------------------------------------------------------------------

    def create_session(self, user: User, token: str, csrf: str, lifetime: timedelta) -> None:
        now = self.clock()
        with self._write() as conn, conn.begin():
            conn.execute(sessions.delete().where(sessions.c.expires_at < now))
            conn.execute(
                sessions.insert().values(
                    token_hash=secret_hash(token),
                    user_id=user.id,
                    csrf=csrf,
                    created_at=now,
                    expires_at=now + lifetime,
                    last_seen_at=now,
                )
            )

    def session(self, token: str, *, idle: timedelta | None = None) -> Session | None:
        """The live session of a cookie value (expired, idle too long or disabled: ``None``)."""
        now = self.clock()
        query = (
            sa.select(sessions.c.csrf, sessions.c.expires_at, sessions.c.last_seen_at, users)
            .join(users, users.c.id == sessions.c.user_id)
            .where(sessions.c.token_hash == secret_hash(token))
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None or row.expires_at <= now or row.disabled:
            return None
        if idle is not None and row.last_seen_at + idle <= now:
            return None
        if now - row.last_seen_at > timedelta(minutes=1):
            with self._write() as conn, conn.begin():
                conn.execute(
                    sessions.update()
                    .where(sessions.c.token_hash == secret_hash(token))
                    .values(last_seen_at=now)
                )
        return Session(user=_user(row), csrf=row.csrf, expires_at=row.expires_at)

    def end_session(self, token: str) -> None:
        with self._write() as conn, conn.begin():
            conn.execute(sessions.delete().where(sessions.c.token_hash == secret_hash(token)))

    # -- API tokens --------------------------------------------------------------------------

    def add_token(
        self, user: User, name: str, token: str, *, expires_at: datetime | None = None
    ) -> ApiToken:
        """Record a new API token (the caller generated ``token`` and shows it once)."""
        if not name or len(name) > 100:
            raise AccountError("token name: 1 to 100 characters")
        with self._write() as conn, conn.begin():
            result = conn.execute(
                api_tokens.insert().values(
                    user_id=user.id,
                    name=name,
                    token_hash=secret_hash(token),
                    created_at=self.clock(),
                    expires_at=expires_at,
                )
            )
            token_id = result.inserted_primary_key[0]  # type: ignore[index]
        return next(t for t in self.tokens(user) if t.id == token_id)

    def tokens(self, user: User) -> list[ApiToken]:
        t = api_tokens.c
        query = sa.select(api_tokens).where(t.user_id == user.id).order_by(t.id)
        with self.engine.connect() as conn:
            return [
                ApiToken(
                    id=r.id,
                    user_id=r.user_id,
                    name=r.name,
                    created_at=r.created_at,
                    expires_at=r.expires_at,
                    last_used_at=r.last_used_at,
                    revoked_at=r.revoked_at,
                )
                for r in conn.execute(query)
            ]

    def token_user(self, token: str) -> User | None:
        """The user an API token acts as, if the token is live and the user enabled."""
        now = self.clock()
        t = api_tokens.c
        query = (
            sa.select(t.id, t.expires_at, t.revoked_at, t.last_used_at, users)
            .join(users, users.c.id == t.user_id)
            .where(t.token_hash == secret_hash(token))
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None or row.revoked_at is not None or row.disabled:
            return None
        if row.expires_at is not None and row.expires_at <= now:
            return None
        if row.last_used_at is None or now - row.last_used_at > timedelta(minutes=1):
            with self._write() as conn, conn.begin():
                conn.execute(api_tokens.update().where(t.id == row.id).values(last_used_at=now))
        return _user(row)

    def revoke_token(self, user: User, token_id: int) -> bool:
        t = api_tokens.c
        with self._write() as conn, conn.begin():
            done = conn.execute(
                api_tokens.update()
                .where(t.id == token_id, t.user_id == user.id, t.revoked_at.is_(None))
                .values(revoked_at=self.clock())
            )
        return done.rowcount > 0

    # -- teams and watch lists ---------------------------------------------------------------

    def add_team(self, name: str) -> Team:
        if not TEAM_NAME.fullmatch(name):
            raise AccountError(f"team {name[:80]!r}: 1–64 letters, digits, spaces and _ . -")
        with self._write() as conn, conn.begin():
            if conn.execute(sa.select(teams.c.id).where(teams.c.name == name)).first():
                raise AccountError(f"team {name!r} already exists")
            conn.execute(teams.insert().values(name=name, created_at=self.clock()))
        return next(t for t in self.teams() if t.name == name)

    def teams(self) -> list[Team]:
        query = (
            sa.select(teams.c.id, teams.c.name, users.c.username)
            .select_from(teams)
            .outerjoin(team_members, team_members.c.team_id == teams.c.id)
            .outerjoin(users, users.c.id == team_members.c.user_id)
            .order_by(teams.c.name, users.c.username)
        )
        found: dict[int, Team] = {}
        with self.engine.connect() as conn:
            for row in conn.execute(query):
                team = found.get(row.id) or Team(row.id, row.name)
                members = (*team.members, row.username) if row.username else team.members
                found[row.id] = Team(row.id, row.name, members)
        return list(found.values())

    def _team_id(self, conn: sa.Connection, name: str) -> int:
        team_id = conn.execute(sa.select(teams.c.id).where(teams.c.name == name)).scalar()
        if team_id is None:
            raise AccountError(f"no team {name!r}")
        return int(team_id)

    def add_member(self, team: str, username: str) -> None:
        with self._write() as conn, conn.begin():
            team_id = self._team_id(conn, team)
            user_id = conn.execute(
                sa.select(users.c.id).where(users.c.username == username)
            ).scalar()
            if user_id is None:
                raise AccountError(f"no user {username!r}")
            exists = conn.execute(
                sa.select(team_members.c.team_id).where(
                    team_members.c.team_id == team_id, team_members.c.user_id == user_id
                )
            ).first()
            if not exists:
                conn.execute(team_members.insert().values(team_id=team_id, user_id=user_id))

    def set_memberships(self, user: User, *, managed: set[str], wanted: frozenset[str]) -> None:
        """Make ``user`` a member of exactly the ``wanted`` teams among ``managed`` ones.

        Teams outside ``managed`` are left alone (memberships given by hand stay).
        """
        if not managed:
            return
        m = team_members.c
        with self._write() as conn, conn.begin():
            ids = {
                row.name: row.id
                for row in conn.execute(
                    sa.select(teams.c.id, teams.c.name).where(teams.c.name.in_(managed))
                )
            }
            have = set(conn.execute(sa.select(m.team_id).where(m.user_id == user.id)).scalars())
            keep = {ids[name] for name in wanted if name in ids}
            drop = (set(ids.values()) - keep) & have
            if drop:
                conn.execute(team_members.delete().where(m.user_id == user.id, m.team_id.in_(drop)))
            for team_id in sorted(keep - have):
                conn.execute(team_members.insert().values(team_id=team_id, user_id=user.id))

    def add_watch_list(
        self,
        name: str,
        team: str,
        *,
        rules: Sequence[str] = (),
        tags: Sequence[str] = (),
        pseudonymise: bool = False,
    ) -> WatchList:
        if not TEAM_NAME.fullmatch(name):
            raise AccountError(f"watch list {name[:80]!r}: 1–64 letters, digits, spaces, _ . -")
        if not rules and not tags:
            raise AccountError("a watch list names rules (ids, or * for all) or tags")
        with self._write() as conn, conn.begin():
            team_id = self._team_id(conn, team)
            w = watch_lists.c
            if conn.execute(sa.select(w.id).where(w.name == name)).first():
                raise AccountError(f"watch list {name!r} already exists")
            conn.execute(
                watch_lists.insert().values(
                    name=name,
                    team_id=team_id,
                    rules=list(rules),
                    tags=list(tags),
                    pseudonymise=pseudonymise,
                    created_at=self.clock(),
                )
            )
        return next(w for w in self.watch_lists() if w.name == name)

    def watch_lists(self, user: User | None = None) -> list[WatchList]:
        """Every watch list, or those of the teams ``user`` belongs to."""
        w = watch_lists.c
        query = (
            sa.select(watch_lists, teams.c.name.label("team"))
            .join(teams, teams.c.id == w.team_id)
            .order_by(w.name)
        )
        if user is not None:
            mine = sa.select(team_members.c.team_id).where(team_members.c.user_id == user.id)
            query = query.where(w.team_id.in_(mine))
        with self.engine.connect() as conn:
            return [
                WatchList(
                    id=r.id,
                    name=r.name,
                    team=r.team,
                    rules=tuple(r.rules),
                    tags=tuple(r.tags),
                    pseudonymise=r.pseudonymise,
                )
                for r in conn.execute(query)
            ]
