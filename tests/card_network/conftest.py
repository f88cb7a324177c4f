"""The sandbox network over real HTTP (the same server the payments tests use)."""

from sandbox_network_server import enroll, notify_receiver, processor, sandbox

__all__ = ["enroll", "notify_receiver", "processor", "sandbox"]
