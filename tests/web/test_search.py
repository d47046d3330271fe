"""Search and CSV export: the rule language, visibility, audit, and formula-proof cells."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st

from veille.model import Author, Post
from veille.web.api.search import FORMULA_STARTS, neutralise

from .conftest import Env, login, sample_posts


def test_search_api_audits_and_pages(env: Env) -> None:
    env.write(sample_posts(env.clock))
    api = env.api("analyst")
    result = api.get("/api/search", params={"q": "arnaque* OR phishing OR police"}).json()
    assert [h["post"]["native_id"] for h in result["items"]] == ["3", "2", "1"]
    assert result["items"][0]["post"]["segments"][0] == ["Phishing", True]
    page = api.get("/api/search", params={"q": "arnaque* OR phishing OR police", "limit": 2}).json()
    rest = api.get(
        "/api/search",
        params={"q": "arnaque* OR phishing OR police", "limit": 2, "cursor": page["next"]},
    ).json()
    assert [h["post"]["native_id"] for h in page["items"] + rest["items"]] == ["3", "2", "1"]
    bad = api.get("/api/search", params={"q": "police AND ("})
    assert bad.status_code == 422
    assert bad.json()["error"]["code"] == "invalid_query"
    assert env.api("viewer").get("/api/search", params={"q": "police"}).status_code == 403
    searches = [
        e for e in env.api("admin").get("/api/audit").json()["items"] if e["action"] == "search"
    ]
    assert searches[0]["actor"] == "analyst"
    assert searches[0]["detail"]["query"] == "arnaque* OR phishing OR police"


def test_search_hides_posts_of_invisible_rules(env: Env) -> None:
    env.write(sample_posts(env.clock))
    api = env.api("trends")  # sees only the fraud rule, pseudonymised
    hits = api.get("/api/search", params={"q": "police OR arnaque* OR beau"}).json()["items"]
    ids = sorted(h["post"]["native_id"] for h in hits)
    assert ids == ["2", "4"]  # 1 matched only the police rule; 4 matched no rule
    assert all(h["post"]["author"]["pseudonymised"] for h in hits)


def test_export_needs_a_reason_and_neutralises_formulas(env: Env) -> None:
    hostile = Post(
        platform="mastodon",
        native_id="x1",
        text='=HYPERLINK("http://evil.example","police")',
        author=Author(handle="+cmd|' /C calc'!A0"),
        created_at=env.clock() - timedelta(hours=1),
    )
    env.write([hostile, *sample_posts(env.clock)])
    api = env.api("analyst")
    refused = api.post("/api/search/export", json={"q": "police", "reason": "short"})
    assert refused.status_code == 422
    done = api.post(
        "/api/search/export",
        json={"q": "police", "reason": "case 2026/123 requested by the prosecutor"},
    )
    assert done.status_code == 200
    assert done.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(done.text)))
    assert rows[0][:5] == ["platform", "id", "created_at", "author", "text"]
    cells = [c for row in rows[1:] for c in row]
    assert '\'=HYPERLINK("http://evil.example","police")' in cells
    assert "'+cmd|' /C calc'!A0" in cells
    assert not any(c and c[0] in FORMULA_STARTS for c in cells)
    exported = [
        e for e in env.api("admin").get("/api/audit").json()["items"] if e["action"] == "export"
    ]
    assert exported[0]["reason"] == "case 2026/123 requested by the prosecutor"
    assert exported[0]["detail"]["rows"] == 2


def test_search_page_and_export_form(env: Env) -> None:
    env.write(sample_posts(env.clock))
    client = env.client()
    csrf = login(client, "analyst")
    page = client.get("/search", params={"q": "police"})
    assert '<mark class="match">police</mark>' in page.text
    assert 'action="/search/export"' in page.text
    assert "error" in client.get("/search", params={"q": "("}).text
    refused = client.post("/search/export", data={"q": "police", "reason": "", "csrf_token": csrf})
    assert refused.status_code == 422
    done = client.post(
        "/search/export",
        data={"q": "police", "reason": "weekly report to the chief", "csrf_token": csrf},
    )
    assert done.status_code == 200
    assert "La police arrive au parc" in done.text


@given(st.text(max_size=30))
def test_neutralised_cells_never_start_a_formula(cell: str) -> None:
    out = neutralise(cell)
    first = out.lstrip(" \u00a0")[:1]
    assert first not in FORMULA_STARTS or out.startswith("'")
    assert out.endswith(cell)
