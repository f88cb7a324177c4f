"""Wire messages of the sandbox network's HTTP API, shared by the app and its clients."""

from __future__ import annotations

import msgspec

# The network answers operations and enrollment sessions the way its partner API does
# (re-exported; a TSP enrollment session is a partner provisioning session).
from payments.partner_protocol import ErrorReply as ErrorReply
from payments.partner_protocol import OperationReply as OperationReply
from payments.partner_protocol import ProvisioningReply, ProvisioningRequest

SessionRequest = ProvisioningRequest
SessionReply = ProvisioningReply


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
