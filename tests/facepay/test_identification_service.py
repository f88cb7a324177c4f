"""Identification at a site: approve, step-up, deny, with galleries kept current live."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import pytest
from fakes import InMemoryCabinetLink
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from test_customers_support import (
    add_site,
    face_photos,
    grant_biometric_consent,
    probe_embedding,
    verified_customer,
)

from biometrics.engine import FaceEngine
from biometrics.templates import seal_template
from facepay.bootstrap import Services, bootstrap
from facepay.customers import enrollment
from facepay.customers.data_keys import open_data_key
from facepay.customers.enrollment import Extraction, extract_template
from facepay.customers.events import BiometricChange
from facepay.customers.models import Customer, FaceTemplate
from facepay.errors import NotFoundError, ValidationError
from facepay.identification.gallery import SiteGalleries
from facepay.keys.store import ServerKeys
from facepay.settings import Settings

# Five people enrolled at the site; face 21 never enrolls.
ENROLLED = (2, 4, 7, 8, 9)
STRANGER = 21
_extractions: dict[tuple[bytes, ...], Extraction] = {}


@pytest.fixture(autouse=True)
def _extract_each_face_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests are about galleries: the (real) extraction of one set of photos is
    computed once per session instead of once per enrollment."""

    def cached(engine: FaceEngine, images: Sequence[bytes], **kwargs: Any) -> Extraction:
        key = tuple(images)
        if key not in _extractions:
            _extractions[key] = extract_template(engine, images, **kwargs)
        return _extractions[key]

    monkeypatch.setattr(enrollment, "extract_template", cached)


@pytest.fixture
def build_services(
    settings: Settings, server_keys: ServerKeys, sessions: sessionmaker[Session]
) -> Iterator[Callable[[], Services]]:
    """The bootstrap's graph on the migrated database (``sessions`` migrates it), built when
    the test asks: a test that patches the galleries builds after patching, since the change
    bus subscribes the galleries' methods as the graph is built."""
    built: list[Services] = []

    def build() -> Services:
        built.append(bootstrap(settings, link=InMemoryCabinetLink()))
        return built[-1]

    yield build
    for services in built:
        services.close()


@pytest.fixture
def services(build_services: Callable[[], Services]) -> Services:
    return build_services()


async def _enroll(services: Services, phone: str, face: int, site_ids: tuple[str, ...]) -> str:
    customer_id = verified_customer(services.customers, phone, site_ids)
    grant_biometric_consent(services.customers, customer_id)
    await services.customers.enrollment.enroll(customer_id, face_photos(face))
    return customer_id


@pytest.fixture
async def site(services: Services) -> tuple[str, dict[int, str]]:
    site_id = add_site(services.sessions)
    customers = {
        face: await _enroll(services, f"+8210444400{i:02d}", face, (site_id,))
        for i, face in enumerate(ENROLLED)
    }
    return site_id, customers


async def test_enrolled_faces_are_approved_and_a_stranger_denied(
    services: Services, site: tuple[str, dict[int, str]]
) -> None:
    site_id, customers = site
    service = services.identification
    for face, customer_id in customers.items():
        outcome = await service.aidentify(site_id, probe_embedding(face))
        assert outcome.decision == "approve", outcome
        assert outcome.customer_id == customer_id
        assert outcome.reasons == ("above_threshold", "false_match_risk_ok", "clear_margin")
        assert outcome.gallery_size == len(ENROLLED)
        assert outcome.score is not None and outcome.score > 0.6
        assert outcome.display_reason
    outcome = service.identify(site_id, probe_embedding(STRANGER))
    assert outcome.decision == "deny" and outcome.customer_id is None
    assert outcome.reasons == ("below_threshold",)


async def test_empty_and_unknown_sites_and_bad_probes(services: Services) -> None:
    service = services.identification
    empty = add_site(services.sessions, "empty")
    assert service.identify(empty, probe_embedding(2)).reasons == ("empty_gallery",)
    with pytest.raises(NotFoundError):
        service.identify("no-such-site", probe_embedding(2))
    for bad in (np.zeros(512, np.float32), np.ones(128, np.float32), np.full(512, np.nan)):
        with pytest.raises(ValidationError):
            service.identify(empty, bad)
    outcome = service.identify(empty, probe_embedding(2), pack_id="some-other-pack")
    assert outcome.decision == "deny" and outcome.reasons == ("model_pack_mismatch",)


async def test_galleries_follow_enrollment_deletion_and_withdrawal(
    services: Services, site: tuple[str, dict[int, str]]
) -> None:
    site_id, customers = site
    service = services.identification
    assert service.identify(site_id, probe_embedding(STRANGER)).decision == "deny"
    assert service.galleries.built_sites() == [site_id]
    # Enrolls after the gallery was built: found on the very next search.
    newcomer = await _enroll(services, "+821044449999", STRANGER, (site_id,))
    outcome = service.identify(site_id, probe_embedding(STRANGER))
    assert outcome.decision == "approve" and outcome.customer_id == newcomer
    assert outcome.gallery_size == len(ENROLLED) + 1
    services.customers.accounts.delete(newcomer, actor="test")
    assert service.identify(site_id, probe_embedding(STRANGER)).decision == "deny"
    grant_biometric_consent(services.customers, customers[7], "withdrawn")
    assert service.identify(site_id, probe_embedding(7)).decision == "deny"
    services.customers.accounts.leave_site(customers[8], site_id)
    assert service.identify(site_id, probe_embedding(8)).decision == "deny"
    services.customers.accounts.join_sites(customers[8], [site_id])
    assert service.identify(site_id, probe_embedding(8)).customer_id == customers[8]
    # A rebuild from the database agrees with the live updates.
    service.galleries.invalidate()
    assert service.identify(site_id, probe_embedding(7)).decision == "deny"
    assert service.identify(site_id, probe_embedding(8)).customer_id == customers[8]
    assert service.identify(site_id, probe_embedding(2)).gallery_size == len(ENROLLED) - 1


