"""FacePay payments: a library that owns its tables.

Entry points (import from the modules; this package imports nothing eagerly):

- ``payments.money.Money`` — integer minor units + ISO 4217 currency.
- ``payments.processor.Processor`` — the processor protocol and normalised outcomes.
- ``payments.db`` — ``PaymentsBase``, ``payments_metadata()``, ``create_payments_engine``.
- ``payments.ledger`` — two-phase ledger, ``verify_ledger``; ``payments.ledger.cli``.
- ``payments.idempotency.IdempotencyStore`` — idempotent mutating operations.
- ``payments.methods.PaymentMethodStore`` — linked tokens, credentials encrypted.
- ``payments.authorizations.service.AuthorizationService`` — hold, increment, capture,
  void, refund; ``payments.authorizations.reconcile.Reconciler``;
  ``payments.maintenance.run_maintenance``.
- ``payments.debt.DebtService`` — open debts, retry charge, staff settlement.
- ``payments.processors.sandbox.SandboxProcessor`` — the processor for the sandbox
  card network, a peer system (the top-level ``card_network`` package) reached only over
  HTTP; ``payments.network_protocol`` holds the wire messages both sides use.
"""
