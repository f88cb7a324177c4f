"""`facepay doctor` probes each configured processor with one real, authenticated,
read-only request: the Stripe double, the sandbox network and its partner API over
real HTTP; a closed port and refused credentials fail the check."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from stripe_double import StripeDouble, running_double

from card_network.app import create_sandbox_app
from card_network.config import SandboxConfig, TokenRequestor
from card_network.network import SandboxNetwork
from card_network.partner_api import PartnerApiConfig
from facepay.health import Check
from facepay.processor_health import check_processors
from facepay.processor_settings import (
    PartnerSettings,
    ProcessorSettings,
    SandboxSettings,
    StripeSettings,
)
from facepay.settings import Settings
from facepay_demo.server import BackgroundServer, free_port
from payments.partner_protocol import API_PREFIX, Keyring, PartnerKey

# The stripe SDK's httpx client posts form bodies with `data=`, which httpx deprecates.
pytestmark = pytest.mark.filterwarnings("ignore:Use .content=:DeprecationWarning")

NETWORK_KEY = "doctor-network-key-0123456789"
PARTNER_KEY = PartnerKey(key_id="doctor-1", secret=b"doctor-partner-secret-32-bytes!!")


@pytest.fixture(scope="module")
def double() -> Iterator[StripeDouble]:
    with running_double() as running:
        yield running


@pytest.fixture(scope="module")
def network_url() -> Iterator[str]:
    """The sandbox network with its partner API, on its own port."""
    config = SandboxConfig(requestors=(TokenRequestor("facepay", api_key=NETWORK_KEY),))
    partner = PartnerApiConfig(Keyring([PARTNER_KEY], PARTNER_KEY.key_id), "facepay")
    server = BackgroundServer(
        create_sandbox_app(config, SandboxNetwork(config), partner=partner), free_port()
    )
    server.start()
    yield server.url
    server.stop()


def _partner(url: str, key: PartnerKey = PARTNER_KEY) -> PartnerSettings:
    return PartnerSettings(
        base_url=url + API_PREFIX, key_id=key.key_id, secret=base64.b64encode(key.secret).decode()
    )


def _checks(processors: ProcessorSettings, default: str = "sandbox") -> dict[str, Check]:
    settings = Settings(processors=processors, default_processor=default)
    # As the doctor does: a configured API key first, else the server's own.
    found = check_processors(settings, lambda: settings.sandbox_api_key or NETWORK_KEY, timeout=2.0)
    return {check.name: check for check in found}


def test_reachable_processors_with_accepted_credentials(
    double: StripeDouble, network_url: str
) -> None:
    checks = _checks(
        ProcessorSettings(
            sandbox=SandboxSettings(network_url=network_url),
            stripe=StripeSettings(secret_key=double.api_key, api_base=double.url),
            partner=_partner(network_url),
        ),
        default="stripe",
    )
    assert sorted(checks) == ["processor:partner", "processor:sandbox", "processor:stripe"]
    assert all(check.ok for check in checks.values()), checks
    assert checks["processor:stripe"].facts["default"] is True
    assert checks["processor:sandbox"].facts["default"] is False
    # The probe is a real request the double saw, and it changed nothing.
    assert any(path.startswith("/v1/payment_intents") for _, path, _ in double.requests)
    assert double.state.intents == {}


def test_refused_credentials_fail_the_check(double: StripeDouble, network_url: str) -> None:
    stranger = PartnerKey(key_id="stranger", secret=b"s" * 32)
    checks = _checks(
        ProcessorSettings(
            sandbox=SandboxSettings(network_url=network_url, api_key="wrong"),
            stripe=StripeSettings(secret_key="sk_test_wrong", api_base=double.url),
            partner=_partner(network_url, stranger),
        )
    )
    assert not any(check.ok for check in checks.values()), checks
    assert "credentials" in checks["processor:stripe"].detail


def test_wrong_sandbox_key_fails(network_url: str) -> None:
    settings = Settings(
        processors=ProcessorSettings(sandbox=SandboxSettings(network_url=network_url))
    )
    [check] = check_processors(settings, lambda: "not-the-key", timeout=2.0)
    assert not check.ok and "401" in check.detail


def test_unreachable_processors_fail_quickly() -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    checks = _checks(
        ProcessorSettings(
            sandbox=SandboxSettings(network_url=closed),
            stripe=StripeSettings(secret_key="sk_test_x", api_base=closed),
            partner=_partner(closed),
        )
    )
    assert {name: check.ok for name, check in checks.items()} == {
        "processor:sandbox": False,
        "processor:stripe": False,
        "processor:partner": False,
    }
    assert all("not reachable" in check.detail for check in checks.values())


def test_in_process_sandbox_is_reported_not_probed() -> None:
    def no_key() -> str:
        raise AssertionError("the in-process network needs no probe and no key")

    settings = Settings(port=8765)
    [check] = check_processors(settings, no_key)
    assert check.ok and "in-process" in check.detail
    assert check.facts["url"] == "http://127.0.0.1:8765/sandbox-network"


def test_doctor_command_lists_processors(tmp_path: Path, double: StripeDouble) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("FACEPAY_")}
    env = {
        **clean,
        "FACEPAY_DATA_DIR": str(tmp_path / "var"),
        "FACEPAY_PROCESSORS": "sandbox,stripe",
        "FACEPAY_STRIPE_SECRET_KEY": double.api_key,
        "FACEPAY_STRIPE_API_BASE": double.url,
    }
    result = subprocess.run(
        [sys.executable, "-m", "facepay", "doctor", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    report = json.loads(result.stdout)
    assert report["checks"]["processor:sandbox"]["ok"] is True
    assert report["checks"]["processor:stripe"]["ok"] is True, report["checks"]
    assert double.api_key not in result.stdout
