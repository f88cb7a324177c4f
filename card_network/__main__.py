"""Run the sandbox card network on its own: ``python -m card_network``.

Configured from the command line or environment (SANDBOX_REQUESTOR_ID, SANDBOX_API_KEY,
SANDBOX_ADMIN_KEY, SANDBOX_NOTIFY_URL, SANDBOX_NOTIFY_SECRET). State is in memory.
"""

from __future__ import annotations

import argparse
import os

import uvicorn

from card_network.app import create_sandbox_app
from card_network.config import SandboxConfig, TokenRequestor


def main(argv: list[str] | None = None) -> None:
    env = os.environ.get
    parser = argparse.ArgumentParser(description="Sandbox card network")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8700)
    parser.add_argument("--requestor-id", default=env("SANDBOX_REQUESTOR_ID", "facepay"))
    parser.add_argument("--api-key", default=env("SANDBOX_API_KEY"))
    parser.add_argument("--admin-key", default=env("SANDBOX_ADMIN_KEY", ""))
    parser.add_argument("--notify-url", default=env("SANDBOX_NOTIFY_URL"))
    parser.add_argument("--notify-secret", default=env("SANDBOX_NOTIFY_SECRET", ""))
    parser.add_argument("--public-url", default=env("SANDBOX_PUBLIC_URL"))
    args = parser.parse_args(argv)
    if not args.api_key:
        parser.error("an API key is required (--api-key or SANDBOX_API_KEY)")
    config = SandboxConfig(
        requestors=(
            TokenRequestor(
                requestor_id=args.requestor_id,
                api_key=args.api_key,
                notify_url=args.notify_url,
                notify_secret=args.notify_secret,
            ),
        ),
        admin_key=args.admin_key,
        public_url=args.public_url,
    )
    uvicorn.run(create_sandbox_app(config), host=args.host, port=args.port)


if __name__ == "__main__":
    main()
