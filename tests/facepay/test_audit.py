from __future__ import annotations

import os
import subprocess
import sys
import threading

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from facepay.compliance.audit import append, verify_chain
from facepay.compliance.models import AuditEntry
from facepay.settings import Settings


def _write(sessions: sessionmaker[Session], count: int) -> list[int]:
    seqs = []
    for i in range(count):
        with sessions.begin() as session:
            entry = append(
                session,
                actor="staff:kim",
                action="customer.export",
                subject=f"c{i}",
                details={"n": i, "reason": "user request", "note": "동의 확인"},
            )
            seqs.append(entry.seq)
    return seqs


def _verify(sessions: sessionmaker[Session]) -> tuple[bool, int | None]:
    with sessions() as session:
        report = verify_chain(session)
    return report.ok, report.broken_seq


def test_intact_chain_verifies(sessions: sessionmaker[Session]) -> None:
    _write(sessions, 5)
    with sessions() as session:
        report = verify_chain(session)
    assert report.ok and report.entries == 5


def test_modified_entry_is_named(sessions: sessionmaker[Session]) -> None:
    seqs = _write(sessions, 5)
    with sessions.begin() as session:
        session.execute(
            update(AuditEntry).where(AuditEntry.seq == seqs[2]).values(subject="someone-else")
        )
    assert _verify(sessions) == (False, seqs[2])


def test_deleted_entry_breaks_the_next_one(sessions: sessionmaker[Session]) -> None:
    seqs = _write(sessions, 5)
    with sessions.begin() as session:
        session.execute(delete(AuditEntry).where(AuditEntry.seq == seqs[1]))
    assert _verify(sessions) == (False, seqs[2])


def test_reordered_entries_are_detected(sessions: sessionmaker[Session]) -> None:
    seqs = _write(sessions, 5)
    columns = ("occurred_at", "actor", "action", "subject", "details", "prev_hash", "entry_hash")
    with sessions.begin() as session:
        a = session.get(AuditEntry, seqs[1])
        b = session.get(AuditEntry, seqs[3])
        assert a is not None and b is not None
        values_a = {c: getattr(a, c) for c in columns}
        values_b = {c: getattr(b, c) for c in columns}
        # Swap whole rows: each row still hashes correctly on its own.
        for column in ("prev_hash", "entry_hash"):
            setattr(a, column, f"tmp-{column}-a")
            setattr(b, column, f"tmp-{column}-b")
        session.flush()
        for column in columns:
            setattr(a, column, values_b[column])
            setattr(b, column, values_a[column])
    assert _verify(sessions) == (False, seqs[1])


def test_concurrent_appends_keep_one_chain(sessions: sessionmaker[Session]) -> None:
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for i in range(8):
                with sessions.begin() as session:
                    append(session, actor=f"worker-{n}", action="test.append", details={"i": i})
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with sessions() as session:
        report = verify_chain(session)
        assert report.ok and report.entries == 32
        assert len(set(session.scalars(select(AuditEntry.prev_hash)))) == 32


def test_command_exits_non_zero_naming_the_entry(
    sessions: sessionmaker[Session], settings: Settings, server_keys: object
) -> None:
    seqs = _write(sessions, 3)
    env = {
        **os.environ,
        "FACEPAY_DATA_DIR": str(settings.data_dir),
        "FACEPAY_DATABASE_URL": settings.effective_database_url.render_as_string(
            hide_password=False
        ),
    }
    ok = subprocess.run(
        [sys.executable, "-m", "facepay", "audit", "verify"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert ok.returncode == 0, ok.stderr
    assert "3 entries" in ok.stdout
    with sessions.begin() as session:
        session.execute(
            update(AuditEntry).where(AuditEntry.seq == seqs[1]).values(details='{"n":99}')
        )
    broken = subprocess.run(
        [sys.executable, "-m", "facepay", "audit", "verify"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert broken.returncode == 1
    assert f"broken at entry {seqs[1]}" in broken.stderr
