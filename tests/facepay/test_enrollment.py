"""Enrolling a face from real photos; bad images store nothing; withdrawal and deletion shred."""

from __future__ import annotations

import asyncio
import base64
import json
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
from sqlalchemy import LargeBinary, func, inspect, select, text
from sqlalchemy.orm import Session, sessionmaker
from test_customers_support import (
    ENROLL_VARIANTS,
    crop,
    face_engine,
    face_photos,
    grant_biometric_consent,
    jpeg,
    probe_embedding,
    verified_customer,
)

from biometrics.attacks.presentation import printed_photo
from biometrics.templates import open_template
from facepay.compliance.models import AuditEntry
from facepay.customers.data_keys import open_data_key
from facepay.customers.enrollment import (
    DATA_KEY_VERSION,
    FaceEnrollment,
    PassiveLivenessCheck,
    passive_liveness,
)
from facepay.customers.errors import (
    EnrollmentRejectedError,
    PhoneNotVerifiedError,
)
from facepay.customers.models import Customer, FaceTemplate
from facepay.customers.services import CustomerServices
from facepay.db.models import all_metadata
from facepay.errors import ConflictError, ValidationError
from facepay.keys.store import ServerKeys
from facepay.settings import Settings


def _ready(customer_services: CustomerServices, phone: str) -> str:
    customer_id = verified_customer(customer_services, phone)
    grant_biometric_consent(customer_services, customer_id)
    return customer_id


