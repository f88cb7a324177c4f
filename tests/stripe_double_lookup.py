"""Search and listing in the Stripe *test double* (not Stripe): search by metadata,
optionally lagging behind writes as Stripe's does; listing newest first with paging."""

from __future__ import annotations

import re
import time

from stripe_double_params import JSON, as_int, invalid
from stripe_double_state import StripeState

_SEARCH_CLAUSE = re.compile(r"^metadata\['([^']+)'\]:'([^']*)'$")


def search_intents(state: StripeState, query: str) -> list[JSON]:
    clauses = [c.strip() for c in query.split(" AND ")]
    wanted: dict[str, str] = {}
    for clause in clauses:
        match = _SEARCH_CLAUSE.fullmatch(clause)
        if match is None:
            raise invalid(f"The double only supports metadata['k']:'v' queries: {clause}")
        wanted[match.group(1)] = match.group(2)
    visible_before = time.monotonic() - state.search_lag_seconds
    return [
        pi
        for pi in state.intents.values()
        if state.born[pi["id"]] <= visible_before
        and all(pi["metadata"].get(k) == v for k, v in wanted.items())
    ]


def list_intents(state: StripeState, params: JSON) -> JSON:
    """Newest first, with Stripe's limit / starting_after paging and created[gte]."""
    limit = as_int(params, "limit") or 10
    if limit > 100:
        raise invalid("limit must be at most 100", "limit")
    created = params.get("created", {})
    since = as_int(created, "gte", minimum=0) if isinstance(created, dict) else None
    newest_first = [
        pi
        for pi in reversed(state.intents.values())
        if (since is None or pi["created"] >= since)
        and params.get("customer") in (None, pi["customer"])
    ]
    after = params.get("starting_after")
    if after is not None:
        ids = [pi["id"] for pi in newest_first]
        if after not in ids:
            raise invalid(f"No such payment_intent: '{after}'", "starting_after")
        newest_first = newest_first[ids.index(after) + 1 :]
    return {
        "object": "list",
        "data": newest_first[:limit],
        "has_more": len(newest_first) > limit,
        "url": "/v1/payment_intents",
    }


def list_refunds(state: StripeState, params: JSON) -> JSON:
    pid = params.get("payment_intent")
    data = [r for r in state.refunds.values() if pid is None or r["payment_intent"] == pid]
    return {"object": "list", "data": data, "has_more": False, "url": "/v1/refunds"}
