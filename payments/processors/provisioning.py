"""The payment method a completed card-provisioning session hands over."""

from __future__ import annotations

import base64

from payments.errors import LinkNotCompletedError
from payments.partner_protocol import ProvisioningReply
from payments.processor import PaymentMethod


def provisioned_method(processor: str, reply: ProvisioningReply, pending: str) -> PaymentMethod:
    """The network token and its cryptogram key; ``pending`` is the error while the
    customer has not finished on the network's page."""
    if reply.status != "completed" or not reply.token or not reply.cryptogram_key:
        raise LinkNotCompletedError(pending)
    return PaymentMethod(
        processor=processor,
        token_ref=reply.token,
        brand=reply.brand or "unknown",
        last4=reply.last4 or "",
        exp_month=reply.exp_month or 0,
        exp_year=reply.exp_year or 0,
        credential=base64.b64decode(reply.cryptogram_key),
    )
