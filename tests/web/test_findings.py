"""Detector findings in the API and the conversation page: shown with their spans, personal data
masked for whoever may not see it, and every view of it in clear audited."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st

from veille.enrich.detect import analyze
from veille.match.matcher import Matcher
from veille.model import Author, Post
from veille.rules.files import load_rules
from veille.web.schemas import marks, mask_text, segments

from .conftest import Env, login

IBAN = "BE71 0961 2345 6769"
TEXT = f"La police? Versez sur {IBAN} ou appelez le 0471 23 45 67"


def write_with_findings(env: Env) -> int:
    post = Post(
        platform="mastodon",
        native_id="10",
        text=TEXT,
        author=Author(id="u9", handle="eve", followers=50),
        lang="fr",
        created_at=env.clock() - timedelta(minutes=5),
    )
    matcher = Matcher(load_rules([env.rules_dir]), env.store.versions)
    found = matcher.match(post)
    enrichment = analyze(post, matches=found)
    assert {f.kind for f in enrichment.hits()} >= {"iban", "phone"}
    result = env.store.write_batch([post], [found], enrichments=[enrichment])
    post_id = result.post_ids[0]
    assert post_id is not None
    return post_id


def audit(env: Env) -> list[tuple[str, str, str, dict[str, object]]]:
    log = env.api("admin").get("/api/audit", params={"limit": 200}).json()["items"]
    return [(e["actor"], e["action"], e["target"], e["detail"]) for e in log]


def test_analyst_sees_findings_in_clear_and_the_view_is_audited(env: Env) -> None:
    post_id = write_with_findings(env)
    shown = env.api("analyst").get(f"/api/posts/{post_id}").json()
    assert shown["text"] == TEXT
    assert shown["masked"] is False
    kinds = {f["kind"]: f for f in shown["findings"]}
    iban = kinds["iban"]
    ((start, end),) = iban["spans"]
    assert TEXT[start:end] == IBAN
    assert iban["detector"] == "personal_data"
    assert iban["score"] > 0.9
    assert iban["explanation"]
    assert [s for s in shown["segments"] if s[1]] == [["police", True]]
    entries = audit(env)
    assert ("analyst", "post.view", f"post {post_id}", {}) in entries
    (personal,) = [e for e in entries if e[1] == "personal_data.view"]
    assert personal[0] == "analyst"
    assert personal[3]["posts"] == [post_id]
    assert {"iban", "phone"} <= set(personal[3]["kinds"])  # type: ignore[arg-type]


def test_viewer_gets_personal_data_masked_and_no_personal_data_entry(env: Env) -> None:
    post_id = write_with_findings(env)
    detail = env.api("viewer").get("/api/conversations/mastodon:10").json()
    post = detail["thread"][0]["post"]
    assert post["masked"] is True
    assert IBAN not in str(post)
    assert "0471" not in str(post)
    assert "⟨iban⟩" in post["text"]
    assert "⟨phone⟩" in post["text"]
    for finding in post["findings"]:
        for start, end in finding["spans"]:
            if finding["kind"] in ("iban", "phone"):
                assert post["text"][start:end] == f"⟨{finding['kind']}⟩"
    # The rule match still points at the right word in the masked text.
    assert [s for s in post["segments"] if s[1]] == [["police", True]]
    (match,) = post["matches"]
    ((start, end),) = match["spans"]
    assert post["text"][start:end] == "police"
    actions = [(e[0], e[1]) for e in audit(env)]
    assert ("viewer", "conversation.view") in actions
    assert ("viewer", "personal_data.view") not in actions
    assert post_id


def test_pseudonymised_analyst_gets_it_masked(env: Env) -> None:
    write_with_findings(env)
    # The statistics team sees fraud rules only; give the post a fraud word to make it visible.
    post = Post(platform="mastodon", native_id="11", text=f"arnaque: {IBAN}", lang="fr")
    matcher = Matcher(load_rules([env.rules_dir]), env.store.versions)
    found = matcher.match(post)
    env.store.write_batch([post], [found], enrichments=[analyze(post, matches=found)])
    shown = env.api("trends").get("/api/conversations/mastodon:11").json()
    assert IBAN not in str(shown)
    assert shown["thread"][0]["post"]["masked"] is True


def test_conversation_page_shows_findings_and_urgency(env: Env) -> None:
    write_with_findings(env)
    client = env.client()
    login(client, "analyst")
    page = client.get("/conversations/mastodon:10")
    assert page.status_code == 200
    assert 'class="finding" title="iban"' in page.text
    assert '<mark class="match">police</mark>' in page.text
    assert "post-findings" in page.text
    assert "personal_data" in page.text
    viewer = env.client()
    login(viewer, "viewer")
    masked = viewer.get("/conversations/mastodon:10")
    assert IBAN not in masked.text
    assert "⟨iban⟩" in masked.text


def test_mask_text_moves_offsets() -> None:
    text, move = mask_text("call 0471 now at BE71", [((5, 9), "phone"), ((17, 21), "iban")])
    assert text == "call ⟨phone⟩ now at ⟨iban⟩"
    assert (move(0), move(5), move(7), move(9), move(10)) == (0, 5, 12, 12, 13)
    assert text[move(10) : move(13)] == "now"


@given(
    st.text(max_size=40),
    st.lists(st.tuples(st.integers(0, 45), st.integers(0, 45)), max_size=5),
    st.lists(st.tuples(st.integers(0, 45), st.integers(0, 45)), max_size=5),
)
def test_marks_keep_the_text_and_agree_with_segments(
    text: str, matched: list[tuple[int, int]], found: list[tuple[int, int]]
) -> None:
    pieces = marks(text, matched, [(span, "iban") for span in found])
    assert "".join(p for p, _, _ in pieces) == text
    flat = [(p, "match" in classes) for p, classes, _ in pieces]
    merged: list[tuple[str, bool]] = []
    for piece, hit in flat:
        if merged and merged[-1][1] == hit:
            merged[-1] = (merged[-1][0] + piece, hit)
        elif piece:
            merged.append((piece, hit))
    assert merged == segments(text, matched)
    masked, move = mask_text(text, [(span, "k") for span in found])
    assert all(0 <= move(i) <= len(masked) for i in range(len(text) + 1))
    assert [move(i) for i in range(len(text) + 1)] == sorted(move(i) for i in range(len(text) + 1))
