"""Helpers the customer tests share (imported by module name), and their own checks.

Photos are crops of real faces in the photos shipped with the installed
packages, rotated and rescaled like separate phone selfies, JPEG-encoded as a
phone would upload them.
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np
import numpy.typing as npt
import pytest
from sqlalchemy.orm import Session, sessionmaker

from biometrics.engine import DetectedFace, FaceEngine
from biometrics.model_pack import default_pack_dir
from biometrics.quality import ENROLLMENT_QUALITY, assess_frame
from facepay.compliance.consent import BIOMETRIC
from facepay.customers.models import Site
from facepay.customers.services import CustomerServices
from facepay.notifications import messages_to

# players.jpg faces (left to right) that pass the enrollment quality gates as crops.
# 14 is Yao Ming, who also appears in yaoming.jpg.
PLAYERS = (2, 4, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 21)
ENROLL_VARIANTS = ((2.2, 0.0, 400), (2.6, 4.0, 420), (2.0, -4.0, 380))
PROBE_VARIANT = (2.4, 2.5, 360)


def face_engine() -> FaceEngine:
    return FaceEngine.load().prepare()


@lru_cache(maxsize=1)
def _players() -> tuple[npt.NDArray[np.uint8], list[DetectedFace]]:
    image = cv2.imread(str(default_pack_dir() / "players.jpg"), cv2.IMREAD_COLOR)
    assert image is not None
    faces = sorted(face_engine().detect(image), key=lambda f: f.bbox[0])
    return np.asarray(image, np.uint8), faces


def crop(index: int, context: float, rotation: float, size: int) -> npt.NDArray[np.uint8]:
    image, faces = _players()
    x1, y1, x2, y2 = faces[index].bbox
    side = (x2 - x1) * context
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    x0, y0 = int(max(cx - side / 2, 0)), int(max(cy - side / 2, 0))
    part = image[y0 : int(cy + side / 2), x0 : int(cx + side / 2)]
    scale = size / max(part.shape[:2])
    part = cv2.resize(part, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    if rotation:
        centre = (part.shape[1] / 2, part.shape[0] / 2)
        matrix = cv2.getRotationMatrix2D(centre, rotation, 1.0)
        part = cv2.warpAffine(
            part, matrix, (part.shape[1], part.shape[0]), borderMode=cv2.BORDER_REFLECT
        )
    return np.asarray(part, np.uint8)


def jpeg(image: npt.NDArray[np.uint8]) -> bytes:
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    return bytes(data)


def face_photos(index: int) -> list[bytes]:
    """Three selfie-like JPEGs of players.jpg face ``index``."""
    return [jpeg(crop(index, *variant)) for variant in ENROLL_VARIANTS]


def probe_embedding(
    index: int, variant: tuple[float, float, int] = PROBE_VARIANT
) -> npt.NDArray[np.float32]:
    """What a cabinet would send: the embedding of another capture of the same face."""
    engine = face_engine()
    image = crop(index, *variant)
    face = engine.largest_face(image)
    assert face is not None
    return np.asarray(engine.embed(image, [face])[0], np.float32)


def add_site(
    sessions: sessionmaker[Session], name: str = "Gangnam office", processor: str | None = None
) -> str:
    with sessions.begin() as session:
        site = Site(name=name, currency="KRW", default_processor=processor)
        session.add(site)
        session.flush()
        return site.id


def latest_code(sessions: sessionmaker[Session], phone: str) -> str:
    with sessions() as session:
        body = messages_to(session, phone, "phone_code")[-1].body
    return body.split("code is ", 1)[1][:6]


def verified_customer(
    services: CustomerServices, phone: str, site_ids: tuple[str, ...] = ()
) -> str:
    created = services.accounts.create(phone, site_ids=site_ids)
    code = latest_code(services.accounts.sessions, created.phone_e164)
    services.phones.verify(created.verification_id, code)
    return created.customer_id


def grant_biometric_consent(
    services: CustomerServices, customer_id: str, decision: str = "granted"
) -> None:
    notice_id = services.consents.notice(BIOMETRIC, "ko").id
    services.consents.decide(customer_id, notice_id, decision, channel="api")


@pytest.mark.parametrize("index", PLAYERS)
def test_enrollment_photos_pass_quality(index: int) -> None:
    engine = face_engine()
    for data in face_photos(index):
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        assert assess_frame(engine, image, ENROLLMENT_QUALITY).ok


def test_codes_reach_the_outbox(customer_services: CustomerServices) -> None:
    created = customer_services.accounts.create("010-5555-0101")
    assert created.phone_e164 == "+821055550101"
    assert latest_code(customer_services.accounts.sessions, created.phone_e164).isdigit()
