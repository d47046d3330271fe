"""The draft check in the dashboard and the API: every role may, the text is never kept."""

from __future__ import annotations

from tests.web.conftest import Env, login

SECRET = """\
[[rule]]
id = "op.nachtuil"
name = "Operatie Nachtuil"
query = '"operatie nachtuil"'
severity = "critical"
tags = ["secrecy"]
"""


def test_api_reviews_a_draft_and_audits_the_check_not_the_text(env: Env) -> None:
    (env.rules_dir / "secret.toml").write_text(SECRET, encoding="utf-8")
    text = "Operatie Nachtuil: bel 0470 12 34 56"
    answer = env.api("viewer").post("/api/draft/check", json={"text": text, "lang": "nl"})
    assert answer.status_code == 200, answer.text
    review = answer.json()
    assert review["verdict"] == "stop"
    assert review["secrecy_rules"] == 1
    found = [(i["kind"], i["level"], text[i["start"] : i["end"]]) for i in review["issues"]]
    assert found == [("secrecy", "stop", "Operatie Nachtuil"), ("phone", "check", "0470 12 34 56")]
    entries = [
        e
        for e in env.api("admin").get("/api/audit").json()["items"]
        if e["action"] == "draft.check"
    ]
    assert [(e["actor"], e["target"]) for e in entries] == [("viewer", "stop")]
    assert "0470" not in str(entries)
    assert "Nachtuil" not in str(entries)


def test_api_bounds_and_validates_the_draft(env: Env) -> None:
    api = env.api("analyst")
    assert api.post("/api/draft/check", json={"text": "x" * 20_001}).status_code == 422
    assert api.post("/api/draft/check", json={"text": "x", "lang": "xx"}).status_code == 422
    assert env.client().post("/api/draft/check", json={"text": "x"}).status_code == 401


def test_page_marks_the_problems_and_escapes_the_draft(env: Env) -> None:
    client = env.client()
    csrf = login(client, "viewer")
    page = client.get("/draft")
    assert page.status_code == 200
    assert "Check a draft" in page.text
    text = "<script>alert(1)</script> dossier PV n° BR.12.L1.123456/2025"
    result = client.post("/draft", data={"text": text, "lang": "", "csrf_token": csrf})
    assert result.status_code == 200
    assert "<script>alert(1)" not in result.text
    assert "&lt;script&gt;" in result.text
    assert '<mark class="bad">BR.12.L1.123456/2025</mark>' in result.text
    assert "Do not post this as it is." in result.text
    fragment = client.post(
        "/draft", data={"text": "Bonne journée", "csrf_token": csrf}, headers={"HX-Request": "true"}
    )
    assert fragment.text.lstrip().startswith('<div id="draft-result">')
    assert "Nothing found: you may post." in fragment.text
    refused = client.post("/draft", data={"text": "x"})
    assert refused.status_code == 403  # no CSRF token


def test_a_secrecy_rule_added_while_serving_counts_at_the_next_check(env: Env) -> None:
    api = env.api("analyst")
    text = "Operatie Nachtuil start morgen"
    before = api.post("/api/draft/check", json={"text": text}).json()
    assert (before["verdict"], before["secrecy_rules"]) == ("ok", 0)
    (env.rules_dir / "secret.toml").write_text(SECRET, encoding="utf-8")
    after = api.post("/api/draft/check", json={"text": text}).json()
    assert (after["verdict"], after["secrecy_rules"]) == ("stop", 1)
