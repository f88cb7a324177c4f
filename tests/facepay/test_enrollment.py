"""Enrolling a face from real photos; bad images store nothing; withdrawal and deletion shred."""

from __future__ import annotations

import asyncio
import base64
import json

import cv2
import numpy as np
import pytest
from sqlalchemy import LargeBinary, func, inspect, select, text
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
from biometrics.liveness.passive import default_model_path
from biometrics.templates import open_template
from facepay.compliance.models import AuditEntry
from facepay.customers.data_keys import open_data_key
from facepay.customers.enrollment import (
    DATA_KEY_VERSION,
    PassiveLivenessCheck,
    enroll_face,
    passive_liveness,
)
from facepay.customers.errors import (
    EnrollmentRejectedError,
    PhoneNotVerifiedError,
)
from facepay.customers.models import Customer, FaceTemplate
from facepay.customers.service import create_customer, delete_customer
from facepay.db.models import all_metadata
from facepay.errors import ConflictError, ValidationError
from facepay.platform import Platform
from facepay.settings import Settings


def _ready(platform: Platform, phone: str) -> str:
    customer_id = verified_customer(platform, phone)
    grant_biometric_consent(platform, customer_id)
    return customer_id


def _template_count(platform: Platform) -> int:
    with platform.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(FaceTemplate)) or 0)


async def test_enroll_from_real_photos(platform: Platform) -> None:
    engine = face_engine()
    customer_id = _ready(platform, "+821033330001")
    receipt = await enroll_face(platform, customer_id, face_photos(7), engine=engine)
    assert receipt.images_used == (0, 1, 2) and receipt.image_reasons == {}
    assert receipt.model_pack_id == engine.pack_id
    with platform.sessions() as session:
        template = session.get(FaceTemplate, receipt.template_id)
        customer = session.get(Customer, customer_id)
        assert template is not None and customer is not None
        assert template.model_pack_id == engine.pack_id
        assert template.key_version == DATA_KEY_VERSION
        data_key = open_data_key(platform.keys.kek, customer)
    vector = open_template(template.sealed, data_key, customer_id, engine.pack_id, DATA_KEY_VERSION)
    # The stored template is this person: another capture of the face scores high,
    # another person low.
    assert float(vector @ probe_embedding(7)) > 0.6
    assert float(vector @ probe_embedding(8)) < 0.3


async def test_raw_images_are_never_stored(platform: Platform) -> None:
    customer_id = _ready(platform, "+821033330002")
    photos = face_photos(9)
    await enroll_face(platform, customer_id, photos, engine=face_engine())
    markers = [p[:64] for p in photos]
    with platform.engine.connect() as conn:
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


async def test_bad_images_list_reasons_and_store_nothing(platform: Platform) -> None:
    customer_id = _ready(platform, "+821033330003")
    grey = jpeg(np.full((400, 400, 3), 128, np.uint8))
    images = [face_photos(10)[0], b"", b"GIF89a not an image", grey]
    with pytest.raises(EnrollmentRejectedError) as info:
        await enroll_face(platform, customer_id, images, engine=face_engine())
    reasons = info.value.image_reasons
    assert 0 not in reasons
    assert reasons[1] == ["image_empty"]
    assert reasons[2] == ["image_not_an_image"]
    assert reasons[3] == ["no_face"]
    assert "1 of 4 images are usable" in str(info.value)
    assert _template_count(platform) == 0
    with platform.sessions() as session:
        customer = session.get(Customer, customer_id)
        assert customer is not None and customer.wrapped_data_key is None
        assert (
            session.scalar(select(AuditEntry).where(AuditEntry.action == "face.enrolled")) is None
        )


async def test_two_people_in_one_enrollment_are_refused(platform: Platform) -> None:
    customer_id = _ready(platform, "+821033330004")
    images = [*face_photos(11)[:2], face_photos(12)[0]]
    with pytest.raises(EnrollmentRejectedError, match="more than one person") as info:
        await enroll_face(platform, customer_id, images, engine=face_engine())
    assert info.value.image_reasons == {2: ["different_person"]}
    assert _template_count(platform) == 0


async def test_wrong_number_of_images_or_unverified_phone(platform: Platform) -> None:
    customer_id = _ready(platform, "+821033330005")
    with pytest.raises(ValidationError):
        await enroll_face(platform, customer_id, face_photos(13)[:2], engine=face_engine())
    unverified = create_customer(platform, "+821033330006").customer_id
    with pytest.raises(PhoneNotVerifiedError):
        await enroll_face(platform, unverified, face_photos(13), engine=face_engine())
    assert _template_count(platform) == 0


