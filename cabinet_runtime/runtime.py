"""The cabinet's main loop: hardware, session machine, identification, link, telemetry.

Concurrency model: the session machine and every hardware call run on one
dedicated worker thread (``call``), so the machine stays single-threaded and
its blocking work (pick recognition, SQLite fsyncs) never stalls the event
loop; face inference runs on the biometrics inference pool; the event loop
only does network I/O. With simulated hardware on a manual clock, the clock is
advanced in real time on each tick.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from biometrics.engine import run_in_thread
from cabinet_runtime import protocol as p
from cabinet_runtime.commands import CommandRejectedError, CommandVerifier
from cabinet_runtime.config import CabinetConfig
from cabinet_runtime.hardware.bundle import Hardware
from cabinet_runtime.hardware.clock import ManualClock
from cabinet_runtime.hardware.interfaces import BgrFrame, DepthMap
from cabinet_runtime.identification import FaceEvidence, FrontIdentifier, QrEvidence
from cabinet_runtime.identity import IdentityStore
from cabinet_runtime.link import Backoff, Link
from cabinet_runtime.outbox import Outbox
from cabinet_runtime.picks.planogram import Planogram
from cabinet_runtime.picks.recognizer import PickRecognizer
from cabinet_runtime.session import SessionError, SessionMachine
from cabinet_runtime.session_model import SessionState
from cabinet_runtime.store import LocalStore
from cabinet_runtime.telemetry import TelemetrySampler

log = logging.getLogger(__name__)

T = TypeVar("T")
OUTBOX_FILE = "outbox.db"
STORE_FILE = "state.db"
PRUNE_EVERY_S = 600.0
KEEP_ACKNOWLEDGED_S = 24 * 3600.0  # acknowledged outbox rows kept for a day, for inspection


def build_identifier(config: CabinetConfig) -> FrontIdentifier:
    """The configured identifier; the face models load on first use, off the loop.

    The passive anti-spoofing model is used only when ``antispoof_model`` names one
    (relative paths from the config file's folder); nothing is looked up elsewhere.
    """
    ident = config.identification
    if not ident.faces:
        return FrontIdentifier(None, qr_prefix=ident.qr_prefix)
    from biometrics.engine import FaceEngine
    from biometrics.liveness.passive import PassiveModel
    from biometrics.liveness.report import LivenessConfig
    from biometrics.model_pack import inspect_pack

    pack_dir = config.resolve(ident.model_pack_dir) if ident.model_pack_dir else None
    passive = None
    if ident.antispoof_model:
        passive = PassiveModel.load(config.resolve(ident.antispoof_model))
    return FrontIdentifier(
        FaceEngine.load(inspect_pack(pack_dir)),
        frames_required=ident.frames_required,
        liveness=LivenessConfig(passive_alone_suffices=ident.passive_alone_suffices),
        passive_model=passive,
        motion=ident.motion_liveness,
        qr_prefix=ident.qr_prefix,
    )


class CabinetRuntime:
    def __init__(
        self,
        config: CabinetConfig,
        *,
        hardware: Hardware | None = None,
        identifier: FrontIdentifier | None = None,
    ) -> None:
        from cabinet_runtime.hardware.factory import build_hardware

        self.config = config
        state_dir = config.state_dir
        self.identity = IdentityStore(state_dir).load()
        self.outbox = Outbox(state_dir / OUTBOX_FILE)
        self.store = LocalStore(state_dir / STORE_FILE)
        self.hardware = hardware or build_hardware(config.hardware, base_dir=config.base_dir)
        self._identifier = identifier
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cabinet-session")
        self._stopping = asyncio.Event()
        self._real_start = time.monotonic()
        self._clock_start = self.hardware.clock.monotonic()
        self._last_prune = float("-inf")
        link = config.link
        self.link = Link(
            identity=self.identity,
            outbox=self.outbox,
            handler=self._on_server_message,
            url=config.cabinet.gateway_url,
            backoff=Backoff(initial_s=link.backoff_initial_s, max_s=link.backoff_max_s),
            resend_after_s=link.resend_after_s,
            auth_timeout_s=link.auth_timeout_s,
            firmware=config.cabinet.firmware,
        )
        self.machine = SessionMachine(
            hardware=self.hardware,
            outbox=self.outbox,
            store=self.store,
            state_dir=state_dir,
            make_recognizer=self._recognizer,
            planogram=config.planogram,
            link_up=lambda: self.link.up,
            timeouts=config.timeouts,
        )
        self.verifier = CommandVerifier(
            cabinet_id=self.identity.cabinet_id,
            server_key=self.identity.server_key,
            nonces=self.store,
            wall_clock=lambda: time.time() + self.link.server_offset_s,
        )
        self.telemetry = TelemetrySampler(
            self.hardware,
            self.machine,
            interval_s=config.telemetry.interval_s,
            temperature_delta_c=config.telemetry.temperature_delta_c,
        )
        self._last_token: str | None = None
        self._apply_telemetry_override()

    def _apply_telemetry_override(self) -> None:
        override = self.machine.config_override
        if override is not None and override.telemetry_interval_s is not None:
            self.telemetry.interval_s = override.telemetry_interval_s

    def _recognizer(self, planogram: Planogram) -> PickRecognizer:
        return PickRecognizer(planogram, image_dir=self.config.base_dir)

    async def call(self, fn: Callable[..., T], *args: object) -> T:
        """Run ``fn`` on the session thread (where the machine and hardware live)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._worker, lambda: fn(*args))

    # --- lifecycle ----------------------------------------------------------------------------

    async def run(self) -> None:
        """Run until ``stop()``."""
        await self.call(self.machine.recover)
        tasks = [
            asyncio.create_task(self.link.run(), name="link"),
            asyncio.create_task(self._tick_loop(), name="tick"),
            asyncio.create_task(self._identify_loop(), name="identify"),
        ]
        try:
            await self._stopping.wait()
        finally:
            self.link.stop()
            for task in tasks[1:]:
                task.cancel()
            results = await asyncio.gather(*tasks, return_exceptions=True)
            self._worker.shutdown(wait=True)
            self.outbox.close()
            self.store.close()
            for result in results:
                if isinstance(result, Exception):
                    log.error("runtime task failed: %r", result)

    def stop(self) -> None:
        self._stopping.set()

    # --- loops --------------------------------------------------------------------------------

    async def _tick_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                await self.call(self._tick)
            except Exception:  # a broken tick must not stop the cabinet; it is logged
                log.exception("session tick failed")
            await asyncio.sleep(self.config.session.tick_s)

    def _tick(self) -> None:
        clock = self.hardware.clock
        if isinstance(clock, ManualClock):
            clock.advance_to(self._clock_start + time.monotonic() - self._real_start)
        self.machine.tick()
        if self.machine.state is SessionState.STEP_UP:
            digits = self.hardware.keypad.read_digits(4, timeout_s=0.0)
            if digits is not None:
                try:
                    self.machine.submit_step_up(digits)
                except ValueError:
                    self.hardware.display.show("Please enter 4 digits")
        telemetry = self.telemetry.due()
        if telemetry is not None:
            self.outbox.put(telemetry)
        now = time.time()
        if now - self._last_prune >= PRUNE_EVERY_S:
            self.store.prune_nonces(now + self.link.server_offset_s)
            self.outbox.prune_acknowledged(older_than=now - KEEP_ACKNOWLEDGED_S)
            self._last_prune = now

    async def _identify_loop(self) -> None:
        if not self.config.identification.enabled:
            return
        if self._identifier is None:
            try:
                self._identifier = await asyncio.to_thread(build_identifier, self.config)
            except Exception:  # a broken model pack must not take QR purchases down too
                log.exception("face identification unavailable; reading QR codes only")
                self._identifier = FrontIdentifier(
                    None, qr_prefix=self.config.identification.qr_prefix
                )
        identifier = self._identifier
        while not self._stopping.is_set():
            await asyncio.sleep(self.config.identification.interval_s)
            frame, depth = await self.call(self._read_front)
            if frame is None:
                identifier.reset()
                continue
            try:
                evidence = await run_in_thread(identifier.observe, frame, depth)
            except Exception:  # one bad frame is logged and skipped
                log.exception("identification failed on a frame")
                identifier.reset()
                continue
            if evidence is not None:
                await self.call(self._begin, evidence)

    def _read_front(self) -> tuple[BgrFrame | None, DepthMap | None]:
        # After a session the customer is often still in front of the camera:
        # wait for the cool-down before identifying anyone again.
        idle_for = self.hardware.clock.monotonic() - self.machine.idle_since
        if not self.machine.can_start() or idle_for < self.config.identification.cooldown_s:
            return None, None
        depth_camera = self.hardware.depth_camera
        frame = self.hardware.front_camera.read()
        depth = depth_camera.read() if depth_camera is not None else None
        return frame, depth

    def _begin(self, evidence: FaceEvidence | QrEvidence) -> None:
        try:
            if isinstance(evidence, QrEvidence):
                if evidence.token == self._last_token:
                    return  # a phone still showing the token of the previous attempt
                self.machine.begin_identify(qr_token=evidence.token)
                self._last_token = evidence.token
            else:
                self.machine.begin_identify(
                    embedding=evidence.embedding,
                    quality=evidence.quality,
                    liveness=evidence.liveness,
                    pack_id=evidence.pack_id,
                )
        except SessionError as exc:
            log.info("identification not started: %s", exc)

    # --- server messages ----------------------------------------------------------------------

    async def _on_server_message(self, message: p.ServerMessage) -> p.Message | None:
        if isinstance(message, p.SignedCommand):
            return await self._on_command(message)
        if isinstance(message, p.IdentifyResult):
            await self.call(self.machine.on_identify_result, message)
        elif isinstance(message, p.SessionSettled):
            await self.call(self.machine.on_settled, message)
        elif isinstance(message, p.ErrorReply):
            log.warning("server error %s: %s (re %s)", message.code, message.detail, message.ref_id)
            if message.code == "basket_rejected":
                await self.call(self.machine.on_basket_rejected, message)
        else:
            log.warning("unexpected %s from the server", type(message).__name__)
        return None

    async def _on_command(self, signed: p.SignedCommand) -> p.Message | None:
        try:
            command = self.verifier.verify(signed)
        except CommandRejectedError as exc:
            log.warning("command rejected: %s", exc)
            return p.error_reply(f"command_{exc.reason}", exc.detail, ref_id=signed.id)
        try:
            await self.call(self.machine.on_command, command)
            if isinstance(command, p.ConfigCommand):
                self._apply_telemetry_override()
        except SessionError as exc:
            log.warning("command not applicable: %s", exc)
            return p.error_reply("command_not_applicable", str(exc), ref_id=signed.id)
        return None


async def run_until_signalled(runtime: CabinetRuntime) -> None:
    """Run the runtime; SIGINT/SIGTERM stop it cleanly (the outbox keeps what is unsent)."""
    import signal

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, runtime.stop)
    await runtime.run()
