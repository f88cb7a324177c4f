"""cabinet.toml: one file describes a cabinet (see cabinet_runtime/examples/cabinet.toml).

Unknown keys are errors, so a typo never silently falls back to a default.
Relative paths are resolved against the file's directory. The [hardware]
table is handed as-is to ``cabinet_runtime.hardware.factory.build_hardware``.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from cabinet_runtime.picks.planogram import Planogram, PlanogramError
from cabinet_runtime.protocol import QR_TOKEN_PREFIX
from cabinet_runtime.session_model import Timeouts


class ConfigError(ValueError):
    """cabinet.toml is missing, unreadable or invalid; the message says where."""


class CabinetSection(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    state_dir: str = "var/cabinet"
    firmware: str = "0.1.0"
    gateway_url: str | None = None  # overrides the URL received at provisioning


class LinkSection(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 30.0
    resend_after_s: float = 10.0
    auth_timeout_s: float = 10.0


class SessionSection(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    identify_s: float = 20.0
    step_up_s: float = 30.0
    unlock_s: float = 15.0
    door_open_alarm_s: float = 60.0
    settle_s: float = 30.0
    cold_chain_limit_c: float = 5.0
    cold_chain_minutes: float = 30.0
    tick_s: float = 0.1


class TelemetrySection(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    interval_s: float = 60.0
    temperature_delta_c: float = 0.5


class IdentificationSection(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    enabled: bool = True
    faces: bool = True  # False: QR codes only, no face model loaded
    frames_required: int = 3
    model_pack_dir: str | None = None
    antispoof_model: str | None = None  # a passive anti-spoofing ONNX model (MiniFASNet)
    passive_alone_suffices: bool = False  # accept the passive model without depth or motion
    motion_liveness: bool = False  # the display prompts a head turn; judge its parallax
    qr_prefix: str = QR_TOKEN_PREFIX
    interval_s: float = 0.2
    cooldown_s: float = 3.0  # after a session, before anyone is identified again


class _File(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    cabinet: CabinetSection = msgspec.field(default_factory=CabinetSection)
    link: LinkSection = msgspec.field(default_factory=LinkSection)
    session: SessionSection = msgspec.field(default_factory=SessionSection)
    telemetry: TelemetrySection = msgspec.field(default_factory=TelemetrySection)
    identification: IdentificationSection = msgspec.field(default_factory=IdentificationSection)
    hardware: dict[str, Any] = msgspec.field(default_factory=dict)


@dataclass(frozen=True)
class CabinetConfig:
    path: Path
    base_dir: Path
    state_dir: Path
    cabinet: CabinetSection
    link: LinkSection
    session: SessionSection
    telemetry: TelemetrySection
    identification: IdentificationSection
    hardware: dict[str, Any]
    planogram: Planogram

    @property
    def timeouts(self) -> Timeouts:
        s = self.session
        return Timeouts(
            identify_s=s.identify_s,
            step_up_s=s.step_up_s,
            unlock_s=s.unlock_s,
            door_open_alarm_s=s.door_open_alarm_s,
            settle_s=s.settle_s,
            cold_chain_limit_c=s.cold_chain_limit_c,
            cold_chain_s=s.cold_chain_minutes * 60.0,
        )

    def resolve(self, value: str) -> Path:
        return _resolve(self.base_dir, value)


def _resolve(base: Path, value: str) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else base / path


def _planogram(hardware: dict[str, Any]) -> Planogram:
    """The planogram is the [hardware] table's products and shelf lanes."""
    data = {
        "currency": hardware.get("currency", "USD"),
        "products": hardware.get("products", []),
        "shelves": [
            {"id": shelf.get("id"), "lanes": shelf.get("lanes", [])}
            for shelf in hardware.get("shelves", [])
        ],
    }
    return msgspec.convert(data, Planogram)


def load_config(path: Path) -> CabinetConfig:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: no such file") from exc
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from exc
    base = path.parent.resolve()
    try:
        parsed = msgspec.convert(raw, _File)
        planogram = _planogram(parsed.hardware)
        if parsed.session.tick_s <= 0 or parsed.telemetry.interval_s <= 0:
            raise ValueError("tick_s and interval_s must be positive")
        if parsed.identification.frames_required < 1:
            raise ValueError("identification.frames_required must be at least 1")
        config = CabinetConfig(
            path=path,
            base_dir=base,
            state_dir=_resolve(base, parsed.cabinet.state_dir),
            cabinet=parsed.cabinet,
            link=parsed.link,
            session=parsed.session,
            telemetry=parsed.telemetry,
            identification=parsed.identification,
            hardware=parsed.hardware,
            planogram=planogram,
        )
        config.timeouts  # noqa: B018 (builds, hence validates, the timeouts)
    except (msgspec.ValidationError, PlanogramError, ValueError, TypeError) as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    return config
