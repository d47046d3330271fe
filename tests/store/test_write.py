"""The write path: upserts, edits, deletions, matches, cursors and quarantine, on both engines."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from veille.model import Author, Match, Post, Quarantined
from veille.store import Store
from veille.store.schema import posts
from veille.testing import FakeClock

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def post(native_id: str, text: str = "hello", **fields: object) -> Post:
    fields.setdefault("created_at", T0)
    return Post(platform="mastodon", native_id=native_id, text=text, **fields)  # type: ignore[arg-type]


def match(rule: str = "r1", version: int = 1, **fields: object) -> Match:
    return Match(rule=rule, version=version, spans=((0, 5),), terms={"hello": ((0, 5),)}, **fields)  # type: ignore[arg-type]


def every_field(native_id: str = "at://did:plc:abc/app.bsky.feed.post/3k") -> Post:
    return Post(
        platform="bluesky",
        native_id=native_id,
        text="Politie in Gent 🚓 #veiligheid",
        author=Author(id="did:plc:abc", handle="a.bsky.social", display_name="Ä", followers=12),
        url="https://bsky.app/profile/a/post/3k",
        lang="nl",
        lang_hint="nl",
        created_at=datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
        received_at=datetime(2026, 1, 2, 3, 4, 6, tzinfo=UTC),
        reply_to="at://x/1",
        root_id="at://x/0",
        quote_of="at://q",
        repost_of=None,
        hashtags=("veiligheid",),
        mentions=("@b",),
        links=("https://example.org/a?b=c",),
        raw='{"k": "v"}',
    )


def test_posts_round_trip_every_field(store: Store) -> None:
    original = every_field()
    result = store.write_batch([original])
    assert result.inserted == 1
    stored = store.post("bluesky", original.native_id)
    assert stored is not None
    assert stored.post == original
    assert stored.conversation_root == "at://x/0"
    assert stored.version == 1
    assert store.post_by_id(stored.id) == stored


def test_columns_left_out_of_an_insert_read_back_as_when_bound(store: Store) -> None:
    """A batch of bare posts is inserted without the columns they all leave at their default
    (veille.store.rows); its rows are those of a bare post inserted beside one that fills them."""
    store.write_batch([post("alone", text="")])
    store.write_batch([post("beside", text=""), every_field()])
    ignored = {"id", "native_id", "conv_root", "stored_at"}
    columns = [c for c in posts.c if c.name not in ignored]
    with store.engine.connect() as conn:
        rows = {
            row.native_id: row[1:]
            for row in conn.execute(sa.select(posts.c.native_id, *columns))
            if row.native_id in {"alone", "beside"}
        }
    assert rows["alone"] == rows["beside"]
    assert store.post("mastodon", "alone").post == post("alone", text="")  # type: ignore[union-attr]


def test_redelivery_is_a_no_op(store: Store) -> None:
    first = store.write_batch([post("1"), post("2")], [[match()], []])
    again = store.write_batch([post("1"), post("2")], [[match()], []])
    assert (first.inserted, first.matches) == (2, 1)
    assert (again.inserted, again.unchanged, again.matches) == (0, 2, 0)
    assert again.post_ids == first.post_ids
    counts = store.counts()
    assert (counts["posts"], counts["matches"]) == (2, 1)


def test_edit_keeps_history_and_rematches(store: Store, clock: FakeClock) -> None:
    store.write_batch([post("1", "first text")], [[match()]])
    clock.advance(60)
    edited = post("1", "second text", edited_at=T0 + timedelta(minutes=5))
    result = store.write_batch([edited], [[match("r2")]])
    assert result.edited == 1
    stored = store.post("mastodon", "1")
    assert stored is not None
    assert stored.post.text == "second text"
    assert stored.version == 2
    assert [m.match.rule for m in stored.matches] == ["r2"]  # matches of the current text only
    [old] = store.history(stored.id)
    assert (old.version, old.text, old.replaced_at) == (1, "first text", clock.now)
    # A late copy of the first text, or an older edit, changes nothing.
    late = store.write_batch([post("1", "first text")], [[match()]])
    assert (late.unchanged, late.edited, late.matches) == (1, 0, 0)
    assert store.post("mastodon", "1").post.text == "second text"  # type: ignore[union-attr]


def test_edit_without_edit_times_and_stale_copy(store: Store) -> None:
    store.write_batch([post("1", "v1")])
    store.write_batch([post("1", "v2")])
    store.write_batch([post("1", "v1")])  # a re-delivery of v1: already in history
    stored = store.post("mastodon", "1")
    assert stored is not None
    assert (stored.post.text, stored.version) == ("v2", 2)


def test_new_posts_are_written_without_looking_their_keys_up(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    from veille.store.writer import BatchWriter

    lookups: list[int] = []
    lookup = BatchWriter._lookup_posts

    def counted(self: BatchWriter, conn: object, keys: list[tuple[str, str]]) -> object:
        lookups.append(len(keys))
        return lookup(self, conn, keys)  # type: ignore[arg-type]

    monkeypatch.setattr(BatchWriter, "_lookup_posts", counted)
    first = store.write_batch([post("1"), post("2", reply_to="1")], [[match()], []])
    sqlite = store.engine.dialect.name == "sqlite"
    assert lookups == ([] if sqlite else [2])  # SQLite bets that new posts are new
    # One stored post among new ones: the bet is lost, rolled back, and the round written
    # with lookups, exactly as if there had been no bet.
    mixed = store.write_batch(
        [post("3", reply_to="1"), post("1", "hello again", edited_at=T0), post("4")],
        [[match("r2")], [], []],
    )
    assert lookups[-1] == 3
    assert (mixed.inserted, mixed.edited, mixed.unchanged, mixed.matches) == (2, 1, 0, 1)
    assert mixed.post_ids[1] == first.post_ids[0]
    assert None not in mixed.post_ids
    assert len(set(mixed.post_ids) | set(first.post_ids)) == 4
    counts = store.counts()
    assert (counts["posts"], counts["matches"]) == (4, 2)
    assert store.post("mastodon", "1").version == 2  # type: ignore[union-attr]
    stored = store.post("mastodon", "3")
    assert stored is not None
    assert stored.conversation_root == "1"
    assert {h.post.post.native_id for h in store.search("hello").hits} == {"1", "2", "3", "4"}
    # A lost bet: the next round is written without one (a source re-delivering what it sent
    # would otherwise pay twice), the one after bets again.
    store.write_batch([post("5")])
    store.write_batch([post("6")])
    assert lookups[-2:] == ([3, 1] if sqlite else [1, 1])
    assert store.counts()["posts"] == 6


def test_same_post_twice_in_one_batch(store: Store) -> None:
    result = store.write_batch(
        [post("1", "a"), post("1", "b", edited_at=T0 + timedelta(seconds=1)), post("1", "b")]
    )
    assert (result.inserted, result.edited, result.unchanged) == (1, 1, 1)
    stored = store.post("mastodon", "1")
    assert stored is not None
    assert (stored.post.text, stored.version) == ("b", 2)
    assert [v.text for v in store.history(stored.id)] == ["a"]


def test_deletion_is_recorded_and_sticky(store: Store, clock: FakeClock) -> None:
    store.write_batch([post("1", "to be deleted")])
    clock.advance(10)
    result = store.write_batch([post("1", "", deleted=True)])
    assert result.deleted == 1
    stored = store.post("mastodon", "1")
    assert stored is not None
    assert stored.post.deleted
    assert stored.deleted_at == clock.now
    assert stored.post.text == "to be deleted"  # text kept (retention decides later)
    store.write_batch([post("1", "to be deleted")])  # an old copy does not resurrect it
    assert store.post("mastodon", "1").post.deleted  # type: ignore[union-attr]
    # A tombstone for a post never seen is stored as such.
    store.write_batch([post("2", "", deleted=True)])
    assert store.post("mastodon", "2").post.deleted  # type: ignore[union-attr]


def test_cursor_commits_with_the_batch(store: Store) -> None:
    assert store.cursor("replay") is None
    store.write_batch([post("1")], cursors={"replay": "10"})
    store.write_batch([post("2")], cursors={"replay": "20", "other": "x"})
    assert store.cursor("replay") == "20"
    assert store.cursors() == {"replay": "20", "other": "x"}


def test_failed_batch_leaves_nothing(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    store.write_batch([post("1")], cursors={"replay": "1"})

    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(store._writer, "_save_cursors", boom)
    with pytest.raises(RuntimeError):
        store.write_batch([post("2")], [[match()]], {"replay": "2"})
    assert store.post("mastodon", "2") is None
    assert store.cursor("replay") == "1"
    assert store.counts()["matches"] == 0


def test_backfilled_matches(store: Store) -> None:
    result = store.write_batch([post("1")])
    [post_id] = result.post_ids
    assert post_id is not None
    assert store.record_matches([(post_id, [match("late")])]) == 1
    assert store.record_matches([(post_id, [match("late")])]) == 0
    stored = store.post_by_id(post_id)
    assert stored is not None
    [found] = stored.matches
    assert found.match.backfilled
    assert found.match.rule == "late"
    assert found.match.terms == {"hello": ((0, 5),)}
    [conversation] = store.conversations()
    assert conversation.rules == {"late"}


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("text", "a\x00b", "NUL"),
        ("text", "bad \ud800 surrogate", "lone surrogate"),
        ("text", "x" * 100_001, "limit 100000"),
        ("native_id", "", "native_id is empty"),
        ("reply_to", "r" * 513, "reply_to is 513 characters"),
        ("hashtags", tuple(f"t{i}" for i in range(1001)), "hashtags has 1001 entries"),
    ],
)
def test_refused_post_is_quarantined_and_neighbours_stored(
    store: Store, field: str, value: object, error: str
) -> None:
    fields: dict[str, object] = {"platform": "mastodon", "native_id": "bad", field: value}
    bad = Post(**fields)  # type: ignore[arg-type]
    result = store.write_batch(
        [post("1"), bad, post("2")], source="replay", cursors={"replay": "3"}
    )
    assert (result.inserted, result.quarantined) == (2, 1)
    assert result.post_ids[1] is None
    [q] = store.quarantined()
    assert q.stage == "store"
    assert q.source == "replay"
    assert error in q.error
    assert store.cursor("replay") == "3"


def test_quarantine_keeps_payload_and_bounds_it(store: Store, clock: FakeClock) -> None:
    records = [
        Quarantined(
            source="s",
            stage="normalise",
            error="bad json at byte 3",
            payload=b"{\x00\xff",
            at=clock.now,
        ),
        Quarantined(
            source="s", stage="source", error="too long", payload=b"x" * 1_000_001, at=clock.now
        ),
    ]
    assert store.quarantine(records) == 2
    newest, oldest = store.quarantined()
    assert oldest.payload == b"{\x00\xff"
    assert oldest.at == clock.now
    assert len(newest.payload) == 1_000_000
    assert "cut from 1000001" in newest.error


def test_keep_matched_drops_unrelated_posts(db_url: str, clock: FakeClock) -> None:
    with Store.open(db_url, clock=clock, keep="matched") as store:
        result = store.write_batch([post("1"), post("2")], [[], [match()]])
        assert (result.inserted, result.dropped) == (1, 1)
        assert result.post_ids[0] is None
        assert store.post("mastodon", "1") is None


def test_iter_posts_by_time(store: Store) -> None:
    batch = [post(str(i), created_at=T0 + timedelta(minutes=i)) for i in range(25)]
    batch.append(post("untimed", created_at=None))
    store.write_batch(batch)
    pages = list(store.iter_posts(since=T0 + timedelta(minutes=5), batch_size=7))
    got = [p.post.native_id for page in pages for p in page]
    assert got == [str(i) for i in range(5, 25)]
    assert [len(page) for page in pages] == [7, 7, 6]
    window = store.iter_posts(since=T0, until=T0 + timedelta(minutes=2))
    assert [p.post.native_id for page in window for p in page] == ["0", "1"]
    everything = [p.post.native_id for page in store.iter_posts(batch_size=4) for p in page]
    assert sorted(everything) == sorted(p.native_id for p in batch)


def test_mismatched_lengths_are_an_error(store: Store) -> None:
    with pytest.raises(ValueError, match="2 posts but 1 match lists"):
        store.write_batch([post("1"), post("2")], [[]])


def test_every_naughty_string_round_trips(store: Store, shared_data: Path) -> None:
    naughty = json.loads((shared_data / "bad-input/blns/blns.json").read_text(encoding="utf-8"))
    batch = [
        Post(
            platform="mastodon",
            native_id=f"blns-{i}",
            text=s,
            author=Author(id=f"a{i}", display_name=s[:512]),
            hashtags=(s[:100],),
            raw=json.dumps({"text": s}),
        )
        for i, s in enumerate(naughty)
    ]
    result = store.write_batch(batch, source="blns")
    assert result.inserted + result.quarantined == len(batch)
    for q in store.quarantined(limit=1000):
        assert "NUL" in q.error or "lone surrogate" in q.error
    for original, post_id in zip(batch, result.post_ids, strict=True):
        if post_id is None:
            continue
        stored = store.post_by_id(post_id)
        assert stored is not None
        assert stored.post == original
        assert store.post("mastodon", original.native_id) == stored


def test_folded_texts_given_as_any_sequence_are_indexed(store: Store) -> None:
    batch = [Post(platform="f", native_id=str(n), text=f"Café {n}") for n in range(3)]
    folded = tuple(f" cafe {n} " for n in range(3))  # a tuple, not the pipeline's list
    store.write_batch(batch, folded=folded)
    with store.engine.connect() as conn:
        stored = conn.execute(
            sa.select(posts.c.native_id, posts.c.search_text)
            .where(posts.c.platform == "f")
            .order_by(posts.c.native_id)
        ).all()
    assert [tuple(row) for row in stored] == [(str(n), f" cafe {n} ") for n in range(3)]


def _raw_copies(store: Store) -> dict[str, tuple[str, str]]:
    """Each stored post's raw copy and the type the database keeps it as."""
    kind = sa.func.typeof if store.engine.dialect.name == "sqlite" else sa.func.pg_typeof
    query = sa.select(posts.c.native_id, posts.c.raw, sa.cast(kind(posts.c.raw), sa.Text))
    with store.engine.connect() as conn:
        return {native: (raw, str(type_)) for native, raw, type_ in conn.execute(query)}


