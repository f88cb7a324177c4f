"""What cabinets talk to: provisioning over HTTP and the WebSocket gateway."""

from api.cabinets.gateway import cabinet_gateway
from api.cabinets.provisioning import provision_cabinet

ROUTE_HANDLERS = (provision_cabinet, cabinet_gateway)
