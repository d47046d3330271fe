from datetime import UTC, datetime

import pytest

from veille.model import Post, RawItem
from veille.normalise import registry
from veille.normalise.registry import UnknownPlatform, normalise, platforms, register


def item(platform: str, payload: bytes = b"{}") -> RawItem:
    return RawItem(
        source="t", platform=platform, payload=payload, received_at=datetime(2026, 1, 1, tzinfo=UTC)
    )


def test_generic_is_built_in_and_loaded_lazily() -> None:
    assert "generic" in platforms()
    posts = normalise(item("generic", b'{"id": 1, "text": "hallo"}'))
    assert [p.native_id for p in posts] == ["1"]


def test_unknown_platform_names_the_known_ones() -> None:
    with pytest.raises(UnknownPlatform, match=r"'nope'.*generic"):
        normalise(item("nope"))


def test_registered_mapper_may_return_several_or_no_posts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "_loaded", dict(registry._loaded))

    def many(raw: RawItem) -> list[Post]:
        return [Post(platform="multi", native_id=str(i)) for i in range(int(raw.payload))]

    register("multi", many)
    assert [p.native_id for p in normalise(item("multi", b"3"))] == ["0", "1", "2"]
    assert normalise(item("multi", b"0")) == []
    assert "multi" in platforms()
