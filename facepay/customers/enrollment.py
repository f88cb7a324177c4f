"""Enrolling a customer's face from a few phone photos.

Order matters: the customer and the biometric consent are checked before a
single byte of an image is decoded. Decoding (bounded, by ``biometrics``),
quality gates, the optional passive liveness check and the embeddings run on
the inference thread pool. The photos exist only in memory during extraction
and are never written anywhere. One template (the normalised mean of the
accepted frames' embeddings) is sealed under the customer's data key and
replaces any earlier one in the same transaction: either everything is
stored or nothing is.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from biometrics.calibration import default_table
from biometrics.engine import DetectedFace, FaceEngine, run_in_thread
from biometrics.errors import BiometricsError, ImageError
from biometrics.images import DEFAULT_LIMITS, decode_image
from biometrics.liveness.passive import PassiveModel, check_passive
from biometrics.liveness.result import CheckResult
from biometrics.quality import ENROLLMENT_QUALITY, QualityConfig, assess_frame
from biometrics.templates import seal_template
from facepay.compliance import audit
from facepay.compliance.consent import BIOMETRIC, consent_state
from facepay.customers.data_keys import issue_data_key, open_data_key
from facepay.customers.errors import (
    ConsentRequiredError,
    EnrollmentRejectedError,
    PhoneNotVerifiedError,
)
from facepay.customers.events import BiometricChange, ChangeBus, ChangeKind
from facepay.customers.lookup import load_customer
from facepay.customers.models import FaceTemplate, PhoneLink
from facepay.errors import ValidationError
from facepay.keys.kek import KeyEncryptionKey
from facepay.settings import Settings

MIN_IMAGES = 3
MAX_IMAGES = 8
MAX_PHOTO_BYTES = DEFAULT_LIMITS.max_bytes  # what decode_image accepts; uploads stop there
# Data keys are never re-keyed in place (a KEK rotation only re-wraps them), so
# every template is sealed under version 1 of its customer's key.
DATA_KEY_VERSION = 1

FloatArray = npt.NDArray[np.float32]


class PassiveLivenessCheck(Protocol):
    """A single-frame presentation-attack check (e.g. a MiniFASNet model)."""

    def __call__(self, image_bgr: npt.NDArray[Any], face: DetectedFace) -> CheckResult: ...


def passive_liveness(settings: Settings) -> PassiveLivenessCheck | None:
    """The configured anti-spoofing model (``antispoof_model``) as a check, or None when none
    is configured: then enrollment relies on the quality gates alone, and the cabinet's own
    liveness checks still apply. Never looked for anywhere else: a model found by chance
    refused real customers' photos."""
    if settings.antispoof_model is None:
        return None
    model = PassiveModel.load(settings.antispoof_model)
    return functools.partial(check_passive, model)


@dataclass(frozen=True)
class Extraction:
    template: FloatArray | None  # unit vector; None when enrollment is rejected
    used: tuple[int, ...]
    image_reasons: dict[int, list[str]]  # index -> reasons; only images with a problem


@dataclass(frozen=True)
class EnrollmentReceipt:
    customer_id: str
    template_id: str
    model_pack_id: str
    images_used: tuple[int, ...]
    image_reasons: dict[int, list[str]]  # images that were skipped, and why


def _frame_reasons(
    engine: FaceEngine,
    image: npt.NDArray[np.uint8],
    liveness: PassiveLivenessCheck | None,
    quality: QualityConfig,
) -> tuple[list[str], FloatArray | None]:
    frame = assess_frame(engine, image, quality)
    if not frame.ok or frame.face is None:
        return [str(r) for r in frame.reasons], None
    if liveness is not None:
        check = liveness(image, frame.face)
        if check.passed is not True:
            return ["liveness_failed", *check.reasons], None
    return [], engine.embed(image, [frame.face])[0]


def _inconsistent(embeddings: FloatArray, threshold: float) -> set[int]:
    """Rows that do not look like the same person as the others.

    Every pair must score at least ``threshold``; when some pair does not, the
    rows with the most mismatches are the odd ones out.
    """
    scores = embeddings @ embeddings.T
    mismatches = (scores < threshold).sum(axis=1)
    worst = int(mismatches.max()) if len(mismatches) else 0
    return {int(i) for i in np.flatnonzero(mismatches == worst)} if worst else set()


def extract_template(
    engine: FaceEngine,
    images: Sequence[bytes],
    *,
    liveness: PassiveLivenessCheck | None = None,
    quality: QualityConfig = ENROLLMENT_QUALITY,
    min_images: int = MIN_IMAGES,
) -> Extraction:
    """Blocking: one template from the images that pass, with every image's reasons."""
    reasons: dict[int, list[str]] = {}
    used: list[int] = []
    rows: list[FloatArray] = []
    for index, data in enumerate(images):
        try:
            image = decode_image(data)
        except ImageError as exc:
            reasons[index] = [f"image_{exc.reason}"]
            continue
        problems, embedding = _frame_reasons(engine, image, liveness, quality)
        del image  # the photo lives no longer than its extraction
        if embedding is None:
            reasons[index] = problems
        else:
            used.append(index)
            rows.append(embedding)
    if len(used) >= 2:
        threshold = default_table(engine.pack_id).default_threshold
        for row in sorted(_inconsistent(np.vstack(rows), threshold)):
            reasons[used[row]] = ["different_person"]
        # Two people in one enrollment: refuse it whole rather than guess who is who.
        if any(reasons.get(i) == ["different_person"] for i in used):
            return Extraction(None, (), reasons)
    if len(used) < min_images:
        return Extraction(None, tuple(used), reasons)
    mean = np.mean(np.vstack(rows), axis=0)
    template = np.asarray(mean / np.linalg.norm(mean), dtype=np.float32)
    return Extraction(template, tuple(used), reasons)


