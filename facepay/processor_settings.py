"""Which payment processors are enabled, with their settings (part of ``Settings``).

In the config file, a table per enabled processor::

    default_processor = "stripe"
    [processors.sandbox]            # no keys: the network mounted in-process
    [processors.stripe]
    secret_key = "sk_live_..."
    webhook_secret = "whsec_..."
    [processors.partner]
    base_url = "https://partner.example/partner/v1"
    key_id = "facepay-2026-10"
    secret = "<base64 of at least 32 bytes>"

In the environment, ``FACEPAY_PROCESSORS=sandbox,stripe`` names the enabled ones
and each field is ``FACEPAY_<PROCESSOR>_<FIELD>`` (``FACEPAY_STRIPE_SECRET_KEY``,
``FACEPAY_PARTNER_BASE_URL``...), so the variables that existed before this table
(``FACEPAY_SANDBOX_NETWORK_URL``, ``FACEPAY_SANDBOX_API_KEY``,
``FACEPAY_STRIPE_WEBHOOK_SECRET``) keep their names. ``FACEPAY_PROCESSORS`` may
also be the whole table as JSON. Environment beats file, field by field.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import msgspec

from facepay.errors import ConfigurationError

PROCESSORS_ENV = "FACEPAY_PROCESSORS"
PARTNER_MIN_SECRET_BYTES = 32


class SandboxSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    # None: the network mounted in-process by `facepay serve`; else a separately running
    # one (python -m card_network) and FacePay's API key there.
    network_url: str | None = None
    api_key: str | None = None


class StripeSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    secret_key: str
    webhook_secret: str | None = None  # whsec_...; /v1/webhooks/stripe is off without it
    api_base: str | None = None  # None: Stripe itself; tests point it at a local double


class PartnerSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    base_url: str  # the partner API root, e.g. https://partner.example/partner/v1
    key_id: str
    secret: str  # base64 (standard or URL-safe) of at least 32 bytes

    @property
    def secret_bytes(self) -> bytes:
        return _decode_secret(self.secret)


class ProcessorSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    sandbox: SandboxSettings | None = msgspec.field(default_factory=SandboxSettings)
    stripe: StripeSettings | None = None
    partner: PartnerSettings | None = None

    @property
    def enabled(self) -> tuple[str, ...]:
        return tuple(name for name in PROCESSOR_TYPES if getattr(self, name) is not None)


PROCESSOR_TYPES: Mapping[str, type[msgspec.Struct]] = MappingProxyType(
    {"sandbox": SandboxSettings, "stripe": StripeSettings, "partner": PartnerSettings}
)
# Secrets that `facepay doctor` masks.
SECRET_FIELDS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "sandbox": ("api_key",),
        "stripe": ("secret_key", "webhook_secret"),
        "partner": ("secret",),
    }
)


def env_name(processor: str, field: str) -> str:
    return f"FACEPAY_{processor.upper()}_{field.upper()}"


def file_name(processor: str, field: str) -> str:
    return f"processors.{processor}.{field}"


def load_processor_settings(
    env: Mapping[str, str], file_table: Any, legacy_file_values: Mapping[str, Any]
) -> ProcessorSettings:
    """Merge the file's ``[processors.*]`` tables with the environment; check each field.
    ``legacy_file_values`` are the file's old top-level keys (``sandbox_api_key``...)."""
    table = _file_table(file_table)
    for key, value in legacy_file_values.items():
        processor, field = key.split("_", 1)
        table.setdefault(processor, {}).setdefault(field, value)
    from_env: set[tuple[str, str]] = set()
    names = _enabled_names(env, table)
    if env.get(PROCESSORS_ENV, "").lstrip().startswith("{"):
        table = _json_table(env[PROCESSORS_ENV])
        from_env = {(p, f) for p, fields in table.items() for f in fields}
    for processor, type_ in PROCESSOR_TYPES.items():
        for field in type_.__struct_fields__:
            variable = env_name(processor, field)
            if variable not in env:
                continue
            if processor not in names:
                raise ConfigurationError(
                    variable,
                    f"processor '{processor}' is not enabled; add it to {PROCESSORS_ENV} "
                    "(or a [processors." + processor + "] table in the config file)",
                )
            table.setdefault(processor, {})[field] = env[variable]
            from_env.add((processor, field))
    chosen = {name: table.get(name, {}) for name in names}
    values: dict[str, Any] = {name: None for name in PROCESSOR_TYPES}
    for name, fields in chosen.items():
        # A missing field is named the way the operator enabled the processor.
        env_named = PROCESSORS_ENV in env or name not in table
        values[name] = _convert_one(name, fields, from_env, env_named=env_named)
    settings = ProcessorSettings(**values)
    _check(settings, from_env)
    return settings


def _file_table(raw: Any) -> dict[str, dict[str, Any]]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigurationError("processors", "must be a table of [processors.NAME] tables")
    table: dict[str, dict[str, Any]] = {}
    for name, fields in raw.items():
        _known(name, "processors")
        if not isinstance(fields, dict):
            raise ConfigurationError(f"processors.{name}", "must be a table")
        table[name] = dict(fields)
    return table


