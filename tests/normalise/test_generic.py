import re
from datetime import UTC, datetime

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from veille.model import Author, Post, RawItem
from veille.normalise.generic import map_generic
from veille.normalise.registry import MappingError

AT = datetime(2026, 1, 1, tzinfo=UTC)


def raw(payload: bytes | dict[str, object]) -> RawItem:
    data = payload if isinstance(payload, bytes) else msgspec.json.encode(payload)
    return RawItem(source="t", platform="generic", payload=data, received_at=AT)


def test_full_post_is_mapped_field_by_field() -> None:
    payload = {
        "id": "42",
        "text": "Merci à la #police de Liège",
        "lang": "FR",
        "author": {"id": 7, "handle": "anne", "name": "Anne", "followers": 120},
        "created_at": "2026-03-01T12:00:00+01:00",
        "url": "https://example.org/42",
        "reply_to": 41,
        "root_id": "40",
        "quote_of": "9",
        "hashtags": ["#police"],
        "mentions": [],
        "links": ["https://example.org"],
        "edited_at": 1772370000,
        "deleted": False,
        "platform": "forum",
        "unknown": {"ignored": True},
    }
    post = map_generic(raw(payload))
    assert post.key == ("forum", "42")
    assert post.author == Author(id="7", handle="anne", display_name="Anne", followers=120)
    assert post.lang_hint == "fr"
    assert post.lang == ""
    assert post.created_at == datetime(2026, 3, 1, 11, tzinfo=UTC)
    assert post.edited_at == datetime.fromtimestamp(1772370000, UTC)
    assert (post.reply_to, post.root_id, post.quote_of, post.repost_of) == ("41", "40", "9", None)
    assert post.hashtags == ("police",)
    assert post.mentions == ()
    assert post.links == ("https://example.org",)
    assert post.received_at == AT
    assert post.raw == ""  # the pipeline keeps the payload itself as the raw copy


def test_entities_come_from_the_text_when_not_listed() -> None:
    post = map_generic(
        raw(
            {
                "id": 1,
                "text": "Zie @politie_be en @anne@mastodon.social #Brussel #Brussel "
                "(https://politie.be/nieuws). mail a#b",
                "author": "piet",
            }
        )
    )
    assert post.hashtags == ("Brussel",)
    assert post.mentions == ("politie_be", "anne@mastodon.social")
    assert post.links == ("https://politie.be/nieuws",)
    assert post.author == Author(handle="piet")


def test_veille_post_json_replays_as_is() -> None:
    original = Post(platform="mastodon", native_id="1", text="x", created_at=AT)
    again = map_generic(raw(msgspec.json.encode(original)))
    assert again.key == original.key
    assert again.created_at == AT


def test_naive_time_is_utc_and_milliseconds_are_understood() -> None:
    assert map_generic(raw({"id": 1, "created_at": "2026-01-01T10:00:00"})).created_at == datetime(
        2026, 1, 1, 10, tzinfo=UTC
    )
    millis = map_generic(raw({"id": 1, "created_at": 1767225600000}))
    assert millis.created_at == datetime(2026, 1, 1, tzinfo=UTC)


def test_the_text_backslash_u0000_is_not_a_nul() -> None:
    post = map_generic(raw({"id": "1", "text": "\\u0000 and \u0000"}))
    assert post.text == "\\u0000 and \ufffd"


def test_nul_is_replaced_visibly() -> None:
    post = map_generic(raw({"id": "a\u0000", "text": "x\u0000y"}))
    assert post.text == "x\ufffdy"
    assert post.native_id == "a\ufffd"


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b'{"text": "no id"}', "`id` is required"),
        (b'{"id": ""}', "`id` is required"),
        (b'{"id": 1, "created_at": "yesterday"}', r"created_at"),
        (b'{"id": 1, "created_at": 1e300}', "is not a time"),
        (b'{"id": 1, "author": {"followers": -1}}', "followers"),
        (b'{"id": 1, "author": {"followers": 18446744073709551615}}', "2\\^63"),
        (b'{"id": 1, "hashtags": "police"}', r"hashtags"),
        (b'{"id": [1]}', r"\$\.id"),
        (b"[1, 2]", "Expected `object`"),
        (b'{"id": 1,', "not valid JSON"),
        (b"[" * 100_000, "Expected `object`"),
        (b'{"x": ' + b"[" * 100_000, "not valid JSON"),
        (b'{"id": "\\ud800"}', "not valid JSON"),
        (('{"id": "' + "x" * 600 + '"}').encode(), "longer than 512"),
    ],
)
def test_bad_payloads_get_a_clear_error(payload: bytes, message: str) -> None:
    with pytest.raises(MappingError, match=message):
        map_generic(raw(payload))


@given(st.text(), st.text(max_size=20))
def test_any_text_maps_or_fails_cleanly(text: str, native_id: str) -> None:
    try:
        payload = msgspec.json.encode({"id": native_id, "text": text})
    except msgspec.EncodeError:
        return  # lone surrogates cannot even be encoded as UTF-8 JSON
    try:
        post = map_generic(raw(payload))
    except MappingError:
        assert native_id == "" or len(native_id) > 512
        return
    assert post.text == text.replace("\x00", "\ufffd")


# The look-behind patterns the mapper's faster scan must agree with.
_TAG_REFERENCE = re.compile(r"(?<![\w#])#(\w[\w-]*)")
_MENTION_REFERENCE = re.compile(r"(?<![\w@])@(\w[\w.-]*(?:@[\w-]+(?:\.[\w-]+)+)?)")


@given(st.text(alphabet="ab1_-.é\u0301 #@", max_size=30))
def test_entities_scan_agrees_with_the_look_behind_patterns(text: str) -> None:
    post = map_generic(raw({"id": "1", "text": text}))
    assert post.hashtags == tuple(dict.fromkeys(_TAG_REFERENCE.findall(text)))
    assert post.mentions == tuple(dict.fromkeys(_MENTION_REFERENCE.findall(text)))
