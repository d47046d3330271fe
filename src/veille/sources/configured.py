"""The live sources a configuration enables, and what stands in their way (missing credentials)."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import msgspec

from veille.config import Polite, SourcesSettings
from veille.sources.base import Source
from veille.sources.bluesky import BlueskySource
from veille.sources.health import REGISTRY, HealthRegistry
from veille.sources.live import RecentKeys
from veille.sources.mastodon import MastodonSource
from veille.sources.reddit import RedditSource
from veille.sources.rss import RssSource
from veille.sources.x import StreamRule, XSource


class Configured(msgspec.Struct, frozen=True):
    """One configured live source as the operator sees it."""

    name: str
    platform: str
    enabled: bool
    problem: str = ""
    """Why it cannot run as configured (empty when it can)."""
    silent_after: float = 900.0
    """Seconds without an event before it counts as silent (its own, or the default)."""


def configured(settings: SourcesSettings) -> list[Configured]:
    """Every live source named in the settings, enabled or not, with what is missing."""
    default = settings.silent_after

    def entry(name: str, part: Polite, enabled: bool, problem: str = "") -> Configured:
        return Configured(
            name, name.partition(":")[0], enabled, problem, part.silent_after or default
        )

    out = [entry("bluesky", settings.bluesky, settings.bluesky.enabled)]
    for instance in settings.mastodon:
        host = instance.url.split("://", 1)[-1].strip("/").lower()
        problem = ""
        if instance.token_env and not os.environ.get(instance.token_env):
            problem = f"{instance.token_env} is not set (streaming may be refused: polling)"
        out.append(entry(f"mastodon:{host}", instance, instance.enabled, problem))
    reddit = settings.reddit
    missing = [v for v in (reddit.client_id_env, reddit.client_secret_env) if not os.environ.get(v)]
    problem = f"set {' and '.join(missing)}" if missing else ""
    out.append(entry("reddit", reddit, reddit.enabled, problem))
    rss = settings.rss
    out.append(entry("rss", rss, rss.enabled, "" if rss.feeds else "no feeds configured"))
    x = settings.x
    missing_token = "" if os.environ.get(x.bearer_token_env) else f"set {x.bearer_token_env}"
    out.append(entry("x", x, x.enabled, missing_token))
    return out


def live_sources(
    settings: SourcesSettings,
    registry: HealthRegistry = REGISTRY,
    x_rules: Callable[[], Sequence[StreamRule]] | None = None,
) -> list[Source]:
    """The enabled live sources, ready for the pipeline (disabled ones are marked in health).

    ``x_rules`` gives the X stream rules the watch rules translate to (see
    :mod:`veille.sources.x_rules`); without it the X stream's rules are left as they are.
    """
    sources: list[Source] = []
    if settings.bluesky.enabled:
        sources.append(BlueskySource(settings.bluesky, registry=registry))
    federated = RecentKeys(100_000)  # one status federated to several instances: one post
    for instance in settings.mastodon:
        if instance.enabled:
            sources.append(MastodonSource(instance, registry=registry, shared=federated))
    if settings.reddit.enabled:
        sources.append(RedditSource(settings.reddit, registry=registry))
    if settings.rss.enabled and settings.rss.feeds:
        sources.append(RssSource(settings.rss, registry=registry))
    if settings.x.enabled:
        sources.append(XSource(settings.x, rules=x_rules, registry=registry))
    return sources