def _rejection(extraction: Extraction, total: int) -> EnrollmentRejectedError:
    listed = "; ".join(
        f"image {i + 1}: {', '.join(r)}" for i, r in sorted(extraction.image_reasons.items())
    )
    if any(r == ["different_person"] for r in extraction.image_reasons.values()):
        head = "the images show more than one person"
    else:
        head = (
            f"{len(extraction.used)} of {total} images are usable, at least {MIN_IMAGES} are needed"
        )
    return EnrollmentRejectedError(f"{head} ({listed})", extraction.image_reasons)


@dataclass(frozen=True)
class FaceEnrollment:
    """Enrolls faces with ``face_engine()`` and seals them under data keys wrapped by ``kek``.

    ``passive_check`` is the anti-spoofing check applied to every photo (None: quality gates
    only); ``quality`` the gates.
    """

    sessions: sessionmaker[Session]
    kek: KeyEncryptionKey = field(repr=False)
    changes: ChangeBus
    face_engine: Callable[[], FaceEngine]
    passive_check: PassiveLivenessCheck | None = None
    quality: QualityConfig = ENROLLMENT_QUALITY

    async def enroll(self, customer_id: str, images: Sequence[bytes]) -> EnrollmentReceipt:
        """Enroll (or re-enroll) the customer's face. Raises before touching any image when
        the customer may not enroll; EnrollmentRejectedError lists per-image reasons."""
        if not MIN_IMAGES <= len(images) <= MAX_IMAGES:
            raise ValidationError(f"send {MIN_IMAGES} to {MAX_IMAGES} images, got {len(images)}")
        # Database work also stays off the event loop (SQLite waits for its write lock).
        await asyncio.to_thread(self._check_may_enroll, customer_id)
        engine = await asyncio.to_thread(self.face_engine)  # inspects the pack's files
        try:
            extraction = await run_in_thread(
                extract_template, engine, images, liveness=self.passive_check, quality=self.quality
            )
        except BiometricsError as exc:
            raise EnrollmentRejectedError(f"the images could not be processed: {exc}", {}) from exc
        if extraction.template is None:
            raise _rejection(extraction, len(images))
        receipt = await asyncio.to_thread(self._store, customer_id, extraction, engine.pack_id)
        # Gallery updates read and decrypt: off the event loop too.
        change = BiometricChange(customer_id, ChangeKind.ENROLLED)
        await asyncio.to_thread(self.changes.publish, change)
        return receipt

    def _check_may_enroll(self, customer_id: str) -> None:
        with self.sessions() as session:
            load_customer(session, customer_id)
            verified = session.scalar(
                select(PhoneLink.verified_at).where(PhoneLink.customer_id == customer_id)
            )
            if verified is None:
                raise PhoneNotVerifiedError("verify the phone number before enrolling a face")
            if not consent_state(session, customer_id, BIOMETRIC).granted:
                raise ConsentRequiredError(
                    "biometric consent has not been granted; no face is processed without it"
                )

    def _store(self, customer_id: str, extraction: Extraction, pack_id: str) -> EnrollmentReceipt:
        assert extraction.template is not None
        with self.sessions.begin() as session:
            customer = load_customer(session, customer_id, for_update=True)
            # Checked again under the lock: consent may have been withdrawn meanwhile.
            if not consent_state(session, customer_id, BIOMETRIC).granted:
                raise ConsentRequiredError("biometric consent was withdrawn during enrollment")
            if customer.wrapped_data_key is None:
                data_key = issue_data_key(self.kek, customer)
            else:
                data_key = open_data_key(self.kek, customer)
            sealed = seal_template(
                extraction.template, data_key, customer_id, pack_id, DATA_KEY_VERSION
            )
            session.execute(delete(FaceTemplate).where(FaceTemplate.customer_id == customer_id))
            template = FaceTemplate(
                customer_id=customer_id,
                model_pack_id=pack_id,
                key_version=DATA_KEY_VERSION,
                sealed=sealed.to_bytes(),
            )
            session.add(template)
            session.flush()
            audit.append(
                session,
                actor=f"customer:{customer_id}",
                action="face.enrolled",
                subject=customer_id,
                details={
                    "template_id": template.id,
                    "model_pack_id": pack_id,
                    "images_used": len(extraction.used),
                },
            )
            template_id = template.id
        return EnrollmentReceipt(
            customer_id, template_id, pack_id, extraction.used, extraction.image_reasons
        )
