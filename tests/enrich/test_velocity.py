from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from veille.config import UrgencySettings
from veille.enrich import Urgent
from veille.enrich.detect import ENRICHERS
from veille.enrich.velocity import ConversationVelocity
from veille.model import Enrichment, Finding, Post, RawItem
from veille.testing import FakeClock
from veille.wiring import ProcessorSpec

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def post(native: str, seconds: float = 0, **fields: object) -> Post:
    return Post(
        platform="mastodon",
        native_id=native,
        created_at=T0 + timedelta(seconds=seconds),
        **fields,  # type: ignore[arg-type]
    )


@pytest.fixture
def velocity() -> ConversationVelocity:
    return ConversationVelocity(timedelta(minutes=5), clock=FakeClock(T0 + timedelta(hours=1)))


def test_posts_per_minute_over_the_window_ending_at_the_post(
    velocity: ConversationVelocity,
) -> None:
    assert velocity(post("root")) == 0.2  # itself, over 5 minutes
    for i in range(9):
        velocity(post(f"r{i}", 6 * i, reply_to="root"))
    assert velocity(post("late", 60, reply_to="root")) == 11 / 5


def test_replies_to_replies_count_in_the_root_conversation(
    velocity: ConversationVelocity,
) -> None:
    velocity(post("root"))
    velocity(post("a", 1, reply_to="root"))
    velocity(post("b", 2, reply_to="a"))
    assert velocity.root(post("c", reply_to="b")) == "root"
    assert velocity(post("c", 3, reply_to="b")) == 4 / 5
    # A platform that names the root directly needs no chain.
    assert velocity(post("d", 4, reply_to="unknown", root_id="root")) == 5 / 5


def test_posts_older_than_the_window_no_longer_count(velocity: ConversationVelocity) -> None:
    for i in range(20):
        velocity(post(f"p{i}", i, root_id="root"))
    assert velocity(post("now", 301, root_id="root")) == (20 - 2 + 1) / 5
    assert velocity(post("much-later", 3600, root_id="root")) == 0.2


def test_other_conversations_and_platforms_are_counted_apart(
    velocity: ConversationVelocity,
) -> None:
    for i in range(10):
        velocity(post(f"p{i}", i, root_id="one"))
    assert velocity(post("x", 11, root_id="two")) == 0.2
    other = Post(platform="bluesky", native_id="y", root_id="one", created_at=T0)
    assert velocity(other) == 0.2


def test_a_post_seen_again_or_deleted_does_not_count_again(
    velocity: ConversationVelocity,
) -> None:
    velocity(post("root"))
    velocity(post("a", 1, reply_to="root"))
    assert velocity(post("a", 2, reply_to="root")) == 2 / 5  # an edit, redelivered
    assert velocity(post("gone", 3, reply_to="root", deleted=True)) == 2 / 5


def test_a_post_dated_in_the_future_counts_at_the_clock() -> None:
    clock = FakeClock(T0)
    velocity = ConversationVelocity(timedelta(minutes=1), clock=clock)
    velocity(post("root", 0))
    # Dated a day ahead (a bad clock or a hostile source): counted now, with the root.
    assert velocity(post("future", 86_400, reply_to="root")) == 2.0


def test_memory_is_bounded(velocity: ConversationVelocity) -> None:
    small = ConversationVelocity(
        timedelta(minutes=5),
        max_conversations=10,
        max_posts=25,
        max_per_conversation=5,
        clock=FakeClock(T0 + timedelta(hours=1)),
    )
    for i in range(100):
        small(post(f"p{i}", i))
    assert len(small) == 10
    assert len(small._roots) == 25
    for i in range(50):
        rate = small(post(f"flood{i}", 0.1 * i, root_id="hot"))
    assert rate == 5 / 5  # the oldest times were dropped: it saturates, it does not grow


@given(
    st.lists(
        st.tuples(st.integers(0, 30), st.integers(0, 5), st.floats(0, 3600)),
        max_size=60,
    )
)
def test_velocity_is_never_negative_and_never_above_what_was_seen(
    events: list[tuple[int, int, float]],
) -> None:
    velocity = ConversationVelocity(timedelta(minutes=5), clock=FakeClock(T0 + timedelta(days=1)))
    for native, root, seconds in events:
        rate = velocity(post(str(native), seconds, root_id=f"c{root}"))
        assert 0 <= rate <= len(events) / 5


def test_velocity_amplifies_urgency_through_the_urgent_step(
    velocity: ConversationVelocity,
) -> None:
    urgent = Urgent(UrgencySettings(), velocity_of=velocity)
    phone = Finding(kind="phone", detector="test", score=1.0)
    for i in range(39):
        urgent(post(f"p{i}", i, root_id="hot"), None, [], Enrichment())
    hot = urgent(post("phone", 40, root_id="hot"), None, [], Enrichment(findings=(phone,)))
    assert "conversation at 8 posts/min" in hot.urgency.reasons
    calm = urgent(post("alone", 40), None, [], Enrichment(findings=(phone,)))
    assert not any("posts/min" in reason for reason in calm.urgency.reasons)
    assert hot.urgency.score > calm.urgency.score


def test_the_run_command_wiring_supplies_the_velocity(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "r.toml").write_text(
        '[[rule]]\nid = "stations"\nseverity = "low"\nquery = "commissariat"\n', "utf-8"
    )
    processor = ProcessorSpec(
        rules=(("stations", "commissariat", False),), versions={}, enrichers=ENRICHERS
    )()
    now = datetime.now(UTC)
    items = [
        RawItem(
            source="t",
            platform="generic",
            payload=msgspec.json.encode(
                {
                    "id": str(i),
                    "text": "le commissariat",
                    "created_at": (now - timedelta(seconds=60 - i)).isoformat(),
                    **({"reply_to": "0"} if i else {}),
                }
            ),
            received_at=now,
        )
        for i in range(30)
    ]
    last = processor(items).enrichments[-1]
    assert "conversation at 6 posts/min" in last.urgency.reasons
