"""Which mapping turns a platform's payload into Posts: one registry, looked up per RawItem.

A mapper is a pure function ``RawItem -> Post | Sequence[Post]`` (a sequence when one payload
holds several posts, empty when it holds none, e.g. a "like" event). It raises
:class:`MappingError` (or any ``ValueError``) with a message naming what is wrong and where; the
pipeline then quarantines that one payload and goes on. A mapper leaves ``Post.raw`` empty: the
payload itself is stored as each of its posts' raw copy.

Built-in mappers are listed in ``MAPPERS`` as ``"module:function"`` and imported on first use,
so a platform's mapping module costs nothing until its first payload. Add a platform by adding
one line there (or by calling :func:`register` from a plug-in).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence

from veille.model import Post, RawItem

Mapper = Callable[[RawItem], Post | Sequence[Post]]

MAPPERS: dict[str, str] = {
    "generic": "veille.normalise.generic:map_generic",
    "bluesky": "veille.normalise.bluesky:to_post",
    "mastodon": "veille.normalise.mastodon:to_post",
    "reddit": "veille.normalise.reddit:to_post",
    "rss": "veille.normalise.rss:to_post",
    "x": "veille.normalise.x:to_post",
}
"""Built-in platforms and where their mapper lives; keep sorted after ``generic``."""

_loaded: dict[str, Mapper] = {}


class MappingError(ValueError):
    """A payload that cannot be turned into a Post; the message says what and where."""


class UnknownPlatform(MappingError):
    """No mapper is registered for a RawItem's platform."""


def register(platform: str, mapper: Mapper) -> None:
    """Use ``mapper`` for ``platform`` from now on (replacing a built-in one)."""
    _loaded[platform] = mapper


def platforms() -> list[str]:
    """Every platform a mapper is known for."""
    return sorted(set(MAPPERS) | set(_loaded))


def mapper_for(platform: str) -> Mapper:
    """The mapper of ``platform``, importing a built-in one on first use."""
    mapper = _loaded.get(platform)
    if mapper is not None:
        return mapper
    target = MAPPERS.get(platform)
    if target is None:
        known = ", ".join(platforms())
        raise UnknownPlatform(f"no mapping for platform {platform!r} (known: {known})")
    module_name, _, attribute = target.partition(":")
    loaded: Mapper = getattr(importlib.import_module(module_name), attribute)
    _loaded[platform] = loaded
    return loaded


def normalise(item: RawItem) -> list[Post]:
    """Map one raw payload to the Posts it holds (raises ``ValueError`` when it cannot)."""
    result = mapper_for(item.platform)(item)
    if isinstance(result, Post):
        return [result]
    return list(result)
