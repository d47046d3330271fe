"""`veille run` on a replayed stream, as an operator starts it: the detectors and the rules raise
alerts, and the signed notifications reach a webhook on 127.0.0.1 before the run exits."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import orjson
import pytest

from veille.alert.channels import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from veille.store import Store
from veille.store import alerts as alert_store
from veille.testing import FakeWebhookReceiver

pytestmark = pytest.mark.integration

SECRET = "end-to-end-secret"
RULES = """
[[rule]]
id = "station"
name = "Police stations"
severity = "high"
query = '"police station" OR politiekantoor'

[[rule]]
id = "weather"
severity = "low"
query = 'rain OR regen'
"""
POSTS = [
    # urgent: a threat from an account with reach; also matches the high rule
    {
        "id": "t1",
        "text": "We are going to burn down the police station in Namur tonight",
        "lang": "en",
        "author": {"id": "a1", "handle": "angry", "followers": 5000},
    },
    # a reply in the same thread, in the same batch
    {
        "id": "t2",
        "text": "We are going to burn down the police station in Namur tonight, all of us",
        "lang": "en",
        "reply_to": "t1",
        "root_id": "t1",
        "author": {"id": "a2", "handle": "other", "followers": 4000},
    },
    # a high rule alone
    {"id": "r1", "text": "Het politiekantoor in Gent is vandaag gesloten", "lang": "nl"},
    # below the alert floor, and nothing at all
    {"id": "w1", "text": "Rain again in Brussels this evening", "lang": "en"},
    {"id": "n1", "text": "Lovely market in Leuven this morning", "lang": "en"},
]


def write_config(tmp: Path, url: str) -> Path:
    (tmp / "rules").mkdir()
    (tmp / "rules" / "watch.toml").write_text(RULES, encoding="utf-8")
    config = tmp / "veille.toml"
    config.write_text(
        f'[store]\nurl = "sqlite:///{tmp / "veille.db"}"\n'
        f'[rules]\npaths = ["{tmp / "rules"}"]\n'
        '[alerts]\nbase_url = "https://veille.example"\ndefault_receivers = ["cell"]\n'
        '[[alerts.receivers]]\nname = "cell"\ntype = "webhook"\n'
        f'url = "{url}"\nsecret = "{SECRET}"\n',
        encoding="utf-8",
    )
    return config


async def test_veille_run_delivers_alerts_to_a_loopback_webhook(tmp_path: Path) -> None:
    replay = tmp_path / "posts.jsonl"
    replay.write_bytes(b"\n".join(orjson.dumps(p) for p in POSTS) + b"\n")
    async with FakeWebhookReceiver() as receiver:
        config = write_config(tmp_path, receiver.url)
        process = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "veille", "run", "--replay", str(replay), "--quiet"],
            env={**os.environ, "VEILLE_CONFIG": str(config)},
            cwd=tmp_path,
            capture_output=True,
            timeout=120,
        )
        assert process.returncode == 0, process.stderr.decode()

    bodies = [orjson.loads(r.body) for r in receiver.requests]
    assert all(r.answer == "200" for r in receiver.requests)
    for request in receiver.requests:
        signature = request.headers[SIGNATURE_HEADER.lower()]
        assert verify(
            SECRET.encode(), request.headers[TIMESTAMP_HEADER.lower()], request.body, signature
        )
    sent = Counter(
        (a["kind"], a["rule"], a["post"]["native_id"]) for b in bodies for a in b["alerts"]
    )
    # The thread's two threats (same batch, same group) go out in one message; the rule alerts
    # of the thread are muted by them (critical inhibits lower alerts in the conversation); the
    # rule alone on r1 alerts, with no second "urgent" alert that would only repeat the rule.
    assert sent == {
        ("urgent", "urgency", "t1"): 1,
        ("urgent", "urgency", "t2"): 1,
        ("rule", "station", "r1"): 1,
    }
    assert len(receiver.requests) == 2
    urgent = next(a for b in bodies for a in b["alerts"] if a["kind"] == "urgent")
    assert any("threat" in reason for reason in urgent["reasons"])
    assert urgent["links"]["conversation"] == "https://veille.example/conversations/generic%3At1"
    assert "police station" in urgent["excerpt"]

    with Store.open(f"sqlite:///{tmp_path / 'veille.db'}") as store, store.engine.connect() as conn:
        alerts = alert_store.list_alerts(conn, limit=100)
        outbox = alert_store.list_notifications(conn, limit=100)
    assert {(a.kind, a.native_id, a.severity) for a in alerts} == {
        ("urgent", "t1", "critical"),
        ("rule", "t1", "high"),
        ("urgent", "t2", "critical"),
        ("rule", "t2", "high"),
        ("rule", "r1", "high"),
    }
    # the thread's rule group had nothing left to say: its message was suppressed, not sent
    assert sorted(n.status for n in outbox) == ["delivered", "delivered", "suppressed"]
