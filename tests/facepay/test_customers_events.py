"""The customer services publish each biometric change after it commits, on the bus they were
given; the Redis relay carries changes between nodes."""

from __future__ import annotations

import threading
import uuid

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from test_customers_support import add_site, face_photos, grant_biometric_consent, verified_customer

from facepay.customers.change_relay import RedisChangeRelay, channel_for
from facepay.customers.events import BiometricChange, ChangeBus, ChangeKind, Listener
from facepay.customers.models import FaceTemplate
from facepay.customers.services import CustomerServices


class Recorder:
    """A listener that also checks the change is visible to a fresh database session."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions
        self.seen: list[tuple[ChangeKind, int]] = []

    def __call__(self, change: BiometricChange) -> None:
        with self.sessions() as session:
            templates = session.scalar(
                select(func.count())
                .select_from(FaceTemplate)
                .where(FaceTemplate.customer_id == change.customer_id)
            )
        self.seen.append((change.kind, int(templates or 0)))


async def test_every_change_is_published_after_its_commit(
    customer_services: CustomerServices, changes: ChangeBus, sessions: sessionmaker[Session]
) -> None:
    recorder = Recorder(sessions)
    changes.subscribe(recorder)
    site = add_site(sessions)
    other = add_site(sessions, "other")
    customer_id = verified_customer(customer_services, "+821044440001")
    customer_services.accounts.join_sites(customer_id, [site])
    customer_services.accounts.join_sites(customer_id, [site])  # no change: not published
    grant_biometric_consent(customer_services, customer_id)
    await customer_services.enrollment.enroll(customer_id, face_photos(10))
    customer_services.accounts.leave_site(customer_id, other)
    grant_biometric_consent(customer_services, customer_id, "withdrawn")
    customer_services.accounts.delete(customer_id, actor="test")
    assert recorder.seen == [
        (ChangeKind.COHORTS_CHANGED, 0),
        (ChangeKind.ENROLLED, 1),  # the listener already reads the committed template
        (ChangeKind.COHORTS_CHANGED, 1),
        (ChangeKind.TEMPLATES_REMOVED, 0),
        (ChangeKind.DELETED, 0),
    ]


def test_a_failing_listener_neither_fails_the_change_nor_starves_the_others(
    customer_services: CustomerServices, changes: ChangeBus, sessions: sessionmaker[Session]
) -> None:
    def broken(change: BiometricChange) -> None:
        raise RuntimeError("gallery down")

    recorder = Recorder(sessions)
    changes.subscribe(broken)
    changes.subscribe(recorder)
    customer_id = verified_customer(customer_services, "+821044440002")
    customer_services.accounts.delete(customer_id, actor="test")
    assert recorder.seen == [(ChangeKind.DELETED, 0)]


def test_two_servers_never_share_a_bus(customer_services: CustomerServices) -> None:
    other_bus = ChangeBus()
    heard: list[BiometricChange] = []
    other_bus.subscribe(heard.append)
    customer_id = verified_customer(customer_services, "+821044440003")
    customer_services.accounts.delete(customer_id, actor="test")
    assert heard == []


def test_the_relay_carries_changes_between_nodes(redis_url: str) -> None:
    database = f"postgresql://test/{uuid.uuid4().hex}"  # names the channel only
    node_a, node_b = ChangeBus(), ChangeBus()
    at_a, at_b = threading.Event(), threading.Event()
    on_a: list[BiometricChange] = []
    on_b: list[BiometricChange] = []

    def listener(seen: list[BiometricChange], event: threading.Event) -> Listener:
        def hear(change: BiometricChange) -> None:
            seen.append(change)
            event.set()

        return hear

    node_a.subscribe(listener(on_a, at_a))
    node_b.subscribe(listener(on_b, at_b))
    for node in (node_a, node_b):
        node.relay = RedisChangeRelay(redis_url, channel_for(database), node.deliver, node.resync)
    try:
        assert node_a.relay is not None and node_a.relay.wait_subscribed()
        assert node_b.relay is not None and node_b.relay.wait_subscribed()
        first = BiometricChange(str(uuid.uuid4()), ChangeKind.ENROLLED)
        node_a.publish(first)
        assert at_b.wait(10) and on_b == [first]
        at_a.clear()
        second = BiometricChange(str(uuid.uuid4()), ChangeKind.DELETED)
        node_b.publish(second)
        assert at_a.wait(10)
        # Channel order: A's own echo of the first came before the second, and was dropped.
        assert on_a == [first, second] and on_b == [first, second]
    finally:
        node_a.close()
        node_b.close()
