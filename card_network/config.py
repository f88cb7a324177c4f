"""Configuration of a sandbox network instance."""

from __future__ import annotations

from dataclasses import dataclass, field

from payments.network_protocol import UNATTENDED_CABINET_CHANNEL


@dataclass(frozen=True, slots=True)
class TokenRequestor:
    """A party allowed to request tokens and authorize with them (FacePay is one)."""

    requestor_id: str
    api_key: str = field(repr=False)
    channel: str = UNATTENDED_CABINET_CHANNEL
    notify_url: str | None = None  # where token lifecycle notifications are POSTed
    notify_secret: str = field(default="", repr=False)


@dataclass(frozen=True, slots=True)
class SandboxConfig:
    requestors: tuple[TokenRequestor, ...]
    admin_key: str = field(default="", repr=False)  # issuer/operator actions; empty = disabled
    public_url: str | None = None  # base URL for hosted pages; default: the request's
    default_credit_limit: int = 10_000_000
    cryptogram_validity_seconds: int = 120
    hold_validity_seconds: int = 7 * 24 * 3600
    timeout_delay_seconds: float = 30.0  # how late a "timeout" answer arrives
    notify_attempts: int = 3
    notify_backoff_seconds: float = 0.5

    def requestor(self, requestor_id: str) -> TokenRequestor | None:
        for requestor in self.requestors:
            if requestor.requestor_id == requestor_id:
                return requestor
        return None