async def test_cohorts_are_separate(services: Services) -> None:
    here, there = add_site(services.sessions, "here"), add_site(services.sessions, "there")
    customer_id = await _enroll(services, "+821044440100", 10, (there,))
    service = services.identification
    assert sorted(service.warm()) == sorted([here, there]) == service.galleries.built_sites()
    assert service.identify(here, probe_embedding(10)).reasons == ("empty_gallery",)
    assert service.identify(there, probe_embedding(10)).customer_id == customer_id


async def test_look_alikes_need_a_step_up_that_narrows_by_last_four(services: Services) -> None:
    """Two customers with the same face (twins, or one person with two accounts)."""
    site_id = add_site(services.sessions)
    first = await _enroll(services, "+821044441111", 11, (site_id,))
    second = await _enroll(services, "+821044442222", 11, (site_id,))
    other = await _enroll(services, "+821044443333", 12, (site_id,))
    service = services.identification
    probe = probe_embedding(11)
    outcome = service.identify(site_id, probe)
    assert outcome.decision == "step_up" and outcome.customer_id is None
    assert "ambiguous_margin" in outcome.reasons
    assert "last 4 digits" in outcome.display_reason
    narrowed = service.identify_with_step_up(site_id, probe, "2222")
    assert narrowed.decision == "approve" and narrowed.customer_id == second
    assert narrowed.gallery_size == 1 and narrowed.step_up_used
    assert service.identify_with_step_up(site_id, probe, "1111").customer_id == first
    # The digits of someone who does not look like the probe: denied, not approved.
    wrong = service.identify_with_step_up(site_id, probe, "3333")
    assert wrong.decision == "deny" and wrong.reasons == ("below_threshold",)
    assert other
    nobody = service.identify_with_step_up(site_id, probe, "0000")
    assert nobody.decision == "deny" and nobody.reasons == ("step_up_no_match",)
    for bad in ("123", "12a4", "12345"):
        with pytest.raises(ValidationError):
            service.identify_with_step_up(site_id, probe, bad)


async def test_templates_of_another_pack_are_never_mixed(services: Services) -> None:
    site_id = add_site(services.sessions)
    customer_id = await _enroll(services, "+821044445555", 13, (site_id,))
    with services.sessions.begin() as session:
        customer = session.get(Customer, customer_id)
        assert customer is not None
        key = open_data_key(services.keys.kek, customer)
        template = session.scalars(select(FaceTemplate)).one()
        old = seal_template(probe_embedding(13), key, customer_id, "w600k_r50-0123456789abcdef", 1)
        template.model_pack_id = "w600k_r50-0123456789abcdef"
        template.sealed = old.to_bytes()
    service = services.identification
    assert service.needs_reenrollment(site_id) == {customer_id}
    assert service.identify(site_id, probe_embedding(13)).reasons == ("empty_gallery",)
    # Re-enrolling with the current pack clears the flag at once.
    await services.customers.enrollment.enroll(customer_id, face_photos(13))
    assert service.needs_reenrollment(site_id) == set()
    assert service.identify(site_id, probe_embedding(13)).customer_id == customer_id


async def test_a_change_during_a_gallery_build_is_not_lost(
    build_services: Callable[[], Services],
    sessions: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The build read the cohort just before an enrollment committed; the change event
    arrives while the build is still running and must not be dropped."""
    site_id = add_site(sessions)
    read_done, change_arrived, go = threading.Event(), threading.Event(), threading.Event()
    build, on_change = SiteGalleries._build, SiteGalleries.on_change

    def slow_build(self: SiteGalleries, site: str) -> None:
        build(self, site)  # has read the (still empty) cohort from the database
        read_done.set()
        go.wait(10)

    def noticed(self: SiteGalleries, change: BiometricChange) -> None:
        change_arrived.set()
        on_change(self, change)

    def release_build_after_the_change() -> None:
        change_arrived.wait(30)
        time.sleep(0.3)  # the change handler is now inside; finish the build
        go.set()

    monkeypatch.setattr(SiteGalleries, "_build", slow_build)
    monkeypatch.setattr(SiteGalleries, "on_change", noticed)
    services = build_services()  # after patching: the change bus holds the patched method
    service = services.identification
    first = threading.Thread(target=service.identify, args=(site_id, probe_embedding(15)))
    first.start()
    assert read_done.wait(10)
    releaser = threading.Thread(target=release_build_after_the_change)
    releaser.start()
    customer_id = await _enroll(services, "+821044446666", 15, (site_id,))
    first.join(10)
    releaser.join(10)
    outcome = service.identify(site_id, probe_embedding(15))
    assert outcome.decision == "approve" and outcome.customer_id == customer_id
