"""`facepay doctor`'s view of the processors: which are enabled and whether each answers.

Each configured processor gets one cheap, real, authenticated request with a short
timeout: asking for the outcome of an operation key that was never used
(``query_operation``), which every processor answers with "nothing under that key"
and which changes nothing. A refused credential or no answer fails the check. The
sandbox network mounted in-process lives inside ``facepay serve``, so there is no
server to ask from the command line: it is reported, not probed.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

from facepay.health import Check
from facepay.payment_services import (
    MERCHANT_ID,
    TOKEN_REQUESTOR_ID,
    external_processors,
    sandbox_url,
)
from facepay.settings import Settings
from payments.errors import PaymentsError
from payments.processor import OperationKind, Processor
from payments.processors.sandbox import SandboxProcessor

PROBE_TIMEOUT_SECONDS = 3.0


def check_processors(
    settings: Settings,
    sandbox_api_key: Callable[[], str],
    *,
    timeout: float = PROBE_TIMEOUT_SECONDS,
) -> list[Check]:
    """One check per enabled processor; ``sandbox_api_key`` is asked only when a
    separately running sandbox network is probed."""
    checks: list[Check] = []

    def facts(name: str) -> dict[str, object]:
        return {"default": name == settings.default_processor}

    if settings.processors.sandbox is not None:
        checks.append(_check_sandbox(settings, sandbox_api_key, timeout, facts("sandbox")))
    external = external_processors(settings, timeout_seconds=timeout)
    try:
        for name, processor in external.items():
            checks.append(_probe(f"processor:{name}", processor, facts(name)))
    finally:
        for processor in external.values():
            close = getattr(processor, "close", None)
            if close is not None:
                close()
    return checks


def _check_sandbox(
    settings: Settings, api_key: Callable[[], str], timeout: float, facts: dict[str, object]
) -> Check:
    name = "processor:sandbox"
    url = sandbox_url(settings)
    facts = {**facts, "url": url}
    if settings.sandbox_network_url is None:
        return Check(name, True, f"mounted in-process by `facepay serve` at {url}", facts)
    try:
        key = api_key()
    except Exception as exc:  # a missing key file is reported, not raised
        return Check(name, False, f"no API key for the network: {exc}", facts)
    processor = SandboxProcessor(
        base_url=url,
        requestor_id=TOKEN_REQUESTOR_ID,
        api_key=key,
        merchant_id=MERCHANT_ID,
        timeout=timeout,
    )
    try:
        return _probe(name, processor, facts)
    finally:
        processor.close()


def _probe(name: str, processor: Processor, facts: dict[str, object]) -> Check:
    probe_key = f"facepay-doctor-probe-{secrets.token_hex(8)}"
    try:
        found = processor.query_operation(kind=OperationKind.AUTHORIZE, idempotency_key=probe_key)
    except PaymentsError as exc:
        return Check(name, False, f"not reachable: {_first_line(exc)}", facts)
    if found is not None:
        return Check(name, False, "answered an operation that was never made", facts)
    return Check(name, True, "reachable; credentials accepted", facts)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
