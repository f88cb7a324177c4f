"""What cabinets talk to: provisioning over HTTP and the WebSocket gateway."""

from api.cabinets.gateway import cabinet_gateway
from api.cabinets.provisioning import provision_cabinet

route_handlers = [provision_cabinet, cabinet_gateway]
