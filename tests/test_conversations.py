"""Thread reconstruction and flagging: pure logic, checked against simple reference models."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from veille import conversations as conv
from veille.model import Author, Post

T0 = datetime(2026, 1, 1, tzinfo=UTC)
WINDOW = timedelta(hours=72)


def test_root_from_each_kind_of_thread_id() -> None:
    posts = [
        Post(platform="bluesky", native_id="c", reply_to="b", root_id="a"),  # root given
        Post(platform="mastodon", native_id="2", reply_to="1"),  # parent only, unknown
        Post(platform="mastodon", native_id="3", reply_to="2"),  # parent in the same batch
        Post(platform="rss", native_id="https://e/x"),  # no thread: its own root
        Post(platform="x", native_id="9", root_id="9"),  # X conversation_id of a root tweet
    ]
    threads = conv.resolve_roots(posts, {})
    assert threads.roots == ["a", "1", "1", "https://e/x", "9"]
    assert threads.relinks == {
        ("bluesky", "c"): "a",
        ("mastodon", "2"): "1",
        ("mastodon", "3"): "1",
    }


def test_parent_after_child_relinks() -> None:
    stored = {("mastodon", "3"): "2"}  # 3 arrived first, provisionally rooted at its parent 2
    threads = conv.resolve_roots([Post(platform="mastodon", native_id="2", reply_to="1")], stored)
    assert threads.roots == ["1"]
    assert threads.relinks == {("mastodon", "2"): "1"}


def test_reply_cycles_terminate() -> None:
    posts = [
        Post(platform="m", native_id="a", reply_to="b"),
        Post(platform="m", native_id="b", reply_to="a"),
        Post(platform="m", native_id="c", root_id="d"),
        Post(platform="m", native_id="d", root_id="c"),
    ]
    threads = conv.resolve_roots(posts, {})
    assert threads.roots == ["b", "b", "d", "d"]


def test_activity_time_is_clamped_to_now() -> None:
    now = T0
    assert conv.active_at(T0 - timedelta(hours=1), None, now) == T0 - timedelta(hours=1)
    assert conv.active_at(T0 + timedelta(days=9), T0 - timedelta(seconds=1), now) == T0 - timedelta(
        seconds=1
    )
    assert conv.active_at(T0 + timedelta(days=9), None, now) == now
    assert conv.active_at(datetime(2025, 1, 1), None, now) == datetime(2025, 1, 1, tzinfo=UTC)


@st.composite
def forests(draw: st.DrawFn) -> tuple[list[Post], dict[str, str], list[list[int]]]:
    """Posts of random reply trees, the true root of each, and an arrival order cut in batches."""
    n = draw(st.integers(1, 40))
    parents: list[int | None] = [None]
    for i in range(1, n):
        parents.append(draw(st.one_of(st.none(), st.integers(0, i - 1))))
    gives_root = draw(st.booleans())  # a Bluesky-like platform names the root, Mastodon does not

    def top(i: int) -> int:
        while (p := parents[i]) is not None:
            i = p
        return i

    posts = [
        Post(
            platform="p",
            native_id=str(i),
            reply_to=None if parents[i] is None else str(parents[i]),
            root_id=str(top(i)) if gives_root and parents[i] is not None else None,
        )
        for i in range(n)
    ]
    order = draw(st.permutations(range(n)))
    cuts = sorted(draw(st.lists(st.integers(0, n), max_size=6)))
    batches = [list(order[a:b]) for a, b in zip([0, *cuts], [*cuts, n], strict=True) if a < b]
    return posts, {str(i): str(top(i)) for i in range(n)}, batches


@settings(max_examples=200, deadline=None)
@given(forests())
def test_every_post_ends_under_its_true_root_whatever_the_arrival_order(
    case: tuple[list[Post], dict[str, str], list[list[int]]],
) -> None:
    posts, true_root, batches = case
    stored: dict[conv.Key, str] = {}  # what the store's posts table would hold: key -> conv_root
    for batch in batches:
        batch_posts = [posts[i] for i in batch]
        threads = conv.resolve_roots(batch_posts, stored)
        for key, new_root in threads.relinks.items():  # the store's relink UPDATE
            for other, root in stored.items():
                if other[0] == key[0] and root == key[1]:
                    stored[other] = new_root
        for post, root in zip(batch_posts, threads.roots, strict=True):
            stored[post.key] = root
    assert {native: root for (_, native), root in stored.items()} == true_root


# -- flagging ---------------------------------------------------------------------------------


@st.composite
def streams(draw: st.DrawFn) -> tuple[list[tuple[str, int, bool, str]], list[int], bool]:
    """Posts as (conversation, minutes after T0, matched, author), batch cuts, keep-all."""
    n = draw(st.integers(1, 30))
    items = []
    minute = 0
    for _ in range(n):
        minute += draw(st.integers(0, 3000))
        items.append(
            (
                draw(st.sampled_from("abc")),
                minute - draw(st.integers(0, 200)),  # arrivals slightly out of time order
                draw(st.booleans()),
                draw(st.sampled_from(["u1", "u2", "u3", ""])),
            )
        )
    cuts = sorted(draw(st.lists(st.integers(0, n), max_size=5)))
    return items, cuts, draw(st.booleans())


@settings(max_examples=200, deadline=None)
@given(streams())
def test_follow_agrees_with_a_reference_model(
    case: tuple[list[tuple[str, int, bool, str]], list[int], bool],
) -> None:
    items, cuts, keep_all = case
    now = T0 + timedelta(days=100)
    # Reference: walk the stream once.
    expected_keep: list[bool] = []
    last_match: dict[str, datetime] = {}
    expected_count: dict[str, int] = {}
    expected_people: dict[str, set[str]] = {}
    unflagged_kept: dict[str, list[tuple[datetime, str]]] = {}
    for root, minute, matched, author in items:
        at = T0 + timedelta(minutes=minute)
        followed = root in last_match and at <= last_match[root] + WINDOW
        kept = keep_all or matched or followed
        expected_keep.append(kept)
        if not kept:
            continue
        if matched and root not in last_match:
            earlier = unflagged_kept.pop(root, [])
            expected_count[root] = len(earlier)
            expected_people[root] = {a for _, a in earlier if a}
        if root in last_match or matched:
            expected_count[root] += 1
            if author:
                expected_people[root].add(author)
            if matched:
                last_match[root] = max(last_match.get(root, at), at)
        else:
            unflagged_kept.setdefault(root, []).append((at, author))

    # Under test: batch by batch, carrying the state the store would carry.
    flagged: dict[conv.Key, conv.Conversation] = {}
    people: dict[conv.Key, set[str]] = {}
    stored: dict[conv.Key, list[datetime]] = {}  # kept posts of unflagged conversations
    keep: list[bool] = []
    for a, b in zip([0, *cuts], [*cuts, len(items)], strict=True):
        acts = [
            conv.Activity(
                conversation=("p", root),
                author=author,
                at=T0 + timedelta(minutes=minute),
                rules=frozenset({"r"}) if matched else frozenset(),
            )
            for root, minute, matched, author in items[a:b]
        ]
        archive = {
            key: conv.ArchiveStats(
                post_count=len(times), first_activity=min(times), last_activity=max(times)
            )
            for key, times in stored.items()
            if key not in flagged
        }
        out = conv.follow(acts, flagged, archive, now=now, window=WINDOW, keep_all=keep_all)
        keep.extend(out.keep)
        for key in out.flagged:
            people[key] = set()
        for act, kept in zip(acts, out.keep, strict=True):
            if (
                kept
                and act.conversation not in out.conversations
                and act.conversation not in flagged
            ):
                stored.setdefault(act.conversation, []).append(act.at)
        for key, author in out.joined:
            people[key].add(author)
        for key in out.flagged:  # the store's insert-select of the archive's participants
            people[key] |= {
                author
                for (root, _, _, author), kept in zip(items[:a], keep[:a], strict=True)
                if kept and author and ("p", root) == key
            }
        flagged.update(out.conversations)
    assert keep == expected_keep
    assert {key[1]: c.post_count for key, c in flagged.items()} == expected_count
    assert {key[1]: p for key, p in people.items()} == expected_people
    for key, c in flagged.items():
        assert c.follow_until == last_match[key[1]] + WINDOW
        assert c.rules == {"r"}
        assert c.flagged_at == now


def test_merge_combines_two_flagged_threads() -> None:
    a = conv.Conversation(
        platform="m",
        root="1",
        flagged_at=T0,
        follow_until=T0 + WINDOW,
        rules=frozenset({"x"}),
        post_count=2,
        first_activity=T0,
        last_activity=T0,
        id=7,
    )
    b = conv.Conversation(
        platform="m",
        root="2",
        flagged_at=T0 - WINDOW,
        follow_until=T0 + 2 * WINDOW,
        rules=frozenset({"y"}),
        post_count=3,
        first_activity=T0 - WINDOW,
        last_activity=T0 + WINDOW,
        id=8,
    )
    merged = conv.merge(a, b, "1")
    assert (merged.id, merged.root, merged.post_count) == (7, "1", 5)
    assert merged.rules == {"x", "y"}
    assert (merged.flagged_at, merged.follow_until) == (T0 - WINDOW, T0 + 2 * WINDOW)
    assert (merged.first_activity, merged.last_activity) == (T0 - WINDOW, T0 + WINDOW)
    moved = conv.merge(None, b, "1")
    assert (moved.root, moved.id, moved.post_count) == ("1", None, 3)


def test_participant_prefers_id() -> None:
    assert (
        conv.participant(Post(platform="p", native_id="1", author=Author(id="i", handle="h")))
        == "i"
    )
    assert conv.participant(Post(platform="p", native_id="1", author=Author(handle="h"))) == "h"
