"""``veille alerts``: the inbox from the terminal, on a real SQLite database."""

from __future__ import annotations

import getpass
from pathlib import Path

import pytest
from click.testing import CliRunner

from veille.alert.engine import AlertEngine
from veille.cli import main
from veille.config import load_settings
from veille.model import AlertSignal
from veille.store import create_engine
from veille.store.audit import AuditEntry, AuditLog
from veille.store.migrate import ensure_current

CONFIG = """
[store]
url = "sqlite:///{db}"

[alerts]
default_receivers = ["hook"]

[[alerts.receivers]]
name = "hook"
type = "webhook"
url = "http://127.0.0.1:9/hook"
secret = "x"
"""


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "veille.toml"
    path.write_text(CONFIG.format(db=tmp_path / "v.db"))
    monkeypatch.setenv("VEILLE_CONFIG", str(path))
    return path


def raise_alert(title: str = "Threat \x1b[31mred\x1b[0m", conversation: str = "r1") -> int:
    settings = load_settings()
    db = create_engine(settings.store.url)
    ensure_current(db)
    (alert,) = AlertEngine(db, settings.alerts).submit(
        [
            AlertSignal(
                kind="urgent",
                severity="critical",
                title=title,
                reasons=("call to violence",),
                conversation=f"bluesky:{conversation}",
                native_id="p1",
                platform="bluesky",
            )
        ]
    )
    db.dispose()
    return alert.id


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["alerts", *args])
    return result.exit_code, result.output


def test_list_show_ack_resolve(config: Path) -> None:
    alert_id = raise_alert()
    code, out = run("list")
    assert code == 0
    assert "critical" in out
    assert "\x1b" not in out  # post text cannot drive the terminal
    code, out = run("show", str(alert_id))
    assert code == 0
    assert "why: call to violence" in out
    assert run("ack", str(alert_id), "--by", "alice", "--note", "calling the zone")[0] == 0
    code, out = run("ack", str(alert_id), "--by", "alice")
    assert code == 1
    assert "acknowledged, not firing" in out
    assert run("note", str(alert_id), "patrol sent", "--by", "alice")[0] == 0
    assert run("assign", str(alert_id), "bob", "--by", "alice")[0] == 0
    assert run("resolve", str(alert_id), "--by", "bob")[0] == 0
    code, out = run("show", str(alert_id))
    for action in ("acknowledged", "note", "assigned", "resolved"):
        assert action in out
    assert "no alerts" in run("list")[1]
    assert "resolved" in run("list", "--all")[1]


def test_silences(config: Path) -> None:
    code, out = run(
        "silence", "add", "rule=threats", "--for", "2h", "--reason", "drill", "--by", "carol"
    )
    assert code == 0, out
    assert "silence 1 until" in out
    assert "drill" in run("silence", "list")[1]
    assert run("silence", "expire", "1", "--by", "carol")[0] == 0
    assert "no silences" in run("silence", "list")[1]
    assert "carol" in run("silence", "list", "--all")[1]
    code, out = run("silence", "add", "nolabel", "--for", "1h", "--reason", "x")
    assert code == 2
    assert "label=value" in out
    code, out = run("silence", "add", "rule=x", "--for", "soon", "--reason", "x")
    assert code == 2
    code, out = run("silence", "add", "rule=~(x", "--for", "1h", "--reason", "x")
    assert code == 2
    assert "RE2" in out
    code, out = run(
        "silence", "add", r"rule=~fr\..*", "platform!=demo", "--for", "1h", "--reason", "drill"
    )
    assert code == 0, out
    listed = run("silence", "list")[1]
    assert r"rule=~fr\..*" in listed
    assert "platform!=demo" in listed


def test_dead_letters_and_retry(config: Path) -> None:
    raise_alert()
    settings = load_settings()
    db = create_engine(settings.store.url)
    engine = AlertEngine(db, settings.alerts)
    (out,) = engine.claim()
    engine.failed(out.id, "HTTP 404 from receiver", permanent=True)
    db.dispose()
    code, text = run("dead")
    assert code == 0
    assert "HTTP 404" in text
    assert run("retry", str(out.id), "--by", "ops")[0] == 0
    assert "no dead letters" in run("dead")[1]
    assert run("retry", str(out.id))[0] == 1


def test_check(config: Path, tmp_path: Path) -> None:
    code, out = run("check")
    assert code == 0
    assert "alerts configuration OK" in out
    bad = tmp_path / "bad.toml"
    bad.write_text(
        '[alerts]\nreceivers = [{name = "a", type = "webhook", url = "ftp://x"}]\n'
        'default_receivers = ["a"]\n'
        '[[alerts.routes]]\nreceivers = ["a"]\n[[alerts.routes]]\nreceivers = ["a"]\n'
    )
    code, out = run("check", "--config", str(bad))
    assert code == 1
    assert "url must be http" in out
    assert "routes[1] is never reached" in out
    unknown = tmp_path / "unknown.toml"
    unknown.write_text('[alerts]\ndefault_receivers = ["nobody"]\n')
    code, out = run("check", "--config", str(unknown))
    assert code == 1
    assert "unknown receiver" in out


def audit_entries() -> list[AuditEntry]:
    db = create_engine(load_settings().store.url)
    try:
        log = AuditLog(db)
        assert log.verify().ok
        return list(reversed(log.entries(limit=1000)))
    finally:
        db.dispose()


def test_every_action_is_audited_like_the_dashboards(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("VEILLE_USER", raising=False)
    me = getpass.getuser()
    first, second = raise_alert(), raise_alert("Another", "r2")
    assert run("ack", str(first), "--note", "calling the zone")[0] == 0
    assert run("assign", str(first), "bob", "--as", "alice", "--reason", "on shift")[0] == 0
    assert run("note", str(first), "patrol sent", "--by", "alice")[0] == 0
    assert run("resolve", str(first), "--as", "bob", "--reason", "handled by the zone")[0] == 0
    assert run("ack", str(second), "--as", "carol")[0] == 0
    assert run("ack", str(second), "--as", "carol")[0] == 1  # refused: nothing audited
    code, out = run("silence", "add", "rule=x", "--for", "1h", "--reason", "drill", "--as", "dan")
    assert code == 0, out
    assert run("silence", "expire", "1", "--reason", "drill over")[0] == 0
    entries = audit_entries()
    assert [(e.actor, e.action, e.target, e.reason) for e in entries] == [
        (me, "alert.acknowledge", f"alert {first}", "calling the zone"),
        ("alice", "alert.assign", f"alert {first}", "on shift"),
        ("alice", "alert.note", f"alert {first}", "patrol sent"),
        ("bob", "alert.resolve", f"alert {first}", "handled by the zone"),
        ("carol", "alert.acknowledge", f"alert {second}", ""),
        ("dan", "silence.create", "silence 1", "drill"),
        (me, "silence.expire", "silence 1", "drill over"),
    ]
    assert all(e.detail["via"] == "cli" and e.detail["os_user"] == me for e in entries)
    assert entries[1].detail["assignee"] == "bob"
    assert entries[5].detail["matchers"] == ["rule=x"]
    # The alert history and the audit log name the same person.
    assert "bob resolved" in run("show", str(first))[1]


def test_the_actor_defaults_to_veille_user(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VEILLE_USER", "watch-officer")
    alert_id = raise_alert()
    assert run("ack", str(alert_id))[0] == 0
    (entry,) = audit_entries()
    assert entry.actor == "watch-officer"
    assert entry.detail["os_user"] == getpass.getuser()
