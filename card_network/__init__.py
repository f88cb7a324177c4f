"""The sandbox card network: issuer, token service provider and authorization switch.

A separate ASGI application (``card_network.app.create_sandbox_app``) that the
FacePay server mounts in-process and that also runs on its own
(``python -m card_network``). Its state lives in memory (``SandboxNetwork``), so a
restart forgets every card, token and authorization — it is a test network.

A peer of FacePay, not a part of it: ``payments`` reaches it only over HTTP and never
imports it; the network imports only ``payments``' wire protocols and value types.
"""
