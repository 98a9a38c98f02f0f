"""Settings, read once from the environment, ``inprod.toml`` and defaults — the only place that
reads environment variables.

Precedence, highest first: explicit arguments to :func:`load_settings`, environment variables,
``inprod.toml`` (``$INPROD_CONFIG`` or ``./inprod.toml``; keys at top level or under ``[inprod]``),
then the defaults below. Paths in ``inprod.toml`` are relative to the file's folder.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import InvalidInput

DEFAULT_HOME = ".inprod"
CONFIG_FILE_NAME = "inprod.toml"


@dataclass(frozen=True)
class SettingSpec:
    """One setting: its key in ``inprod.toml``, its environment variable and what it means."""

    key: str
    env: str
    help: str
    cast: Callable[[str], Any] = str
    is_path: bool = False
    zero_turns_off: bool = False  # numbers must be positive, or also 0 where 0 means "off"


SPECS: tuple[SettingSpec, ...] = (
    SettingSpec("home", "INPROD_HOME", "folder for the embedded store and artifacts", is_path=True),
    SettingSpec(
        "store_url",
        "INPROD_STORE_URL",
        "SQLAlchemy URL of the store (sqlite:///... or postgresql+psycopg://...)",
    ),
    SettingSpec("artifacts", "INPROD_ARTIFACTS", "artifact root: a local folder or any fsspec URL"),
    SettingSpec(
        "max_body_bytes",
        "INPROD_MAX_BODY_BYTES",
        "largest request body the server accepts, in bytes (larger: HTTP 413)",
        cast=int,
    ),
    SettingSpec(
        "log_buffer_capacity",
        "INPROD_LOG_BUFFER_CAPACITY",
        "prediction records a server buffers for writing; beyond it they are dropped and counted",
        cast=int,
    ),
    SettingSpec(
        "refresh_seconds",
        "INPROD_REFRESH_SECONDS",
        "how often a server re-reads endpoints and aliases from the store",
        cast=float,
    ),
    SettingSpec(
        "auth_refresh_seconds",
        "INPROD_AUTH_REFRESH_SECONDS",
        "how often a server with auth on re-reads tokens; a revoked token works at most this long",
        cast=float,
    ),
    SettingSpec(
        "rollout_tick_seconds",
        "INPROD_ROLLOUT_TICK_SECONDS",
        "how often the rollout controller judges canary gates (0 turns it off in this server)",
        cast=float,
        zero_turns_off=True,
    ),
    SettingSpec(
        "profile_seconds",
        "INPROD_PROFILE_SECONDS",
        "length of the window profiles a server builds from its prediction log (0 turns them off)",
        cast=int,
        zero_turns_off=True,
    ),
    SettingSpec(
        "monitor_tick_seconds",
        "INPROD_MONITOR_TICK_SECONDS",
        "how often the monitor evaluator checks monitors and runs alert actions (0 turns it off)",
        cast=float,
        zero_turns_off=True,
    ),
    SettingSpec(
        "retrain_tick_seconds",
        "INPROD_RETRAIN_TICK_SECONDS",
        "how often the retraining worker checks triggers and runs approved requests (0 turns it "
        "off)",
        cast=float,
        zero_turns_off=True,
    ),
    SettingSpec(
        "review_lease_seconds",
        "INPROD_REVIEW_LEASE_SECONDS",
        "how long a claimed review task stays with its reviewer before others may take it",
        cast=float,
    ),
)
DEFAULTS: dict[str, Any] = {
    "max_body_bytes": 10 * 1024 * 1024,
    "log_buffer_capacity": 100_000,
    "refresh_seconds": 5.0,
    "auth_refresh_seconds": 2.0,
    "rollout_tick_seconds": 2.0,
    "review_lease_seconds": 300.0,
    "profile_seconds": 60,
    "monitor_tick_seconds": 15.0,
    "retrain_tick_seconds": 30.0,
}
_SPEC_BY_KEY = {s.key: s for s in SPECS}


@dataclass(frozen=True)
class Settings:
    """Effective settings; ``sources`` says where each value came from."""

    home: Path
    store_url: str
    artifacts: str
    max_body_bytes: int = DEFAULTS["max_body_bytes"]
    log_buffer_capacity: int = DEFAULTS["log_buffer_capacity"]
    refresh_seconds: float = DEFAULTS["refresh_seconds"]
    auth_refresh_seconds: float = DEFAULTS["auth_refresh_seconds"]
    rollout_tick_seconds: float = DEFAULTS["rollout_tick_seconds"]
    review_lease_seconds: float = DEFAULTS["review_lease_seconds"]
    profile_seconds: int = DEFAULTS["profile_seconds"]
    monitor_tick_seconds: float = DEFAULTS["monitor_tick_seconds"]
    retrain_tick_seconds: float = DEFAULTS["retrain_tick_seconds"]
    sources: Mapping[str, str] = field(default_factory=dict)
    config_file: Path | None = None

    def as_rows(self) -> list[tuple[str, str, str, str]]:
        """(key, value, source, help) for display, with passwords in URLs masked."""
        rows = []
        for spec in SPECS:
            value = str(getattr(self, spec.key))
            rows.append(
                (spec.key, mask_url(value), self.sources.get(spec.key, "default"), spec.help)
            )
        return rows


def mask_url(url: str) -> str:
    """Hide the password in ``scheme://user:password@host`` so URLs can be printed."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    creds, at, host = rest.rpartition("@")
    if ":" in creds:
        user = creds.split(":", 1)[0]
        return f"{scheme}://{user}:***{at}{host}"
    return url


