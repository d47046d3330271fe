"""Conversations through the store: threads across batches, flagging, following, merging."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from veille.model import Author, Match, Post
from veille.store import Store
from veille.testing import FakeClock

T0 = datetime(2026, 1, 1, tzinfo=UTC)
HIT = [Match(rule="r1", version=1, spans=((0, 3),))]


def reply(
    native_id: str, parent: str | None, author: str = "u", minutes: int = 0, **kw: object
) -> Post:
    return Post(
        platform="mastodon",
        native_id=native_id,
        text=f"post {native_id}",
        reply_to=parent,
        author=Author(id=author),
        created_at=T0 + timedelta(minutes=minutes),
        **kw,  # type: ignore[arg-type]
    )


def test_flag_counts_the_thread_already_stored(store: Store, clock: FakeClock) -> None:
    clock.now = T0 + timedelta(hours=1)
    store.write_batch([reply("1", None, "a"), reply("2", "1", "b", 1)])
    result = store.write_batch([reply("3", "2", "c", 2)], [HIT])
    assert result.flagged == [("mastodon", "1")]
    [c] = store.conversations()
    assert (c.root, c.post_count, c.participants, c.rules) == ("1", 3, 3, {"r1"})
    assert (c.first_activity, c.last_activity) == (T0, T0 + timedelta(minutes=2))
    assert c.follow_until == T0 + timedelta(minutes=2, hours=72)
    assert store.conversation(c.id or 0) == c
    assert store.conversation("mastodon:1") == c
    assert store.conversation(("mastodon", "1")) == c
    # A re-delivery does not count twice; a new reply does.
    store.write_batch([reply("3", "2", "c", 2)], [HIT])
    store.write_batch([reply("4", "3", "a", 3)])
    [c] = store.conversations()
    assert (c.post_count, c.participants) == (4, 3)


def test_thread_tree(store: Store) -> None:
    store.write_batch(
        [
            reply("1", None),
            reply("2", "1", minutes=1),
            reply("3", "2", minutes=2),
            reply("4", "1", minutes=3),
        ],
        [HIT, [], [], []],
    )
    [top] = store.thread("mastodon", "1")
    assert top.post.post.native_id == "1"
    assert top.post.matches[0].match.rule == "r1"
    assert [n.post.post.native_id for n in top.replies] == ["2", "4"]
    assert [n.post.post.native_id for n in top.replies[0].replies] == ["3"]


def test_parent_arriving_late_merges_conversations(store: Store, clock: FakeClock) -> None:
    clock.now = T0 + timedelta(hours=1)
    # 3 replies to 2 (unknown yet) and matches: flagged under the provisional root 2.
    store.write_batch([reply("3", "2", "c", 3)], [HIT])
    # 1 is a root that matched too: its own flagged conversation.
    store.write_batch([reply("1", None, "a", 1)], [[Match(rule="r2", version=1)]])
    assert {c.root for c in store.conversations()} == {"1", "2"}
    # 2 arrives: a reply to 1. Everything is one conversation under 1.
    store.write_batch([reply("2", "1", "b", 2)])
    [c] = store.conversations()
    assert (c.root, c.post_count, c.participants, c.rules) == ("1", 3, 3, {"r1", "r2"})
    assert store.post("mastodon", "3").conversation_root == "1"  # type: ignore[union-attr]
    [top] = store.thread("mastodon", "1")
    assert top.replies[0].post.post.native_id == "2"
    assert top.replies[0].replies[0].post.post.native_id == "3"


def test_keep_matched_follows_the_window(db_url: str, clock: FakeClock) -> None:
    clock.now = T0 + timedelta(days=10)
    with Store.open(db_url, clock=clock, keep="matched", follow_window=timedelta(hours=1)) as store:
        result = store.write_batch(
            [
                reply("1", None, minutes=0),  # before any match: dropped
                reply("2", "1", minutes=1),  # matches: flags conversation 1
                reply("3", "2", minutes=30),  # within the hour: kept without a match
                reply("9", None, minutes=30),  # another thread: dropped
            ],
            [[], HIT, [], []],
        )
        assert result.post_ids[0] is None
        assert result.post_ids[3] is None
        assert (result.inserted, result.dropped) == (2, 2)
        result = store.write_batch([reply("4", "3", minutes=55), reply("5", "3", minutes=90)])
        assert result.post_ids[0] is not None
        assert result.post_ids[1] is None
        [c] = store.conversations()
        assert c.post_count == 3
        assert store.conversations(following=True) == []  # window over (clock is days later)


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(order=st.permutations(range(8)), cut=st.integers(1, 7))
def test_store_threads_whatever_the_order(store: Store, order: list[int], cut: int) -> None:
    # Fresh platform per example: the store fixture is shared by hypothesis examples.
    platform = f"m{abs(hash((tuple(order), cut)))}"
    parents = [None, 0, 1, 1, 3, None, 5, 6]
    tops = [0, 0, 0, 0, 0, 5, 5, 5]
    posts = [
        Post(platform=platform, native_id=str(i), reply_to=None if p is None else str(p))
        for i, p in enumerate(parents)
    ]
    arrival = [posts[i] for i in order]
    hits = [HIT if p.native_id == "4" else [] for p in arrival]
    store.write_batch(arrival[:cut], hits[:cut])
    store.write_batch(arrival[cut:], hits[cut:])
    for i, top in enumerate(tops):
        assert store.post(platform, str(i)).conversation_root == str(top)  # type: ignore[union-attr]
    flagged = [c for c in store.conversations(limit=1000) if c.platform == platform]
    assert [(c.root, c.post_count) for c in flagged] == [("0", 5)]


def test_stored_root_redelivered_as_a_reply_moves_its_thread(store: Store) -> None:
    # Post 2 was stored as a root (its source did not say it replied) and flagged its own
    # conversation; delivered again as a reply to 1, it and its conversation move under 1.
    store.write_batch([reply("1", None)])
    store.write_batch([reply("2", None)], [HIT])
    store.write_batch([reply("2", "1")])
    assert store.post("mastodon", "2").conversation_root == "1"  # type: ignore[union-attr]
    [c] = store.conversations()
    assert c.root == "1"
