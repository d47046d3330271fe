"""Settings: ``veille.toml`` plus ``VEILLE_*`` environment variables, typed in one place.

Each subsystem owns one section model here; environment variables override the file with
``__`` between levels, e.g. ``VEILLE_STORE__URL=postgresql+psycopg://…``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

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


class RulesSettings(Section):
    paths: list[str] = Field(default_factory=lambda: ["rules"])
    """Rule files, or folders whose ``*.toml`` files are all loaded."""


class Settings(BaseSettings):
    """The whole configuration of one veille installation."""

    model_config = SettingsConfigDict(
        env_prefix="VEILLE_", env_nested_delimiter="__", extra="forbid"
    )

    store: StoreSettings = Field(default_factory=StoreSettings)
    rules: RulesSettings = Field(default_factory=RulesSettings)

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
