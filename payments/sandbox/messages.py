"""Wire messages of the sandbox network's HTTP API, shared by the app and its clients."""

from __future__ import annotations

import msgspec

# The network answers operations the way its partner API does (re-exported).
from payments.partner_protocol import ErrorReply as ErrorReply
from payments.partner_protocol import OperationReply as OperationReply


class AuthorizeRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    token: str
    amount: int
    currency: str
    merchant_id: str
    channel: str
    nonce: str
    timestamp: int
    cryptogram: str


class AmountRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    amount: int
    currency: str


class SessionRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    customer_ref: str
    return_url: str


class SessionReply(msgspec.Struct, frozen=True):
    session_id: str
    status: str  # "pending" | "completed"
    hosted_url: str
    token: str | None = None
    brand: str | None = None
    last4: str | None = None
    exp_month: int | None = None
    exp_year: int | None = None
    cryptogram_key: str | None = None  # base64; provisioned to the token requestor only


class TokenNotification(msgspec.Struct, frozen=True):
    id: str
    type: str  # token.suspended | token.resumed | token.deleted
    token: str
    status: str
    created: int


class FaultRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    kind: str  # authorize | increment | capture | void | refund
    mode: str  # timeout | unavailable
    count: int = 1
