"""``veille users`` and ``veille teams``: accounts, API tokens, teams and watch lists.

Every change is written to the audit log as ``cli:<system user>``.
"""

from __future__ import annotations

import getpass
import sys
from datetime import timedelta

import click
from rich.console import Console
from rich.table import Table

from veille.cli.run import open_store
from veille.config import load_settings
from veille.store.accounts import ROLES, AccountError, Accounts, User
from veille.store.audit import AuditLog
from veille.web.auth import TOKEN_PREFIX, hash_password, new_secret


def cli_actor() -> str:
    """Who runs this command, as the audit log records it."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli:unknown"


def _accounts() -> tuple[Accounts, AuditLog]:
    store = open_store(load_settings())
    return Accounts(store.engine), AuditLog(store.engine)


def _ask_password() -> str:
    password: str = click.prompt(
        "Password (12 characters at least)", hide_input=True, confirmation_prompt=True
    )
    return password


@click.group("users")
def users() -> None:
    """Manage dashboard and API accounts (roles: admin, analyst, viewer)."""


@users.command("add")
@click.argument("username")
@click.option("--role", type=click.Choice(ROLES), default="viewer", show_default=True)
@click.option("--name", "display_name", default="", help="Display name.")
@click.option(
    "--password-stdin", is_flag=True, help="Read the password from the first line of stdin."
)
@click.option("--oidc", is_flag=True, help="No password: the account logs in through OIDC only.")
def add(username: str, role: str, display_name: str, password_stdin: bool, oidc: bool) -> None:
    """Create an account (asks for its password unless --oidc)."""
    accounts, audit = _accounts()
    password_hash = None
    if not oidc:
        password = sys.stdin.readline().rstrip("\n") if password_stdin else _ask_password()
        try:
            password_hash = hash_password(password)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None
    try:
        user = accounts.add_user(
            username, role, password_hash=password_hash, display_name=display_name
        )
    except AccountError as exc:
        raise click.ClickException(str(exc)) from None
    audit.append(cli_actor(), "user.add", user.username, detail={"role": role, "oidc": oidc})
    click.echo(f"added {user.username} ({user.role})")


@users.command("list")
def list_users() -> None:
    """Every account with its role, state and last login."""
    accounts, _ = _accounts()
    table = Table("user", "role", "state", "sign-in", "last login", "teams")
    member_of: dict[str, list[str]] = {}
    for team in accounts.teams():
        for name in team.members:
            member_of.setdefault(name, []).append(team.name)
    for user in accounts.list_users():
        state = "disabled" if user.disabled else "active"
        last = user.last_login_at.strftime("%Y-%m-%d %H:%M") if user.last_login_at else "never"
        table.add_row(
            user.username,
            user.role,
            state,
            _sign_in(user),
            last,
            ", ".join(member_of.get(user.username, [])),
        )
    Console().print(table)


def _sign_in(user: User) -> str:
    """How an account logs in: its password, or single sign-on (linked or awaiting a login)."""
    if user.oidc_subject:
        return "oidc"
    return "password" if user.password_hash else "oidc (not yet linked)"


def _change(username: str, action: str, **values: object) -> None:
    accounts, audit = _accounts()
    try:
        accounts.update_user(username, **values)
    except AccountError as exc:
        raise click.ClickException(str(exc)) from None
    audit.append(
        cli_actor(),
        action,
        username,
        detail={k: v for k, v in values.items() if k != "password_hash"},
    )


@users.command("disable")
@click.argument("username")
def disable(username: str) -> None:
    """Disable an account: it cannot log in and its sessions end (tokens stop working)."""
    _change(username, "user.disable", disabled=True)
    click.echo(f"disabled {username}")


@users.command("enable")
@click.argument("username")
def enable(username: str) -> None:
    """Enable a disabled account again."""
    _change(username, "user.enable", disabled=False)
    click.echo(f"enabled {username}")


@users.command("role")
@click.argument("username")
@click.argument("role", type=click.Choice(ROLES))
def set_role(username: str, role: str) -> None:
    """Change an account's role."""
    _change(username, "user.change", role=role)
    click.echo(f"{username} is now {role}")