async def test_inference_does_not_block_the_event_loop(platform: Platform) -> None:
    customer_id = _ready(platform, "+821033330007")
    ticks = 0
    done = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not done.is_set():
            ticks += 1
            await asyncio.sleep(0.005)

    task = asyncio.create_task(ticker())
    await enroll_face(platform, customer_id, face_photos(15), engine=face_engine())
    done.set()
    await task
    assert ticks >= 5


async def test_reenrollment_replaces_the_template(platform: Platform) -> None:
    customer_id = _ready(platform, "+821033330008")
    first = await enroll_face(platform, customer_id, face_photos(16), engine=face_engine())
    second = await enroll_face(platform, customer_id, face_photos(16), engine=face_engine())
    assert first.template_id != second.template_id
    assert _template_count(platform) == 1


async def test_withdrawal_deletes_templates_and_shreds_the_key(platform: Platform) -> None:
    customer_id = _ready(platform, "+821033330009")
    await enroll_face(platform, customer_id, face_photos(17), engine=face_engine())
    grant_biometric_consent(platform, customer_id, "withdrawn")
    assert _template_count(platform) == 0
    with platform.sessions() as session:
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
    grant_biometric_consent(platform, customer_id)
    await enroll_face(platform, customer_id, face_photos(17), engine=face_engine())
    assert _template_count(platform) == 1


async def test_deletion_crypto_shreds_with_a_signed_certificate(platform: Platform) -> None:
    engine = face_engine()
    customer_id = _ready(platform, "+821033330010")
    await enroll_face(platform, customer_id, face_photos(18), engine=engine)
    with platform.sessions() as session:
        sealed = session.scalars(select(FaceTemplate.sealed)).one()
        customer = session.get(Customer, customer_id)
        assert customer is not None
        wrapped, version = customer.wrapped_data_key, customer.kek_version
    certificate = delete_customer(platform, customer_id, actor="customer:self")
    body = json.loads(certificate.body)
    assert body["face_templates_deleted"] == 1 and body["data_key_shredded"] is True
    platform.keys.signing_key.public_key().verify(
        base64.b64decode(certificate.signature), certificate.body.encode()
    )
    assert _template_count(platform) == 0
    with platform.sessions() as session:
        customer = session.get(Customer, customer_id)
        assert customer is not None and customer.status == "deleted"
        assert customer.wrapped_data_key is None and customer.kek_version is None
        with pytest.raises(ConflictError):
            open_data_key(platform.keys.kek, customer)
    # A copy of the old ciphertext is useless without the key; only the wrapped
    # key (now gone from the database) could have opened it.
    assert wrapped is not None and version is not None and sealed
    with pytest.raises(ConflictError):
        await enroll_face(platform, customer_id, face_photos(18), engine=engine)


@pytest.fixture(scope="module")
def liveness() -> PassiveLivenessCheck:
    if default_model_path() is None:
        pytest.skip("the shared anti-spoofing test model is not next to the repository")
    check = passive_liveness(Settings())
    assert check is not None
    return check


async def test_printed_photos_fail_passive_liveness(
    platform: Platform, liveness: PassiveLivenessCheck
) -> None:
    customer_id = _ready(platform, "+821033330011")
    rng = np.random.default_rng(5)
    prints = [jpeg(printed_photo(crop(12, *v), rng)) for v in ENROLL_VARIANTS]
    with pytest.raises(EnrollmentRejectedError) as info:
        await enroll_face(platform, customer_id, prints, engine=face_engine(), liveness=liveness)
    assert set(info.value.image_reasons) == {0, 1, 2}
    for reasons in info.value.image_reasons.values():
        assert reasons == ["liveness_failed", "passive_spoof"]
    assert _template_count(platform) == 0
    # The same person, photographed live, passes the same check.
    receipt = await enroll_face(
        platform, customer_id, face_photos(12), engine=face_engine(), liveness=liveness
    )
    assert receipt.images_used == (0, 1, 2)


def test_photos_are_decodable_jpegs() -> None:
    image = cv2.imdecode(np.frombuffer(face_photos(7)[0], np.uint8), cv2.IMREAD_COLOR)
    assert image is not None and image.shape[0] >= 300