def test_payloads_are_kept_as_the_raw_copies(store: Store) -> None:
    payload = '{"id": "1", "text": "café ☕ politie"}'.encode()
    result = store.write_batch(
        [post("1"), post("2", raw="its own")], payloads=[payload, None], checked=True
    )
    assert result.inserted == 2
    copies = _raw_copies(store)
    assert copies["1"][0] == payload.decode()
    assert copies["2"][0] == "its own"
    assert {type_ for _, type_ in copies.values()} == {"text"}  # not a blob


def test_unchecked_payloads_are_decoded_and_checked(store: Store) -> None:
    result = store.write_batch(
        [post("1"), post("2"), post("3", raw="kept")],
        payloads=[b"not utf-8 \xff", b"a NUL \x00", None],
        source="replay",
    )
    assert (result.inserted, result.quarantined) == (2, 1)
    assert {k: raw for k, (raw, _) in _raw_copies(store).items()} == {
        "1": "not utf-8 \ufffd",
        "3": "kept",
    }
    [refused] = store.quarantined()
    assert "raw" in refused.error
    assert "NUL" in refused.error


def test_an_edit_keeps_its_payload_as_the_new_raw_copy(store: Store) -> None:
    store.write_batch([post("1", "first")], payloads=[b'{"v": 1}'], checked=True)
    edited = post("1", "second", edited_at=T0 + timedelta(minutes=5))
    assert store.write_batch([edited], payloads=[b'{"v": "\xc3\xa9"}'], checked=True).edited == 1
    assert _raw_copies(store)["1"][0] == '{"v": "é"}'


def test_payloads_must_match_the_posts(store: Store) -> None:
    with pytest.raises(ValueError, match="1 posts but 2 payloads"):
        store.write_batch([post("1")], payloads=[b"{}", b"{}"])
