"""Finding out what Stripe did with a request whose answer was lost.

Holds are found by our idempotency key in the intent's metadata: first with Stripe's
search, then, because search lags writes by up to about a minute, by listing the
intents created recently (listing is consistent). Everything after the hold is read
from the hold group the authorization_ref names.
"""

from __future__ import annotations

import time
from typing import Any

from payments.errors import ProcessorError
from payments.money import Money
from payments.processor import OperationKind, Outcome
from payments.processors.stripe_hold_group import (
    PART_METADATA,
    HoldGroup,
    HoldGroupReader,
)
from payments.processors.stripe_outcomes import (
    KEY_METADATA,
    increment_marker,
    intent_decline,
    metadata_value,
    money,
    translated_errors,
)

_HELD_OR_DONE = ("requires_capture", "succeeded", "canceled")


class StripeRecovery:
    def __init__(self, v1: Any, reader: HoldGroupReader, recent_scan_seconds: int) -> None:
        self._v1 = v1
        self._reader = reader
        self._recent_scan_seconds = recent_scan_seconds

    def query(
        self, kind: OperationKind, idempotency_key: str, authorization_ref: str | None
    ) -> Outcome | None:
        with translated_errors():
            if kind is OperationKind.AUTHORIZE:
                return self._authorization(idempotency_key)
            if kind is OperationKind.LINK:
                raise ProcessorError("link sessions are resumed with complete_link, not queried")
            if authorization_ref is None:
                raise ProcessorError(f"querying a {kind.value} needs the authorization_ref")
            group = self._reader.group(authorization_ref)
            if kind is OperationKind.REFUND:
                return self._refund(group, idempotency_key)
            if kind is OperationKind.INCREMENT:
                applied = metadata_value(group.original, increment_marker(idempotency_key))
                if applied is None:
                    return None
                return group.approved(kind, idempotency_key, money(int(applied), group.currency))
            captured = group.original.status == "succeeded" and group.settled
            if kind is OperationKind.CAPTURE and captured:
                return group.approved(kind, idempotency_key, group.total("amount_received"))
            if kind is OperationKind.VOID and group.canceled:
                return group.approved(kind, idempotency_key, group.total("amount"))
            return None

    def _authorization(self, idempotency_key: str) -> Outcome | None:
        escaped = idempotency_key.replace("\\", "\\\\").replace("'", "\\'")
        found = self._v1.payment_intents.search(
            {"query": f"metadata['{KEY_METADATA}']:'{escaped}'", "expand": ["data.latest_charge"]}
        )
        intent = found.data[0] if found.data else self._scan_recent(idempotency_key)
        if intent is None:
            return None
        amount = money(intent.amount, str(intent.currency))
        kind = OperationKind.AUTHORIZE
        if intent.status in _HELD_OR_DONE and intent.latest_charge:
            return HoldGroup((intent,)).approved(kind, idempotency_key, amount)
        return intent_decline(kind, idempotency_key, intent, amount)

    def _scan_recent(self, idempotency_key: str) -> Any:
        since = int(time.time()) - self._recent_scan_seconds
        page = self._v1.payment_intents.list(
            {"created": {"gte": since}, "limit": 100, "expand": ["data.latest_charge"]}
        )
        for intent in page.auto_paging_iter():
            if metadata_value(intent, KEY_METADATA) == idempotency_key:
                return intent
        return None

    def _refund(self, group: HoldGroup, idempotency_key: str) -> Outcome | None:
        """Approved only when every part of a refund spread over the group was applied."""
        parts = [r for i in group.intents for r in self._reader.refunds(i, idempotency_key)]
        declared = {(metadata_value(r, PART_METADATA) or "1/1").partition("/")[2] for r in parts}
        if not parts or declared != {str(len(parts))}:
            return None
        total: Money = money(sum(int(r.amount) for r in parts), group.currency)
        return group.approved(OperationKind.REFUND, idempotency_key, total)
