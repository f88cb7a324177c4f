"""The FacePay demo: a server, a simulated cabinet and customers, end to end.

This package sits above all the others: like the tests, it drives the server
(``api``/``facepay``) and a cabinet (``cabinet_runtime``) in one process, so a
newcomer can watch the whole purchase loop with one command, ``facepay demo``.
The same pieces serve the end-to-end tests and ``benchmarks/checkout.py``.
"""
