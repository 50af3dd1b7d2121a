"""One typed settings object: defaults → ``mloop.toml`` → ``MLOOP_*`` environment → arguments."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from mloop.errors import ConfigError

ExecutorName = Literal["inline", "process", "dask"]


class Settings(BaseSettings):
    """Where mloop keeps its state and how it runs steps.

    Every path defaults to a place under ``home`` (``./.mloop`` in the current project), so a
    fresh checkout needs no configuration at all.
    """

    model_config = SettingsConfigDict(
        env_prefix="MLOOP_", extra="forbid", validate_default=True, frozen=True
    )

    home: Path = Field(default=Path(".mloop"), description="State directory of this project.")
    metadata_url: str | None = Field(
        default=None, description="SQLAlchemy URL of the metadata store; SQLite under home."
    )
    artifact_root: str | None = Field(
        default=None, description="fsspec URL of the artifact store; a directory under home."
    )
    log_root: str | None = Field(default=None, description="Directory of per-step logs.")
    serving_log_root: str | None = Field(
        default=None,
        description="fsspec URL of the serving request logs (Parquet); a directory under home.",
    )
    storage_options: dict[str, Any] = Field(
        default_factory=dict, description="fsspec options for artifact_root (e.g. S3 endpoint)."
    )
    executor: ExecutorName = "process"
    max_workers: int | None = Field(default=None, ge=1, description="Default: cores.")
    heartbeat_interval: float = Field(default=2.0, gt=0)
    heartbeat_timeout: float = Field(
        default=30.0, gt=0, description="A run whose orchestrator is silent this long is dead."
    )

    @field_validator("home")
    @classmethod
    def _absolute_home(cls, value: Path) -> Path:
        return value.expanduser().absolute()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_file = os.environ.get("MLOOP_CONFIG", "mloop.toml")
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls, toml_file))

    # Derived locations ---------------------------------------------------------------
    @property
    def resolved_metadata_url(self) -> str:
        return self.metadata_url or f"sqlite:///{self.home / 'mloop.db'}"

    @property
    def resolved_artifact_root(self) -> str:
        return self.artifact_root or str(self.home / "artifacts")

    @property
    def resolved_log_root(self) -> Path:
        return Path(self.log_root) if self.log_root else self.home / "logs"

    @property
    def resolved_serving_log_root(self) -> str:
        return self.serving_log_root or str(self.home / "serving-logs")

    @property
    def resolved_max_workers(self) -> int:
        return self.max_workers or os.cpu_count() or 1


def load_settings(**overrides: Any) -> Settings:
    """Read settings, turning any invalid or unknown key into one :class:`ConfigError`."""
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'settings'}: {err['msg']}"
            for err in exc.errors()
        )
        source = os.environ.get("MLOOP_CONFIG", "mloop.toml")
        raise ConfigError(f"invalid mloop settings ({problems})", source=source) from None
    except (OSError, ValueError) as exc:
        source = os.environ.get("MLOOP_CONFIG", "mloop.toml")
        raise ConfigError(f"cannot read mloop settings from {source}: {exc}") from None
