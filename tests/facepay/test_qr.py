"""QR unlock tokens: valid once, for 30 s, for one customer, at a site they joined."""

from __future__ import annotations

import base64
import os
import threading
import uuid
from datetime import timedelta

import cv2
import numpy as np
import pytest
from sqlalchemy.orm import Session, sessionmaker
from test_customers_support import add_site, verified_customer

from facepay.customers.qr import _BODY, PREFIX, QrTokenError, QrTokens, qr_png
from facepay.customers.services import CustomerServices
from facepay.db.base import utcnow


def _reason(qr: QrTokens, token: str, site_id: str, **kwargs: object) -> str:
    with pytest.raises(QrTokenError) as info:
        qr.redeem(token, site_id, **kwargs)  # type: ignore[arg-type]
    return info.value.reason


def _customer(services: CustomerServices, phone: str = "+821055550001") -> tuple[str, str]:
    site_id = add_site(services.accounts.sessions)
    return verified_customer(services, phone, (site_id,)), site_id


def test_a_token_unlocks_once(
    customer_services: CustomerServices, sessions: sessionmaker[Session]
) -> None:
    customer_id, site_id = _customer(customer_services)
    token = customer_services.qr.issue(customer_id)
    assert token.startswith(PREFIX) and len(token) < 80
    assert customer_services.qr.redeem(token, site_id) == customer_id
    assert _reason(customer_services.qr, token, site_id) == "replayed"


def test_expired_token(
    customer_services: CustomerServices, sessions: sessionmaker[Session]
) -> None:
    customer_id, site_id = _customer(customer_services)
    token = customer_services.qr.issue(customer_id)
    later = utcnow() + timedelta(seconds=31)
    assert _reason(customer_services.qr, token, site_id, now=later) == "expired"


def test_forged_and_malformed_tokens(
    customer_services: CustomerServices, sessions: sessionmaker[Session]
) -> None:
    customer_id, site_id = _customer(customer_services)
    token = customer_services.qr.issue(customer_id)
    raw = bytearray(base64.urlsafe_b64decode(token[len(PREFIX) :] + "=="))
    raw[-1] ^= 1
    flipped = PREFIX + base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=")
    assert _reason(customer_services.qr, flipped, site_id) == "forged"
    # The same customer, signed by another server's key.
    other = QrTokens(sessions, os.urandom(32))
    body = bytes(raw[: _BODY.size])
    foreign = PREFIX + base64.urlsafe_b64encode(body + other.mac(body)).decode().rstrip("=")
    assert _reason(customer_services.qr, foreign, site_id) == "forged"
    for bad in ("", "hello", PREFIX, PREFIX + "!!!!", PREFIX + "AAAA", "x" * 500):
        assert _reason(customer_services.qr, bad, site_id) == "malformed"
    # Nothing was consumed by the failed attempts.
    assert customer_services.qr.redeem(token, site_id) == customer_id


def test_a_token_is_bound_to_its_customer(
    customer_services: CustomerServices, sessions: sessionmaker[Session]
) -> None:
    alice, site_id = _customer(customer_services, "+821055550002")
    bob = verified_customer(customer_services, "+821055550003", (site_id,))
    token = customer_services.qr.issue(alice)
    raw = bytearray(base64.urlsafe_b64decode(token[len(PREFIX) :] + "=="))
    raw[20:36] = uuid.UUID(bob).bytes  # swap the customer inside the token
    swapped = PREFIX + base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=")
    assert _reason(customer_services.qr, swapped, site_id) == "forged"
    assert customer_services.qr.redeem(token, site_id) == alice


def test_only_at_a_site_the_customer_joined(
    customer_services: CustomerServices, sessions: sessionmaker[Session]
) -> None:
    customer_id, site_id = _customer(customer_services)
    elsewhere = add_site(sessions, "elsewhere")
    token = customer_services.qr.issue(customer_id)
    assert _reason(customer_services.qr, token, elsewhere) == "not_enrolled_at_site"
    assert customer_services.qr.redeem(token, site_id) == customer_id  # not consumed above


def test_deleted_customer_tokens_die(
    customer_services: CustomerServices, sessions: sessionmaker[Session]
) -> None:
    customer_id, site_id = _customer(customer_services)
    token = customer_services.qr.issue(customer_id)
    customer_services.accounts.delete(customer_id, actor="test")
    assert _reason(customer_services.qr, token, site_id) == "unknown"


def test_concurrent_redemptions_succeed_once(
    customer_services: CustomerServices, sessions: sessionmaker[Session]
) -> None:
    customer_id, site_id = _customer(customer_services)
    token = customer_services.qr.issue(customer_id)
    results: list[str] = []
    barrier = threading.Barrier(4)

    def redeem() -> None:
        barrier.wait()
        try:
            results.append(customer_services.qr.redeem(token, site_id))
        except QrTokenError as exc:
            results.append(exc.reason)

    threads = [threading.Thread(target=redeem) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == sorted([customer_id, "replayed", "replayed", "replayed"])


def test_rendered_qr_decodes_back_with_opencv(
    customer_services: CustomerServices, sessions: sessionmaker[Session]
) -> None:
    customer_id, _ = _customer(customer_services)
    token = customer_services.qr.issue(customer_id)
    png = qr_png(token)
    image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    text, points, _ = cv2.QRCodeDetector().detectAndDecode(image)
    assert points is not None and text == token
    # As a cabinet camera sees a phone: smaller, rotated, on a grey background, JPEG.
    small = cv2.resize(image, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
    canvas = np.full((480, 640, 3), 90, np.uint8)
    canvas[100 : 100 + small.shape[0], 200 : 200 + small.shape[1]] = small
    matrix = cv2.getRotationMatrix2D((320, 240), 12, 1.0)
    canvas = cv2.warpAffine(canvas, matrix, (640, 480), borderValue=(90, 90, 90))
    _, jpeg = cv2.imencode(".jpg", canvas, [cv2.IMWRITE_JPEG_QUALITY, 70])
    seen = cv2.imdecode(jpeg, cv2.IMREAD_COLOR)
    assert cv2.QRCodeDetector().detectAndDecode(seen)[0] == token
