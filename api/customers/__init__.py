"""The customers' surfaces: the /v1 JSON API, the /m mobile pages and receipts.

The application mounts ``route_handlers`` and passes ``dependencies(services)`` (one
``Provide`` per customer service) to ``Litestar(dependencies=...)``.
"""

from __future__ import annotations

from litestar.types import ControllerRouterHandler

from api.customers.controller import CustomerController
from api.customers.dependencies import customer_dependencies as dependencies
from api.customers.pages import customer_pages
from api.customers.receipts import ReceiptLookup, receipt_json, receipt_lookup, receipt_page

route_handlers: tuple[ControllerRouterHandler, ...] = (
    CustomerController,
    customer_pages,
    receipt_page,
    receipt_json,
)

__all__ = ("ReceiptLookup", "dependencies", "receipt_lookup", "route_handlers")
