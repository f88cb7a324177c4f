"""A server started as its own process, waited for until it answers: the tests' way to
run `facepay serve` or the sandbox network as a user would."""

from __future__ import annotations

import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from typing import IO

import httpx


@dataclass
class ServerProcess:
    args: list[str]
    env: dict[str, str]
    probe: str  # a URL that answers below 500 once the server is up
    proc: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] = field(default_factory=tempfile.TemporaryFile)

    def start(self, timeout: float = 60) -> None:
        self.proc = subprocess.Popen(self.args, env=self.env, stdout=self._log, stderr=self._log)
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(self.probe, timeout=2).status_code < 500:
                    return
            except httpx.TransportError:
                pass
            assert self.proc.poll() is None, f"{self.args} exited:\n{self.output()}"
            assert time.monotonic() < deadline, f"{self.args} did not start:\n{self.output()}"
            time.sleep(0.1)

    def output(self) -> str:
        self._log.seek(0)
        return self._log.read().decode(errors="replace")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(20)
        self._log.close()
