"""Settings: ``veille.toml`` plus ``VEILLE_*`` environment variables, typed in one place.

Each subsystem owns one section model here; environment variables override the file with
``__`` between levels, e.g. ``VEILLE_STORE__URL=postgresql+psycopg://…``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

DEFAULT_CONFIG_FILE = "veille.toml"


class Section(BaseModel):
    """Base of every configuration section: unknown keys are an error, not silently ignored."""

    model_config = ConfigDict(extra="forbid")


class StoreSettings(Section):
    url: str = "sqlite:///veille.db"
    """SQLAlchemy URL: ``sqlite:///path`` (default) or ``postgresql+psycopg://user@host/db``."""
    keep: Literal["all", "matched"] = "all"
    """``all`` stores every post; ``matched`` only posts that matched a rule and the posts of
    conversations followed after a match (the rest is counted and dropped)."""
    synchronous: Literal["off", "normal", "full", "extra"] = "normal"
    """SQLite only: ``normal`` keeps every committed batch through a killed process; ``full``
    also through a power cut, at the cost of one fsync per batch."""


class ConversationsSettings(Section):
    follow_window_hours: float = Field(default=72.0, gt=0, le=24 * 365)
    """How long after its last match a flagged conversation's new posts are still followed."""


class RulesSettings(Section):
    paths: list[str] = Field(default_factory=lambda: ["rules"])
    """Rule files, or folders whose ``*.toml`` files are all loaded."""


class PipelineSettings(Section):
    """How posts flow: batch sizes, queue bounds, worker processes (docs/running.md)."""

    batch_size: int = Field(default=1000, ge=1, le=100_000)
    """Items per batch read from a replay file or stdin."""
    queue_batches: int = Field(default=4, ge=1, le=1_000)
    """Batches each queue between two stages holds before the earlier stage waits."""
    workers: int = Field(default=1, ge=0, le=64)
    """Processes running normalise → match → enrich; 0 runs them in the main process."""
    store_batch_posts: int = Field(default=5000, ge=1, le=1_000_000)
    """Most posts written in one transaction (queued batches are combined up to this)."""
    max_line_bytes: int = Field(default=1 << 20, ge=1_024, le=1 << 30)
    """Longest JSON line accepted from a replay; longer ones are quarantined."""


class IngestSettings(Section):
    """The HTTP ingest endpoint ``POST /ingest`` (docs/running.md)."""

    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = Field(default=8787, ge=1, le=65_535)
    token: str = ""
    """Bearer token clients must send, 16 characters at least. Prefer the environment:
    ``VEILLE_INGEST__TOKEN``."""
    platform: str = "generic"
    """Mapping applied to posted payloads."""
    max_body_bytes: int = Field(default=8 << 20, ge=1_024, le=1 << 30)
    max_items: int = Field(default=10_000, ge=1, le=1_000_000)
    queue_requests: int = Field(default=8, ge=1, le=10_000)
    """Requests waiting for the pipeline before clients get 429."""
    ack_seconds: float = Field(default=10.0, ge=0, le=300)
    """How long a request waits for its posts to be stored before answering 202."""


class Settings(BaseSettings):
    """The whole configuration of one veille installation."""

    model_config = SettingsConfigDict(
        env_prefix="VEILLE_", env_nested_delimiter="__", extra="forbid"
    )

    store: StoreSettings = Field(default_factory=StoreSettings)
    conversations: ConversationsSettings = Field(default_factory=ConversationsSettings)
    rules: RulesSettings = Field(default_factory=RulesSettings)
    pipeline: PipelineSettings = Field(default_factory=PipelineSettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        path = os.environ.get("VEILLE_CONFIG", DEFAULT_CONFIG_FILE)
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls, Path(path)))


def load_settings(path: str | Path | None = None, **overrides: Any) -> Settings:
    """Read settings from ``path`` (or ``$VEILLE_CONFIG``, or ``./veille.toml`` when it exists)."""
    if path is None:
        return Settings(**overrides)
    previous = os.environ.get("VEILLE_CONFIG")
    os.environ["VEILLE_CONFIG"] = str(path)
    try:
        return Settings(**overrides)
    finally:
        if previous is None:
            del os.environ["VEILLE_CONFIG"]
        else:
            os.environ["VEILLE_CONFIG"] = previous
