"""Issue 10, acceptance 4: rotating the card-credential key and the signing key keeps
every stored credential usable.

Cards are linked on the sandbox network's hosted page (mounted in the real server),
charged, the keys rotated through the `facepay` command, and the same stored
payment methods charged again: the network accepts a cryptogram only when the
decrypted credential is the one it issued.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from facepay.cli import main
from facepay.errors import KeyFileError
from facepay.keys.rotation import rotate_credential_key
from facepay.keys.secrets import PAYMENT_CREDENTIALS, PURPOSES
from facepay.keys.signing import fingerprint
from facepay.keys.store import load_keys
from facepay.payment_services import MERCHANT_ID, PaymentServices, build_payment_services
from facepay.settings import Settings
from payments.errors import CredentialKeyError
from payments.methods import StoredPaymentMethod
from payments.money import Money

CARDS = ("4242424242424242", "5555555555554444")


@pytest.fixture
def server(live_services: Any, live_server: Any) -> Settings:
    """The real server (sandbox network mounted) is running; its settings."""
    settings: Settings = live_services.settings
    return settings


def services_for(settings: Settings) -> PaymentServices:
    """Payment services as a freshly started server builds them: keys read from disk."""
    return build_payment_services(settings, load_keys(settings.keys_dir))


@pytest.fixture
def services(server: Settings) -> Iterator[PaymentServices]:
    built = services_for(server)
    yield built
    built.close()


def link(services: PaymentServices, settings: Settings, pan: str) -> str:
    processor = services.processors["sandbox"]
    customer = f"cust-{uuid.uuid4().hex[:8]}"
    started = processor.begin_link(
        customer_ref=customer,
        return_url=f"{settings.effective_public_url}/linked",
        idempotency_key=uuid.uuid4().hex,
    )
    assert started.redirect_url is not None
    typed = httpx.post(
        started.redirect_url,
        data={"pan": pan, "exp_month": "12", "exp_year": "2031", "cvc": "123"},
        timeout=30,
    )
    assert typed.status_code == 303, typed.text
    method = processor.complete_link(setup_ref=started.setup_ref, idempotency_key="complete")
    return services.methods.save(customer, method)


def charge(services: PaymentServices, pm_id: str, amount: int) -> None:
    key = uuid.uuid4().hex
    hold = services.authorizations.hold(
        payment_method_id=pm_id,
        amount=Money(amount, "KRW"),
        merchant_ref=MERCHANT_ID,
        idempotency_key=f"hold-{key}",
    )
    assert hold.approved, hold.message
    captured = services.authorizations.capture(
        authorization_id=hold.authorization.id,
        amount=Money(amount, "KRW"),
        idempotency_key=f"capture-{key}",
    )
    assert captured.approved and captured.authorization.captured == amount


def key_versions(services: PaymentServices) -> dict[str, int | None]:
    with Session(services.engine) as session:
        rows = session.scalars(select(StoredPaymentMethod)).all()
        return {row.id: row.credential_key_version for row in rows}


def facepay(settings: Settings, monkeypatch: pytest.MonkeyPatch, *argv: str) -> int:
    monkeypatch.setenv("FACEPAY_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("FACEPAY_DATABASE_URL", settings.database_url or "")
    return main(list(argv))


def test_rotating_both_keys_keeps_every_stored_credential_usable(
    server: Settings,
    services: PaymentServices,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    methods = [link(services, server, pan) for pan in CARDS]
    for pm_id in methods:
        charge(services, pm_id, 3000)
    assert set(key_versions(services).values()) == {1}
    signing_before = fingerprint(load_keys(server.keys_dir).signing_key)

    assert facepay(server, monkeypatch, "keys", "rotate-credentials") == 0
    assert "version 2 is active (was 1); re-encrypted 2 stored credentials" in (
        capsys.readouterr().out
    )
    assert facepay(server, monkeypatch, "keys", "rotate-signing") == 0
    assert "provisioned again" in capsys.readouterr().out

    restarted = services_for(server)
    try:
        assert fingerprint(load_keys(server.keys_dir).signing_key) != signing_before
        assert set(key_versions(restarted).values()) == {2}
        for pm_id in methods:
            charge(restarted, pm_id, 4500)
        # a card linked after the rotation is stored under the new version
        late = link(restarted, server, "4000000000003410")
        assert key_versions(restarted)[late] == 2
        # and the server that was running during the rotation charges them all too:
        # its secret store re-reads the file when it changes
        for pm_id in [*methods, late]:
            charge(services, pm_id, 1000)
    finally:
        restarted.close()


def test_credential_rotation_is_one_transaction(
    server: Settings, services: PaymentServices
) -> None:
    good, broken = (link(services, server, pan) for pan in CARDS)
    with services.engine.begin() as connection:  # a credential no key version opens
        connection.execute(
            text("UPDATE payments_payment_methods SET credential = :junk WHERE id = :id"),
            {"junk": b"\x00" * 60, "id": broken},
        )
    secrets = load_keys(server.keys_dir).secrets
    with pytest.raises(CredentialKeyError, match=broken):
        rotate_credential_key(secrets, services.engine)
    assert set(key_versions(services).values()) == {1}, "nothing re-encrypted"
    # the version the failed rotation added stays (unused), the old one still decrypts
    assert secrets.current(PAYMENT_CREDENTIALS)[0] == 2
    charge(services_for(server), good, 2000)


def test_a_stored_credential_needs_its_key_version(
    server: Settings, services: PaymentServices
) -> None:
    pm_id = link(services, server, CARDS[0])
    with services.engine.begin() as connection:
        connection.execute(
            text("UPDATE payments_payment_methods SET credential_key_version = 9 WHERE id = :id"),
            {"id": pm_id},
        )
    with pytest.raises(CredentialKeyError, match="key version 9 is not available"):
        services.methods.get(pm_id)


def test_rotations_leave_the_other_secrets_alone(server: Settings) -> None:
    keys = load_keys(server.keys_dir)
    before = {p: keys.secrets.current(p) for p in PURPOSES if p != PAYMENT_CREDENTIALS}
    services = services_for(server)
    try:
        rotate_credential_key(keys.secrets, services.engine)
    finally:
        services.close()
    after = load_keys(server.keys_dir).secrets
    assert {p: after.current(p) for p in before} == before
    with pytest.raises(KeyFileError):
        after.get(PAYMENT_CREDENTIALS, 3)
