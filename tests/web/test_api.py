"""The JSON API over real data: posts, conversations, rules; visibility and error objects."""

from __future__ import annotations

from .conftest import Env, sample_posts


def test_unauthenticated_api_gets_a_stable_error(env: Env) -> None:
    response = env.client().get("/api/conversations")
    assert response.status_code == 401
    assert response.json() == {
        "error": {"code": "unauthenticated", "message": "log in or send an API token"}
    }
    assert response.headers["www-authenticate"] == "Bearer"


def test_conversations_and_thread_with_spans(env: Env) -> None:
    env.write(sample_posts(env.clock))
    api = env.api("analyst")
    listed = api.get("/api/conversations").json()
    keys = {c["key"] for c in listed["items"]}
    assert keys == {"mastodon:1", "mastodon:3"}
    detail = api.get("/api/conversations/mastodon:1").json()
    root = detail["thread"][0]
    assert root["post"]["text"] == "La police arrive au parc"
    assert root["post"]["segments"] == [
        ["La ", False],
        ["police", True],
        [" arrive au parc", False],
    ]
    reply = root["replies"][0]["post"]
    assert reply["native_id"] == "2"
    assert reply["url"] is None  # javascript: is not a link
    assert {m["rule"] for m in reply["matches"]} == {"t.fraud"}


def test_pseudonymised_watch_list_masks_authors_and_hides_others(env: Env) -> None:
    env.write(sample_posts(env.clock))
    api = env.api("trends")
    listed = api.get("/api/conversations").json()
    # The police rule is not on the statistics team's watch list; fraud is (by tag).
    assert {c["key"] for c in listed["items"]} == {"mastodon:1", "mastodon:3"}
    assert all(c["rules"] == ["t.fraud"] for c in listed["items"])
    detail = api.get("/api/conversations/mastodon:3").json()
    post = detail["thread"][0]["post"]
    assert post["author"]["pseudonymised"] is True
    assert post["author"]["handle"].startswith("anon-")
    assert "carl" not in str(post)
    assert post["url"] is None


def test_user_without_team_sees_nothing(env: Env) -> None:
    env.write(sample_posts(env.clock))
    api = env.api("outsider")
    assert api.get("/api/conversations").json()["items"] == []
    assert api.get("/api/conversations/mastodon:1").status_code == 404
    assert api.get("/api/rules").json()["items"] == []


def test_views_are_audited(env: Env) -> None:
    ids = env.write(sample_posts(env.clock))
    api = env.api("viewer")
    assert api.get(f"/api/posts/{ids[0]}").status_code == 200
    assert api.get("/api/conversations/mastodon:1").status_code == 200
    log = env.api("admin").get("/api/audit").json()["items"]
    actions = [(e["actor"], e["action"], e["target"]) for e in log]
    assert ("viewer", "conversation.view", "mastodon:1") in actions
    assert ("viewer", "post.view", f"post {ids[0]}") in actions


def test_pagination_cursor_walks_every_conversation(env: Env) -> None:
    env.write(sample_posts(env.clock))
    api = env.api("admin")
    first = api.get("/api/conversations", params={"limit": 1}).json()
    assert len(first["items"]) == 1
    assert first["next"]
    second = api.get("/api/conversations", params={"limit": 1, "cursor": first["next"]}).json()
    assert len(second["items"]) == 1
    assert second["items"][0]["key"] != first["items"][0]["key"]
    bad = api.get("/api/conversations", params={"cursor": "%%%"})
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "bad_cursor"


def test_rule_validation_locates_the_error(env: Env) -> None:
    api = env.api("analyst")
    body = {"id": "t.new", "query": "police AND (brûler", "severity": "high"}
    result = api.post("/api/rules/validate", json=body).json()
    assert result["valid"] is False
    problem = result["problems"][0]
    assert problem["field"] == "query"
    assert problem["level"] == "error"
    assert problem["start"] >= len("police AND ")


def test_rule_test_box(env: Env) -> None:
    api = env.api("analyst")
    body = {"id": "x", "query": "manif*", "text": "Grosse manifestation ce soir"}
    result = api.post("/api/rules/test", json=body).json()
    assert result["matched"] is True
    assert result["segments"][1] == ["manifestation", True]


def test_dry_run_counts_and_compares(env: Env) -> None:
    env.write(sample_posts(env.clock))
    api = env.api("analyst")
    body = {"id": "t.fraud", "query": "arnaque* OR phishing OR beau", "days": 2}
    result = api.post("/api/rules/dry-run", json=body).json()
    assert result["matched"] == 3
    assert result["scanned"] == 4
    assert result["compared"] is True
    assert (result["only_new"], result["only_old"]) == (1, 0)
    assert len(result["examples"]) == 3
    assert sum(result["per_day"].values()) == 3


def test_create_and_edit_rule_keeps_the_file_and_history(env: Env) -> None:
    api = env.api("analyst")
    rule = api.get("/api/rules/t.police").json()
    body = {**rule, "query": "police OR politie OR polizei", "reason": "add German"}
    saved = api.put("/api/rules/t.police", json=body)
    assert saved.status_code == 200, saved.text
    assert saved.json()["version"] == 2 or saved.json()["version"] >= 1
    text = (env.rules_dir / "base.toml").read_text()
    assert "This comment must survive" in text
    assert "polizei" in text
    # A stale editor cannot overwrite the newer version.
    stale = api.put("/api/rules/t.police", json={**body, "query": "police"})
    assert stale.status_code == 409
    history = api.get("/api/rules/t.police/history").json()
    assert history["edits"][0]["reason"] == "add German"
    assert history["edits"][0]["before"]["query"] == "police OR politie"
    created = api.post(
        "/api/rules",
        json={
            "id": "t.new",
            "query": "émeute*",
            "severity": "critical",
            "tags": ["ordre"],
            "reason": "riots",
        },
    )
    assert created.status_code == 201, created.text
    assert (env.rules_dir / "web.toml").exists()
    invalid = api.post("/api/rules", json={"id": "t.bad", "query": "(", "reason": "x"})
    assert invalid.status_code == 422
    assert invalid.json()["error"]["code"] == "invalid_rule"


def test_viewer_cannot_edit_rules(env: Env) -> None:
    api = env.api("viewer")
    rule = api.get("/api/rules/t.police").json()
    response = api.put("/api/rules/t.police", json={**rule, "reason": "x"})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"
