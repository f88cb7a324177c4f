"""Two API nodes on one database: a change on one reaches the other's gallery via Redis."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from test_customers_support import (
    add_site,
    face_engine,
    face_photos,
    grant_biometric_consent,
    probe_embedding,
    verified_customer,
)

from facepay.customers.enrollment import enroll_face
from facepay.customers.service import delete_customer
from facepay.db.migrate import upgrade
from facepay.identification.events import change_bus
from facepay.identification.service import IdentificationOutcome, identification_service
from facepay.keys.store import init_keys
from facepay.platform import Platform
from facepay.settings import Settings

pytestmark = pytest.mark.redis


@pytest.fixture
def nodes(tmp_path: Path, database_url: str, redis_url: str) -> Iterator[tuple[Platform, Platform]]:
    settings = Settings(data_dir=tmp_path / "data", database_url=database_url, redis_url=redis_url)
    init_keys(settings.keys_dir)
    first, second = Platform(settings), Platform(settings)
    upgrade(first.engine)
    yield first, second
    first.close()
    second.close()


def _eventually(check: Callable[[], IdentificationOutcome], decision: str) -> IdentificationOutcome:
    deadline = time.monotonic() + 10
    while True:
        outcome = check()
        if outcome.decision == decision or time.monotonic() > deadline:
            return outcome
        time.sleep(0.05)


async def test_enrollment_and_deletion_reach_the_other_node(
    nodes: tuple[Platform, Platform],
) -> None:
    node_a, node_b = nodes
    site_id = add_site(node_a)
    probe = probe_embedding(7)
    service_b = identification_service(node_b)
    assert service_b.identify(site_id, probe).reasons == ("empty_gallery",)  # built, empty
    relay_a, relay_b = change_bus(node_a).relay, change_bus(node_b).relay
    assert relay_a is not None and relay_b is not None
    assert relay_a.wait_subscribed() and relay_b.wait_subscribed()

    customer_id = verified_customer(node_a, "+821012120001", (site_id,))
    grant_biometric_consent(node_a, customer_id)
    await enroll_face(node_a, customer_id, face_photos(7), engine=face_engine())
    outcome = _eventually(lambda: service_b.identify(site_id, probe), "approve")
    assert outcome.customer_id == customer_id

    delete_customer(node_a, customer_id, actor="test")
    assert _eventually(lambda: service_b.identify(site_id, probe), "deny").decision == "deny"
    # A resync (after a lost connection) rebuilds from the database and agrees.
    change_bus(node_b).resync()
    assert service_b.identify(site_id, probe).reasons == ("empty_gallery",)
