"""A blocking HTTP client for processors that works over the network or in-process.

Processor methods are synchronous (the server calls them from threads). With a normal
transport this is ``httpx.Client``; with an async transport such as
``httpx.ASGITransport`` (an ASGI app mounted in-process) requests run on a private
event-loop thread, with the same timeout semantics.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping
from typing import Any

import httpx


class BlockingHttp:
    def __init__(
        self,
        base_url: str,
        *,
        timeout: float,
        transport: httpx.BaseTransport | httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.timeout = timeout
        self._sync: httpx.Client | None = None
        self._async: httpx.AsyncClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        if isinstance(transport, httpx.AsyncBaseTransport):
            self._loop = asyncio.new_event_loop()
            threading.Thread(target=self._loop.run_forever, daemon=True, name="http").start()
            self._async = httpx.AsyncClient(base_url=base_url, transport=transport, timeout=timeout)
        else:
            self._sync = httpx.Client(base_url=base_url, transport=transport, timeout=timeout)

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        if self._sync is not None:
            return self._sync.request(method, path, json=json, headers=headers)
        assert self._async is not None and self._loop is not None
        client = self._async

        async def call() -> httpx.Response:
            try:
                # ASGITransport ignores httpx timeouts; enforce the read timeout here.
                return await asyncio.wait_for(
                    client.request(method, path, json=json, headers=headers), self.timeout
                )
            except TimeoutError as exc:
                raise httpx.ReadTimeout("timed out waiting for the response") from exc

        return asyncio.run_coroutine_threadsafe(call(), self._loop).result()

    def close(self) -> None:
        if self._sync is not None:
            self._sync.close()
        if self._async is not None and self._loop is not None:
            asyncio.run_coroutine_threadsafe(self._async.aclose(), self._loop).result()
            self._loop.call_soon_threadsafe(self._loop.stop)
