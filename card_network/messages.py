"""Wire messages of the sandbox network's HTTP API.

The token-requestor messages live in ``payments.network_protocol`` (clients use
them too; re-exported here); the operator's messages are the network's own.
"""

from __future__ import annotations

import msgspec

from payments.network_protocol import AmountRequest as AmountRequest
from payments.network_protocol import AuthorizeRequest as AuthorizeRequest
from payments.network_protocol import ErrorReply as ErrorReply
from payments.network_protocol import OperationReply as OperationReply
from payments.network_protocol import SessionReply as SessionReply
from payments.network_protocol import SessionRequest as SessionRequest
from payments.network_protocol import TokenNotification as TokenNotification


class FaultRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    kind: str  # authorize | increment | capture | void | refund
    mode: str  # timeout | unavailable
    count: int = 1
