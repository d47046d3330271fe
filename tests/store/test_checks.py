"""What the store accepts: the compiled text check answers exactly like the pure-Python one."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from veille.model import Author, Post
from veille.store import checks
from veille.store.checks import (
    MAX_ID,
    MAX_URL,
    check_post,
    storable_payload_python,
    storable_python,
)

TRICKY = ["", "a", "é", "\x00", "a\x00b", "\ud800", "x\udfffy", "😂", "\U0010ffff", "ǅ"]


def test_compiled_check_is_in_use() -> None:
    # pip install -e . builds it; without it every test below would compare a function to itself.
    assert checks.COMPILED


@settings(max_examples=500)
@given(st.lists(st.one_of(st.none(), st.text(alphabet=st.characters(codec=None))), max_size=6))
def test_compiled_and_python_checks_agree(values: list[str | None]) -> None:
    assert checks.storable(*values) == storable_python(*values)


@pytest.mark.parametrize("value", TRICKY)
def test_each_tricky_string(value: str) -> None:
    expected = "\x00" not in value and not any(0xD800 <= ord(c) <= 0xDFFF for c in value)
    assert checks.storable("ok", value, None) is expected
    assert storable_python("ok", value, None) is expected


# Bytes around the edges of well-formed UTF-8 (Unicode table 3-7): overlong forms, surrogates,
# past U+10FFFF, truncated and stray continuation bytes, NUL.
EDGES = [b"\x00", b"\x7f", b"\x80", b"\xbf", b"\xc0", b"\xc1", b"\xc2", b"\xdf", b"\xe0",
         b"\xe0\x9f", b"\xe0\xa0", b"\xed\x9f", b"\xed\xa0", b"\xef", b"\xf0\x8f",
         b"\xf0\x90", b"\xf4\x8f", b"\xf4\x90", b"\xf5", b"\xff", b"abcdefgh"]  # fmt: skip
PAYLOADS = st.one_of(
    st.binary(max_size=40),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=40).map(str.encode),
    st.lists(st.sampled_from(EDGES), max_size=8).map(b"".join),
)


@settings(max_examples=1000)
@given(PAYLOADS, st.integers(0, 50))
def test_compiled_and_python_payload_checks_agree(payload: bytes, limit: int) -> None:
    expected = storable_payload_python(payload, limit)
    assert checks.storable_payload(payload, limit) is expected
    if expected:  # what the store then writes as text is exactly the decoded payload
        assert payload.decode("utf-8") == checks.raw_of(payload)


@pytest.mark.parametrize(
    ("payload", "storable"),
    [
        ("politie café 😂".encode(), True),
        (b"a\x00b", False),
        (b"\xc0\x80", False),  # an overlong NUL
        (b"\xed\xa0\x80", False),  # a surrogate
        (b"\xf4\x90\x80\x80", False),  # past U+10FFFF
        (b"caf\xc3", False),  # truncated
        (b"x" * 31, False),  # over the limit of 30
    ],
)
def test_each_tricky_payload(payload: bytes, storable: bool) -> None:
    assert checks.storable_payload(payload, 30) is storable
    assert storable_payload_python(payload, 30) is storable


def test_the_compiled_check_refuses_what_is_not_text() -> None:
    with pytest.raises(TypeError, match="str or None"):
        checks.storable("a", b"bytes")


def test_check_post_names_the_field_at_fault() -> None:
    assert check_post(Post(platform="p", native_id="1", text="fine 😂")) is None
    assert "NUL" in (check_post(Post(platform="p", native_id="1", raw="a\x00")) or "")
    assert "surrogate" in (check_post(Post(platform="p", native_id="1", text="\udc80")) or "")
    bad_author = Post(platform="p", native_id="1", author=Author(handle="h\x00"))
    assert (check_post(bad_author) or "").startswith("author.handle")
    assert "hashtags entry" in (
        check_post(Post(platform="p", native_id="1", hashtags=("\ud800",))) or ""
    )
    long_link = Post(platform="p", native_id="1", links=("x" * (MAX_URL + 1),))
    assert "links entry" in (check_post(long_link) or "")
    assert "native_id" in (check_post(Post(platform="p", native_id="x" * (MAX_ID + 1))) or "")
