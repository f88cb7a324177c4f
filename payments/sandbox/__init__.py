"""The sandbox card network: issuer, token service provider and authorization switch.

A separate ASGI application (``payments.sandbox.app.create_sandbox_app``) that the
FacePay server mounts in-process and that also runs on its own
(``python -m payments.sandbox``). Its state lives in memory (``SandboxNetwork``), so a
restart forgets every card, token and authorization — it is a test network.
"""