@users.command("password")
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin.")
def set_password(username: str, password_stdin: bool) -> None:
    """Set a new password (ends the account's sessions)."""
    password = sys.stdin.readline().rstrip("\n") if password_stdin else _ask_password()
    try:
        password_hash = hash_password(password)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    _change(username, "user.password", password_hash=password_hash)
    click.echo(f"password of {username} changed")


@users.command("token")
@click.argument("username")
@click.option("--name", required=True, help="What the token is for.")
@click.option("--days", type=float, default=90, show_default=True, help="0: never expires.")
def token(username: str, name: str, days: float) -> None:
    """Create an API token acting as USERNAME; prints the secret once."""
    accounts, audit = _accounts()
    user = accounts.user(username)
    if user is None:
        raise click.ClickException(f"no user {username!r}")
    secret = new_secret(TOKEN_PREFIX)
    now = accounts.clock()
    try:
        created = accounts.add_token(
            user, name, secret, expires_at=now + timedelta(days=days) if days else None
        )
    except AccountError as exc:
        raise click.ClickException(str(exc)) from None
    audit.append(cli_actor(), "token.create", f"token {created.id}", detail={"user": username})
    click.echo(secret)


@click.group("teams")
def teams() -> None:
    """Teams and their watch lists (which rules each team sees)."""


@teams.command("add")
@click.argument("name")
@click.option("--member", "members", multiple=True, help="A username; repeatable.")
def add_team(name: str, members: tuple[str, ...]) -> None:
    """Create a team, optionally with members."""
    accounts, audit = _accounts()
    try:
        accounts.add_team(name)
        for member in members:
            accounts.add_member(name, member)
    except AccountError as exc:
        raise click.ClickException(str(exc)) from None
    audit.append(cli_actor(), "team.add", name, detail={"members": list(members)})
    click.echo(f"added team {name}")


@teams.command("member")
@click.argument("team")
@click.argument("username")
def add_member(team: str, username: str) -> None:
    """Add a user to a team."""
    accounts, audit = _accounts()
    try:
        accounts.add_member(team, username)
    except AccountError as exc:
        raise click.ClickException(str(exc)) from None
    audit.append(cli_actor(), "team.member", team, detail={"user": username})
    click.echo(f"{username} is in {team}")


@teams.command("watch")
@click.argument("team")
@click.argument("name")
@click.option("--rule", "rules", multiple=True, help="A rule id, or * for every rule.")
@click.option("--tag", "tags", multiple=True, help="Every rule with this tag.")
@click.option(
    "--pseudonymise", is_flag=True, help="Members see authors as keyed pseudonyms (trends only)."
)
def watch(
    team: str, name: str, rules: tuple[str, ...], tags: tuple[str, ...], pseudonymise: bool
) -> None:
    """Give TEAM a watch list NAME: the rules (ids, tags) its members see."""
    accounts, audit = _accounts()
    try:
        accounts.add_watch_list(name, team, rules=rules, tags=tags, pseudonymise=pseudonymise)
    except AccountError as exc:
        raise click.ClickException(str(exc)) from None
    audit.append(
        cli_actor(),
        "watchlist.add",
        name,
        detail={
            "team": team,
            "rules": list(rules),
            "tags": list(tags),
            "pseudonymise": pseudonymise,
        },
    )
    click.echo(f"team {team} now watches {name}")


@teams.command("list")
def list_teams() -> None:
    """Teams, members and watch lists."""
    accounts, _ = _accounts()
    table = Table("team", "members", "watch lists")
    lists = accounts.watch_lists()
    for team in accounts.teams():
        mine = [
            f"{w.name} ({', '.join(w.rules + tuple('#' + t for t in w.tags))})"
            + (" pseudonymised" if w.pseudonymise else "")
            for w in lists
            if w.team == team.name
        ]
        table.add_row(team.name, ", ".join(team.members), "; ".join(mine))
    Console().print(table)
