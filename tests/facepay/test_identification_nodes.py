"""Two API nodes on one database: a change on one reaches the other's gallery via Redis."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fakes import InMemoryCabinetLink
from test_customers_support import (
    add_site,
    face_photos,
    grant_biometric_consent,
    probe_embedding,
    verified_customer,
)

from facepay.bootstrap import Services, bootstrap
from facepay.db.migrate import upgrade
from facepay.identification.service import IdentificationOutcome
from facepay.keys.store import init_keys
from facepay.settings import Settings

pytestmark = pytest.mark.redis


@pytest.fixture
def nodes(tmp_path: Path, database_url: str, redis_url: str) -> Iterator[tuple[Services, Services]]:
    """Two bootstraps of the same settings: two server processes' graphs."""
    settings = Settings(data_dir=tmp_path / "data", database_url=database_url, redis_url=redis_url)
    init_keys(settings.keys_dir)
    first = bootstrap(settings, link=InMemoryCabinetLink())
    second = bootstrap(settings, link=InMemoryCabinetLink())
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
    nodes: tuple[Services, Services],
) -> None:
    node_a, node_b = nodes
    site_id = add_site(node_a.sessions)
    probe = probe_embedding(7)
    service_b = node_b.identification
    assert service_b.identify(site_id, probe).reasons == ("empty_gallery",)  # built, empty
    relay_a, relay_b = node_a.changes.relay, node_b.changes.relay
    assert relay_a is not None and relay_b is not None
    assert relay_a.wait_subscribed() and relay_b.wait_subscribed()

    customer_id = verified_customer(node_a.customers, "+821012120001", (site_id,))
    grant_biometric_consent(node_a.customers, customer_id)
    await node_a.customers.enrollment.enroll(customer_id, face_photos(7))
    outcome = _eventually(lambda: service_b.identify(site_id, probe), "approve")
    assert outcome.customer_id == customer_id

    node_a.customers.accounts.delete(customer_id, actor="test")
    assert _eventually(lambda: service_b.identify(site_id, probe), "deny").decision == "deny"
    # A resync (after a lost connection) rebuilds from the database and agrees.
    node_b.changes.resync()
    assert service_b.identify(site_id, probe).reasons == ("empty_gallery",)
