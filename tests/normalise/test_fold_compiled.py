"""The compiled fold helper gives exactly the pure-Python fold's output."""

from __future__ import annotations

import sys
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from veille.normalise import fold as fold_module
from veille.normalise.fold import fold_python

if not fold_module.COMPILED:  # pragma: no cover - the helper is built by pip install -e .
    pytest.skip("the compiled fold helper is not built here", allow_module_level=True)

fold_compiled = fold_module.fold_compiled
TRICKY = "#@.-_ \u200b\u0301ßİ½ﬁ𝐚ａ\u202e\u3164a1"


def same(text: str) -> None:
    assert fold_compiled(text) == fold_python(text), repr(text)


def test_fold_is_the_compiled_helper() -> None:
    assert fold_module.fold is fold_module._foldc.fold


def test_every_code_point_in_every_position() -> None:
    # Alone, inside a word, after # and @, inside a mention, before a hashtag: one string.
    for cp in range(0x110000):
        if cp > 0xFFFF and (cp % 13 or unicodedata.category(chr(cp)) == "Cn"):
            continue  # beyond the BMP a sample of assigned code points is plenty
        c = chr(cp)
        same(f"{c} a{c}b #{c}x @x{c}y.z{c} {c}#t{c}")


def test_lone_surrogates() -> None:
    same("a\ud800b \udfff")


@settings(max_examples=500)
@given(st.text(alphabet=st.characters(codec=None), max_size=80))
def test_random_text(text: str) -> None:
    same(text)


@settings(max_examples=500)
@given(st.text(alphabet=st.sampled_from(TRICKY), max_size=40))
def test_tricky_text(text: str) -> None:
    same(text)


def test_type_errors_are_clean() -> None:
    from veille.normalise import _foldc  # type: ignore[attr-defined]

    with pytest.raises(TypeError):
        _foldc.fold(b"bytes")
    assert sys.getrefcount(fold_compiled("x").scan) >= 1


def test_folded_built_in_c_works_like_one_built_in_python() -> None:
    compiled, python = (
        fold_compiled("Le #Brabant à 20h, @jan.peeters"),
        fold_python("Le #Brabant à 20h, @jan.peeters"),
    )
    assert type(compiled) is type(python)
    assert (compiled.tokens, compiled.spans, compiled.hashtags) == (
        python.tokens,
        python.spans,
        python.hashtags,
    )
    assert [compiled.token_at(at) for at in (1, 4)] == [python.token_at(at) for at in (1, 4)]
    assert fold_compiled("plain").hashtags is fold_compiled("other").hashtags  # shared, empty
    with pytest.raises(AttributeError):
        compiled.unknown = 1  # type: ignore[attr-defined]