def _json_table(raw: str) -> dict[str, dict[str, Any]]:
    try:
        parsed = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ConfigurationError(PROCESSORS_ENV, f"not valid JSON: {exc.msg}") from exc
    if not isinstance(parsed, dict):
        raise ConfigurationError(PROCESSORS_ENV, "the JSON form must be an object")
    table: dict[str, dict[str, Any]] = {}
    for name, fields in parsed.items():
        _known(name, PROCESSORS_ENV)
        if fields is None:
            fields = {}
        if not isinstance(fields, dict):
            raise ConfigurationError(PROCESSORS_ENV, f"'{name}' must map to an object")
        table[name] = dict(fields)
    return table


def _enabled_names(env: Mapping[str, str], table: Mapping[str, Any]) -> tuple[str, ...]:
    raw = env.get(PROCESSORS_ENV)
    if raw is None:
        return tuple(table) if table else ("sandbox",)
    if raw.lstrip().startswith("{"):
        return tuple(_json_table(raw))
    names = tuple(dict.fromkeys(n.strip() for n in raw.split(",") if n.strip()))
    if not names:
        raise ConfigurationError(PROCESSORS_ENV, "names no processor (e.g. sandbox,stripe)")
    for name in names:
        _known(name, PROCESSORS_ENV)
    return names


def _known(name: str, setting: str) -> None:
    if name not in PROCESSOR_TYPES:
        known = ", ".join(PROCESSOR_TYPES)
        raise ConfigurationError(setting, f"unknown processor '{name}' (known: {known})")


def _convert_one(
    name: str, fields: Mapping[str, Any], from_env: set[tuple[str, str]], *, env_named: bool
) -> Any:
    type_ = PROCESSOR_TYPES[name]
    for field in fields:
        if field not in type_.__struct_fields__:
            allowed = ", ".join(type_.__struct_fields__)
            # Flat variables only set known fields: an unknown one from the environment
            # came in the JSON form.
            setting = PROCESSORS_ENV if (name, field) in from_env else file_name(name, field)
            raise ConfigurationError(
                setting, f"unknown field '{field}' of processor '{name}' (fields: {allowed})"
            )
    for field in type_.__struct_fields__:
        required = field not in _defaults(type_)
        if required and not fields.get(field):
            setting = _name_of(name, field, from_env, prefer_env=env_named)
            raise ConfigurationError(setting, f"required when processor '{name}' is enabled")
    try:
        return msgspec.convert(dict(fields), type_, strict=False)
    except msgspec.ValidationError as exc:
        path = str(exc).rsplit("$.", 1)[-1].rstrip("`") if "$." in str(exc) else ""
        field = path.split(".")[0] if path else next(iter(fields), "")
        message = str(exc).split(" - at `", 1)[0].replace("`", "'")
        raise ConfigurationError(_name_of(name, field, from_env), message) from exc


def _defaults(type_: type[msgspec.Struct]) -> set[str]:
    fields = type_.__struct_fields__
    return set(fields[len(fields) - len(type_.__struct_defaults__) :])


def _name_of(
    processor: str, field: str, from_env: set[tuple[str, str]], *, prefer_env: bool = False
) -> str:
    if (processor, field) in from_env or prefer_env:
        return env_name(processor, field)
    return file_name(processor, field)


def _check(settings: ProcessorSettings, from_env: set[tuple[str, str]]) -> None:
    urls = []
    if settings.sandbox is not None and settings.sandbox.network_url is not None:
        urls.append(("sandbox", "network_url", settings.sandbox.network_url))
    if settings.stripe is not None and settings.stripe.api_base is not None:
        urls.append(("stripe", "api_base", settings.stripe.api_base))
    if settings.partner is not None:
        urls.append(("partner", "base_url", settings.partner.base_url))
    for processor, field, url in urls:
        if not url.startswith(("http://", "https://")):
            setting = _name_of(processor, field, from_env)
            raise ConfigurationError(setting, f"'{url}' is not an http(s) URL")
    if settings.partner is not None:
        key_id = settings.partner.key_id
        if not key_id.isprintable() or " " in key_id:
            raise ConfigurationError(
                _name_of("partner", "key_id", from_env), "must be a printable token without spaces"
            )
        try:
            settings.partner.secret_bytes  # noqa: B018 - decoding is the check
        except ValueError as exc:
            raise ConfigurationError(_name_of("partner", "secret", from_env), str(exc)) from exc


def _decode_secret(text: str) -> bytes:
    padded = text.strip() + "=" * (-len(text.strip()) % 4)
    try:
        secret = base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("not base64") from exc
    if len(secret) < PARTNER_MIN_SECRET_BYTES:
        raise ValueError(f"must be at least {PARTNER_MIN_SECRET_BYTES} bytes (base64-encoded)")
    return secret