def _template_count(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return int(session.scalar(select(func.count()).select_from(FaceTemplate)) or 0)


async def test_enroll_from_real_photos(
    customer_services: CustomerServices, sessions: sessionmaker[Session], server_keys: ServerKeys
) -> None:
    engine = face_engine()
    customer_id = _ready(customer_services, "+821033330001")
    receipt = await customer_services.enrollment.enroll(customer_id, face_photos(7))
    assert receipt.images_used == (0, 1, 2) and receipt.image_reasons == {}
    assert receipt.model_pack_id == engine.pack_id
    with sessions() as session:
        template = session.get(FaceTemplate, receipt.template_id)
        customer = session.get(Customer, customer_id)
        assert template is not None and customer is not None
        assert template.model_pack_id == engine.pack_id
        assert template.key_version == DATA_KEY_VERSION
        data_key = open_data_key(server_keys.kek, customer)
    vector = open_template(template.sealed, data_key, customer_id, engine.pack_id, DATA_KEY_VERSION)
    # The stored template is this person: another capture of the face scores high,
    # another person low.
    assert float(vector @ probe_embedding(7)) > 0.6
    assert float(vector @ probe_embedding(8)) < 0.3


async def test_raw_images_are_never_stored(
    customer_services: CustomerServices, sessions: sessionmaker[Session]
) -> None:
    customer_id = _ready(customer_services, "+821033330002")
    photos = face_photos(9)
    await customer_services.enrollment.enroll(customer_id, photos)
    markers = [p[:64] for p in photos]
    with sessions.kw["bind"].connect() as conn:
        for metadata in all_metadata():
            for table in metadata.sorted_tables:
                if table.name not in inspect(conn).get_table_names():
                    continue
                binary = [c.name for c in table.columns if isinstance(c.type, LargeBinary)]
                for column in binary:
                    for (value,) in conn.execute(text(f'SELECT "{column}" FROM "{table.name}"')):
                        if value is not None:
                            assert not bytes(value).startswith(b"\xff\xd8")
                            assert all(m not in bytes(value) for m in markers)


async def test_bad_images_list_reasons_and_store_nothing(
    customer_services: CustomerServices, sessions: sessionmaker[Session]
) -> None:
    customer_id = _ready(customer_services, "+821033330003")
    grey = jpeg(np.full((400, 400, 3), 128, np.uint8))
    images = [face_photos(10)[0], b"", b"GIF89a not an image", grey]
    with pytest.raises(EnrollmentRejectedError) as info:
        await customer_services.enrollment.enroll(customer_id, images)
    reasons = info.value.image_reasons
    assert 0 not in reasons
    assert reasons[1] == ["image_empty"]
    assert reasons[2] == ["image_not_an_image"]
    assert reasons[3] == ["no_face"]
    assert "1 of 4 images are usable" in str(info.value)
    assert _template_count(sessions) == 0
    with sessions() as session:
        customer = session.get(Customer, customer_id)
        assert customer is not None and customer.wrapped_data_key is None
        assert (
            session.scalar(select(AuditEntry).where(AuditEntry.action == "face.enrolled")) is None
        )


async def test_two_people_in_one_enrollment_are_refused(
    customer_services: CustomerServices, sessions: sessionmaker[Session]
) -> None:
    customer_id = _ready(customer_services, "+821033330004")
    images = [*face_photos(11)[:2], face_photos(12)[0]]
    with pytest.raises(EnrollmentRejectedError, match="more than one person") as info:
        await customer_services.enrollment.enroll(customer_id, images)
    assert info.value.image_reasons == {2: ["different_person"]}
    assert _template_count(sessions) == 0


async def test_wrong_number_of_images_or_unverified_phone(
    customer_services: CustomerServices, sessions: sessionmaker[Session]
) -> None:
    customer_id = _ready(customer_services, "+821033330005")
    with pytest.raises(ValidationError):
        await customer_services.enrollment.enroll(customer_id, face_photos(13)[:2])
    unverified = customer_services.accounts.create("+821033330006").customer_id
    with pytest.raises(PhoneNotVerifiedError):
        await customer_services.enrollment.enroll(unverified, face_photos(13))
    assert _template_count(sessions) == 0


async def test_inference_does_not_block_the_event_loop(
    customer_services: CustomerServices, sessions: sessionmaker[Session]
) -> None:
    customer_id = _ready(customer_services, "+821033330007")
    ticks = 0
    done = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not done.is_set():
            ticks += 1
            await asyncio.sleep(0.005)

    task = asyncio.create_task(ticker())
    await customer_services.enrollment.enroll(customer_id, face_photos(15))
    done.set()
    await task
    assert ticks >= 5


async def test_reenrollment_replaces_the_template(
    customer_services: CustomerServices, sessions: sessionmaker[Session]
) -> None:
    customer_id = _ready(customer_services, "+821033330008")
    first = await customer_services.enrollment.enroll(customer_id, face_photos(16))
    second = await customer_services.enrollment.enroll(customer_id, face_photos(16))
    assert first.template_id != second.template_id
    assert _template_count(sessions) == 1


async def test_withdrawal_deletes_templates_and_shreds_the_key(
    customer_services: CustomerServices, sessions: sessionmaker[Session]
) -> None:
    customer_id = _ready(customer_services, "+821033330009")
    await customer_services.enrollment.enroll(customer_id, face_photos(17))
    grant_biometric_consent(customer_services, customer_id, "withdrawn")
    assert _template_count(sessions) == 0
    with sessions() as session:
        customer = session.get(Customer, customer_id)
        assert customer is not None and customer.wrapped_data_key is None
        entry = session.scalar(
            select(AuditEntry).where(AuditEntry.action == "biometrics.destroyed")
        )
        assert entry is not None
        assert json.loads(entry.details) == {
            "templates_deleted": 1,
            "data_key_shredded": True,
            "reason": "consent_withdrawn",
        }
    # Consent again and enroll again: a fresh data key.
    grant_biometric_consent(customer_services, customer_id)
    await customer_services.enrollment.enroll(customer_id, face_photos(17))
    assert _template_count(sessions) == 1


async def test_deletion_crypto_shreds_with_a_signed_certificate(
    customer_services: CustomerServices, sessions: sessionmaker[Session], server_keys: ServerKeys
) -> None:
    customer_id = _ready(customer_services, "+821033330010")
    await customer_services.enrollment.enroll(customer_id, face_photos(18))
    with sessions() as session:
        sealed = session.scalars(select(FaceTemplate.sealed)).one()
        customer = session.get(Customer, customer_id)
        assert customer is not None
        wrapped, version = customer.wrapped_data_key, customer.kek_version
    certificate = customer_services.accounts.delete(customer_id, actor="customer:self")
    body = json.loads(certificate.body)
    assert body["face_templates_deleted"] == 1 and body["data_key_shredded"] is True
    server_keys.signing_key.public_key().verify(
        base64.b64decode(certificate.signature), certificate.body.encode()
    )
    assert _template_count(sessions) == 0
    with sessions() as session:
        customer = session.get(Customer, customer_id)
        assert customer is not None and customer.status == "deleted"
        assert customer.wrapped_data_key is None and customer.kek_version is None
        with pytest.raises(ConflictError):
            open_data_key(server_keys.kek, customer)
    # A copy of the old ciphertext is useless without the key; only the wrapped
    # key (now gone from the database) could have opened it.
    assert wrapped is not None and version is not None and sealed
    with pytest.raises(ConflictError):
        await customer_services.enrollment.enroll(customer_id, face_photos(18))


def _shared_antispoof_model() -> Path | None:
    """The test model in ``../shared`` beside the checkout (or beside its worktrees' parent)."""
    repo = Path(__file__).resolve().parents[2]
    for base in (repo.parent, repo.parent.parent):
        candidate = base / "shared" / "models" / "antispoof" / "minifasnet_v2se_128_fp32.onnx"
        if candidate.is_file():
            return candidate
    return None


@pytest.fixture(scope="module")
def liveness() -> PassiveLivenessCheck:
    model = _shared_antispoof_model()
    if model is None:
        pytest.skip("the shared anti-spoofing test model is not beside the repository")
    check = passive_liveness(Settings(antispoof_model=model))
    assert check is not None
    return check


def test_no_passive_model_unless_configured() -> None:
    # Even with the shared test model beside the repository, nothing is picked up by chance.
    assert passive_liveness(Settings()) is None


async def test_printed_photos_fail_passive_liveness(
    customer_services: CustomerServices,
    sessions: sessionmaker[Session],
    liveness: PassiveLivenessCheck,
) -> None:
    customer_id = _ready(customer_services, "+821033330011")
    checked: FaceEnrollment = replace(customer_services.enrollment, passive_check=liveness)
    rng = np.random.default_rng(5)
    prints = [jpeg(printed_photo(crop(12, *v), rng)) for v in ENROLL_VARIANTS]
    with pytest.raises(EnrollmentRejectedError) as info:
        await checked.enroll(customer_id, prints)
    assert set(info.value.image_reasons) == {0, 1, 2}
    for reasons in info.value.image_reasons.values():
        assert reasons == ["liveness_failed", "passive_spoof"]
    assert _template_count(sessions) == 0
    # The same person, photographed live, passes the same check.
    receipt = await checked.enroll(customer_id, face_photos(12))
    assert receipt.images_used == (0, 1, 2)


def test_photos_are_decodable_jpegs() -> None:
    image = cv2.imdecode(np.frombuffer(face_photos(7)[0], np.uint8), cv2.IMREAD_COLOR)
    assert image is not None and image.shape[0] >= 300
