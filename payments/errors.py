"""The payments domain exception hierarchy. The API maps these to problem details."""

from __future__ import annotations


class PaymentsError(Exception):
    """Base of every error raised by the payments package."""


class InvalidRequestError(PaymentsError):
    """Bad input: nothing was changed."""


class InvalidAmountError(InvalidRequestError):
    pass


class UnsupportedCurrencyError(InvalidRequestError):
    pass


class NotFoundError(PaymentsError):
    pass


class IdempotencyConflictError(PaymentsError):
    """The key was used before with different parameters."""


class IdempotencyInProgressError(PaymentsError):
    """Another call with this key is still running (or died before finishing)."""


class LedgerError(PaymentsError):
    pass


class TransferRejectedError(LedgerError):
    """A transfer broke a ledger rule (balance limit, currency, already resolved...)."""


class ProcessorError(PaymentsError):
    """The processor refused the request as malformed or not allowed (not a decline)."""


class ProcessorUnavailableError(PaymentsError):
    """The processor could not be reached; the request was certainly not applied."""


class UnknownOutcomeError(ProcessorUnavailableError):
    """The request may or may not have been applied (e.g. a timeout after sending).

    Recover by querying the processor with the same idempotency key.
    """


class OpenDebtError(PaymentsError):
    """The customer owes money and cannot get a new hold until it is settled."""


class LinkNotCompletedError(ProcessorError):
    """The customer has not finished entering the card on the processor's page."""


class OperationInProgressError(PaymentsError):
    """An earlier operation on this authorization has no known outcome yet."""


class DebtAlreadySettledError(InvalidRequestError):
    """The debt a retry charge was for has been settled in the meantime."""


class CredentialKeyError(PaymentsError):
    """A stored credential cannot be decrypted: its key version is missing or wrong."""