def _read_config_file(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except OSError as exc:
        raise InvalidInput(f"cannot read config file {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput(f"config file {path} is not valid TOML: {exc}") from exc
    section = data.get("inprod", data)
    if not isinstance(section, dict):
        raise InvalidInput(f"config file {path}: [inprod] must be a table")
    unknown = sorted(k for k in section if k not in _SPEC_BY_KEY)
    if unknown:
        raise InvalidInput(
            f"config file {path}: unknown key(s) {', '.join(unknown)}; "
            f"known keys: {', '.join(_SPEC_BY_KEY)}"
        )
    for key, value in section.items():
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise InvalidInput(
                f"config file {path}: '{key}' must be a string or number, got {value!r}"
            )
    return {k: str(v) for k, v in section.items()}


def load_settings(
    environ: Mapping[str, str] | None = None, cwd: Path | None = None, **overrides: str | None
) -> Settings:
    """Resolve the effective settings. ``overrides`` (e.g. ``store_url=``) win over everything."""
    env = os.environ if environ is None else environ
    cwd = Path.cwd() if cwd is None else cwd
    values: dict[str, str] = {}
    sources: dict[str, str] = {}

    config_path: Path | None = None
    if env.get("INPROD_CONFIG"):
        config_path = Path(env["INPROD_CONFIG"])
        if not config_path.is_absolute():
            config_path = cwd / config_path
        if not config_path.exists():
            raise InvalidInput(
                f"INPROD_CONFIG points to {config_path}, which does not exist; "
                "create it or unset INPROD_CONFIG"
            )
    elif (cwd / CONFIG_FILE_NAME).is_file():
        config_path = cwd / CONFIG_FILE_NAME
    if config_path is not None:
        for key, value in _read_config_file(config_path).items():
            if _SPEC_BY_KEY[key].is_path and not Path(value).is_absolute():
                value = str(config_path.parent / value)
            values[key] = value
            sources[key] = f"file {config_path}"

    for spec in SPECS:
        if env.get(spec.env):
            values[spec.key] = env[spec.env]
            sources[spec.key] = f"env {spec.env}"
    for key, value in overrides.items():
        if key not in _SPEC_BY_KEY:
            raise TypeError(f"unknown setting {key!r}")
        if value is not None:
            values[key] = value
            sources[key] = "argument"

    home = Path(values.get("home", DEFAULT_HOME))
    if not home.is_absolute():
        home = (cwd / home).resolve()
    sources.setdefault("home", "default")
    store_url = values.get("store_url") or f"sqlite:///{home / 'store.db'}"
    artifacts = values.get("artifacts") or str(home / "artifacts")
    if "://" not in artifacts and not Path(artifacts).is_absolute():
        artifacts = str((cwd / artifacts).resolve())
    typed: dict[str, Any] = {}
    for key, default in DEFAULTS.items():
        spec = _SPEC_BY_KEY[key]
        if key not in values:
            typed[key] = default
            continue
        try:
            typed[key] = spec.cast(values[key])
        except ValueError:
            raise InvalidInput(
                f"setting {key} ({sources[key]}) is {values[key]!r}, not a valid "
                f"{spec.cast.__name__}; e.g. {default!r}",
                field=key,
            ) from None
        if typed[key] < 0 or (typed[key] == 0 and not spec.zero_turns_off):
            least = "0 or more (0 turns it off)" if spec.zero_turns_off else "positive"
            raise InvalidInput(f"setting {key} ({sources[key]}) must be {least}", field=key)
    return Settings(
        home=home,
        store_url=store_url,
        artifacts=artifacts,
        **typed,
        sources=sources,
        config_file=config_path,
    )
