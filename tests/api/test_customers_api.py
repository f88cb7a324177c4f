"""The customer /v1 API over real HTTP (uvicorn), with the sandbox card network over HTTP."""

from __future__ import annotations

import base64
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import cv2
import httpx
import numpy as np
import pytest
from sqlalchemy import func, select

# The photo and setup helpers live beside the service tests.
sys.path.insert(0, str(Path(__file__).parents[1] / "facepay"))
from customer_server import CustomerServer, serve_customers
from test_customers_support import ENROLL_VARIANTS, add_site, crop, face_photos, latest_code

from facepay.customers.models import Customer, FaceTemplate

PROBLEM = "application/problem+json"


@pytest.fixture
def live_server(tmp_path: Path, database_url: str) -> Iterator[CustomerServer]:
    with serve_customers(tmp_path / "data", database_url) as server:
        yield server


def _problem(response: httpx.Response, status: int, type_suffix: str | None = None) -> Any:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    assert body["status"] == status and body["title"] and body["detail"]
    if type_suffix:
        assert body["type"].endswith(type_suffix), body
    return body


def _files(photos: list[bytes]) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [("images", (f"face{i}.jpg", p, "image/jpeg")) for i, p in enumerate(photos)]


def _sign_up(client: httpx.Client, server: CustomerServer, phone: str, site_id: str) -> str:
    created = client.post("/v1/customers", json={"phone": phone, "site_ids": [site_id]})
    assert created.status_code == 201, created.text
    body = created.json()
    code = latest_code(server.sessions, body["phone"])
    verified = client.post(
        f"/v1/phone-verifications/{body['verification_id']}/verify", json={"code": code}
    )
    assert verified.status_code == 200
    token: str = verified.json()["session_token"]
    return token


def test_bad_input_gets_problem_documents_and_changes_nothing(live_server: CustomerServer) -> None:
    with httpx.Client(base_url=live_server.url, timeout=30) as client:
        _problem(
            client.post("/v1/customers", json={"phone": "call me"}), 400, "invalid-phone-number"
        )
        _problem(client.post("/v1/customers", json={"phone": 5}), 400)
        _problem(client.post("/v1/customers", json={"phone": "+821012345678", "x": 1}), 400)
        _problem(client.post("/v1/customers", content=b"{not json"), 400)
        _problem(
            client.post("/v1/customers", json={"phone": "+821012345678", "site_ids": ["nope"]}), 404
        )
        _problem(client.get("/v1/me"), 401, "authentication-required")
        _problem(client.get("/v1/me", headers={"Authorization": "Bearer fps1.x.y"}), 401)
        _problem(client.post("/v1/phone-verifications", json={"phone": "+821099999999"}), 404)
        _problem(client.get("/v1/consent-notices/biometric", params={"language": "xx"}), 400)
        paths = client.get("/schema/openapi.json").json()["paths"]
        assert {"/v1/customers", "/v1/me", "/v1/me/face", "/v1/me/qr-tokens"} <= set(paths)
    with live_server.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Customer)) == 0


def test_sign_up_consent_enroll_card_qr_delete(live_server: CustomerServer) -> None:
    site_id = add_site(live_server.sessions)
    with httpx.Client(base_url=live_server.url, timeout=60) as client:
        created = client.post(
            "/v1/customers", json={"phone": "010-7777-0001", "site_ids": [site_id]}
        )
        assert created.status_code == 201
        body = created.json()
        assert body["phone"] == "+821077770001"
        verify = f"/v1/phone-verifications/{body['verification_id']}/verify"
        wrong = _problem(client.post(verify, json={"code": "000000"}), 400, "verification-failed")
        assert wrong["reason"] == "wrong_code"
        limited = client.post("/v1/phone-verifications", json={"phone": "+821077770001"})
        assert _problem(limited, 429, "rate-limited")["retry_after_seconds"] > 0
        assert int(limited.headers["retry-after"]) > 0
        code = latest_code(live_server.sessions, "+821077770001")
        session = client.post(verify, json={"code": code})
        assert session.status_code == 200 and session.cookies.get("facepay_session")
        client.cookies.clear()  # the JSON API uses the bearer token
        client.headers["Authorization"] = f"Bearer {session.json()['session_token']}"

        me = client.get("/v1/me").json()
        assert me["phone_verified"] and me["sites"] == [site_id] and not me["face_enrolled"]

        # No face before consent: refused before the photos are even looked at.
        photos = face_photos(7)
        _problem(
            client.post("/v1/me/face", files=_files(photos)), 403, "biometric-consent-required"
        )
        notice = client.get("/v1/consent-notices/biometric", params={"language": "en"}).json()
        assert notice["retention_days"] == 365 and "right to refuse" in notice["text"]
        _problem(
            client.post("/v1/me/consents", json={"notice_id": notice["id"], "decision": "yes"}), 400
        )
        granted = client.post(
            "/v1/me/consents", json={"notice_id": notice["id"], "decision": "granted"}
        )
        assert granted.status_code == 201

        bad = client.post("/v1/me/face", files=_files([b"", b"junk", photos[0]]))
        images = _problem(bad, 422, "enrollment-rejected")["images"]
        assert images == [
            {"index": 0, "reasons": ["image_empty"]},
            {"index": 1, "reasons": ["image_not_an_image"]},
        ]
        enrolled = client.post("/v1/me/face", files=_files(photos))
        assert enrolled.status_code == 201, enrolled.text
        assert enrolled.json()["images_used"] == [0, 1, 2]
        assert client.get("/v1/me").json()["face_enrolled"]

        # A card, typed on the sandbox network's own page.
        _problem(client.post("/v1/me/cards", json={}), 400)
        link = client.post("/v1/me/cards", json={}, headers={"Idempotency-Key": "card-1"})
        assert link.status_code == 201, link.text
        again = client.post("/v1/me/cards", json={}, headers={"Idempotency-Key": "card-1"})
        assert again.json() == link.json()
        redirect_url = link.json()["redirect_url"]
        assert redirect_url.startswith(f"{live_server.sandbox.url}/tsp/enroll/")
        form = {"pan": "4242424242424242", "exp_month": "12", "exp_year": "2031", "cvc": "123"}
        back = httpx.post(redirect_url, data=form, timeout=30)
        assert back.status_code == 303
        returned = urlsplit(back.headers["location"])
        assert returned.path == "/m/cards/return"
        link_id = parse_qs(returned.query)["link_id"][0]
        card = client.post(f"/v1/me/cards/{link_id}/complete")
        assert card.status_code == 200, card.text
        assert card.json()["last4"] == "4242" and card.json()["is_default"]
        assert [c["last4"] for c in client.get("/v1/me/cards").json()] == ["4242"]

        qr = client.post("/v1/me/qr-tokens").json()
        assert qr["expires_in_seconds"] == 30
        png = np.frombuffer(base64.b64decode(qr["png_base64"]), np.uint8)
        decoded = cv2.QRCodeDetector().detectAndDecode(cv2.imdecode(png, cv2.IMREAD_COLOR))[0]
        assert decoded == qr["token"]

        deleted = client.delete("/v1/me")
        assert deleted.status_code == 200 and deleted.json()["signature"]
        _problem(client.get("/v1/me"), 401)
    with live_server.sessions() as db:
        assert db.scalar(select(func.count()).select_from(FaceTemplate)) == 0


