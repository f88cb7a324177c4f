"""The customer's mobile pages, walked like a phone browser (cookies, forms, redirects)."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "facepay"))
from customer_server import CustomerServer, serve_customers
from test_customers_support import face_photos, latest_code


@pytest.fixture
def live_server(tmp_path: Path, database_url: str) -> Iterator[CustomerServer]:
    with serve_customers(tmp_path / "data", database_url) as server:
        yield server


def test_phone_page_flow(live_server: CustomerServer) -> None:
    with httpx.Client(base_url=live_server.url, timeout=60) as browser:
        bad = browser.post("/m/signup", data={"phone": "nope"})
        assert bad.status_code == 400 and "international form" in bad.text
        signed = browser.post("/m/signup", data={"phone": "010-8888-0001"})
        assert signed.status_code == 303
        verify_path = signed.headers["location"]
        wrong = browser.post(verify_path, data={"code": "000000"})
        assert wrong.status_code == 400 and "wrong" in wrong.text
        code = latest_code(live_server.sessions, "+821088880001")
        done = browser.post(verify_path, data={"code": code})
        assert done.status_code == 303 and done.headers["location"] == "/m/home"
        home = browser.get("/m/home")
        assert home.status_code == 200 and "0001" in home.text

        consent = browser.get("/m/consent")
        assert "거부할 권리" in consent.text
        notice_id = re.search(r'name="notice_id" value="([^"]+)"', consent.text)
        assert notice_id is not None
        granted = browser.post(
            "/m/consent", data={"notice_id": notice_id.group(1), "decision": "granted"}
        )
        assert granted.status_code == 303
        assert "withdrawn" in browser.get("/m/consent?lang=en").text  # a withdraw button now

        files = [("images", (f"{i}.jpg", p, "image/jpeg")) for i, p in enumerate(face_photos(9))]
        enrolled = browser.post("/m/face", files=files)
        assert enrolled.status_code == 201 and "discarded" in enrolled.text
        rejected = browser.post("/m/face", files=[("images", ("x.jpg", b"junk", "image/jpeg"))] * 3)
        assert rejected.status_code == 422
        assert "Photo 1: image_not_an_image" in rejected.text

        add = browser.post("/m/cards")
        assert add.status_code == 303
        assert add.headers["location"].startswith(f"{live_server.sandbox.url}/tsp/enroll/")

        qr = browser.get("/m/qr")
        assert qr.status_code == 200 and "data:image/png;base64," in qr.text
        assert 'http-equiv="refresh"' in qr.text

        deleted = browser.post("/m/delete")
        assert deleted.status_code == 200 and "customer_id" in deleted.text
        assert browser.get("/m/home").status_code == 303