@pytest.mark.parametrize("path", ["/m/", "/m/signin"])
def test_pages_render_without_a_session(live_server: CustomerServer, path: str) -> None:
    page = httpx.get(live_server.url + path, timeout=30)
    assert page.status_code == 200 and "<form" in page.text
    home = httpx.get(live_server.url + "/m/home", timeout=30)
    assert home.status_code == 303 and home.headers["location"] == "/m/signin"


def test_photos_over_a_megabyte_are_parsed_in_memory(
    live_server: CustomerServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Litestar's form parser would spool such parts to a temporary file; ours never does."""
    import litestar.datastructures.upload_file as upload_file

    spooled: list[object] = []
    monkeypatch.setattr(upload_file, "SpooledTemporaryFile", lambda **kw: spooled.append(kw))
    site_id = add_site(live_server.sessions)
    with httpx.Client(base_url=live_server.url, timeout=120) as client:
        token = _sign_up(client, live_server, "+821077770002", site_id)
        client.headers["Authorization"] = f"Bearer {token}"
        notice = client.get("/v1/consent-notices/biometric").json()
        client.post("/v1/me/consents", json={"notice_id": notice["id"], "decision": "granted"})
        big = [
            bytes(cv2.imencode(".png", cv2.resize(crop(8, *v), (1400, 1400)))[1])
            for v in ENROLL_VARIANTS
        ]
        assert min(len(b) for b in big) > 1024 * 1024
        enrolled = client.post("/v1/me/face", files=_files(big))
        assert enrolled.status_code == 201, enrolled.text
        _problem(client.post("/v1/me/face", files=_files([big[0]] * 9)), 400)
        _problem(client.post("/v1/me/face", content=b"--x\r\nnot multipart"), 400)
        broken = client.post(
            "/v1/me/face",
            content=b"--b\r\nContent-Disposition: form-data; name=images; filename=a.jpg\r\n\r\nab",
            headers={"content-type": "multipart/form-data; boundary=b"},
        )
        _problem(broken, 400)
    assert spooled == []


def _receipt(server: CustomerServer) -> str:
    """A settled purchase of two colas at a cabinet of a new site, and its receipt."""
    from facepay.cabinets.models import Cabinet
    from facepay.catalog.models import Product
    from facepay.checkout.models import PurchaseSession, SessionLine
    from facepay.checkout.receipts import issue_receipt

    site_id = add_site(server.sessions)
    with server.sessions.begin() as db:
        cabinet = Cabinet(site_id=site_id, name="lobby", hold_amount=50_000, currency="KRW")
        db.add(cabinet)
        db.add(
            Product(
                sku="cola-500",
                name="Cola",
                price_amount=1_500,
                currency="KRW",
                unit_weight_mg=520_000,
                weight_tolerance_mg=10_000,
            )
        )
        db.flush()
        purchase = PurchaseSession(
            cabinet_id=cabinet.id,
            cabinet_session_id="s-1",
            auth_method="qr",
            state="settled",
            currency="KRW",
            captured_amount=3_000,
        )
        db.add(purchase)
        db.flush()
        db.add(
            SessionLine(
                session_id=purchase.id, sku="cola-500", quantity=2, unit_price=1_500, confidence=1
            )
        )
        return issue_receipt(db, purchase, 3_000).id


def test_receipts_by_unguessable_id(live_server: CustomerServer) -> None:
    receipt_id = _receipt(live_server)
    with httpx.Client(base_url=live_server.url, timeout=30) as client:
        body = client.get(f"/v1/receipts/{receipt_id}").json()
        assert (body["total"], body["currency"], body["review_pending"]) == (3_000, "KRW", False)
        assert body["lines"] == [
            {"sku": "cola-500", "quantity": 2, "unit_price": 1_500, "amount": 3_000}
        ]
        page = client.get(f"/r/{receipt_id}")
        assert page.status_code == 200 and "cola-500" in page.text
        assert page.headers["cache-control"] == "private, no-store"
        _problem(client.get("/v1/receipts/no-such-receipt"), 404)
        assert client.get("/r/no-such-receipt").status_code == 404
