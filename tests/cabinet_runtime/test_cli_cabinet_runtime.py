"""The ``cabinet-runtime`` command: provision, status, run, simulate, config errors."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import stat
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from peer import ProtocolPeer

from cabinet_runtime import protocol as p
from cabinet_runtime.cli import main
from cabinet_runtime.config import ConfigError, load_config

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "cabinet_runtime" / "examples" / "cabinet.toml"
SCENARIOS = Path(__file__).parent / "scenarios"


def _config(tmp_path: Path, **extra: str) -> Path:
    """The shipped example with its state directory moved into tmp_path."""
    text = EXAMPLE.read_text().replace(
        'state_dir = "var/cabinet"', f'state_dir = "{tmp_path / "state"}"'
    )
    for old, new in extra.items():
        text = text.replace(old, new)
    path = tmp_path / "cabinet.toml"
    path.write_text(text)
    return path


@pytest.fixture
async def peer() -> AsyncIterator[ProtocolPeer]:
    server = ProtocolPeer()
    await server.start()
    yield server
    await server.stop()


def test_the_example_config_loads() -> None:
    config = load_config(EXAMPLE)
    assert config.planogram.currency == "USD"
    assert config.timeouts.cold_chain_s == 30 * 60
    assert config.state_dir == EXAMPLE.parent / "var" / "cabinet"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("[telemetry]", "[telemetry]\nintervall_s = 3"), "intervall_s"),
        (("unlock_s = 15.0", "unlock_s = -1"), "unlock_s"),
        (('sku = "bar-protein", count = 8', 'sku = "ghost", count = 8'), "unknown SKU"),
        (("[link]", "[link\n"), "cannot read"),
    ],
)
def test_a_bad_config_is_a_clear_error(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    path = _config(tmp_path, **{change[0]: change[1]})
    with pytest.raises(ConfigError, match=message):
        load_config(path)


def test_cli_reports_config_errors_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["status", "--config", str(tmp_path / "missing.toml")]) == 2
    assert "no such file" in capsys.readouterr().err


async def test_provision_then_status(
    peer: ProtocolPeer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(tmp_path)
    assert main(["status", "--config", str(config), "--json"]) == 0
    before = json.loads(capsys.readouterr().out)
    assert before["provisioned"] is False
    code = peer.issue_code("cab-cli")
    args = ["provision", "--server", peer.http_url, "--code", code, "--config", str(config)]
    assert await asyncio.to_thread(main, args) == 0
    assert "cab-cli" in capsys.readouterr().out
    key = tmp_path / "state" / "device_key.pem"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert await asyncio.to_thread(main, args) == 1  # the code is used up / already provisioned
    assert "already provisioned" in capsys.readouterr().err
    assert main(["status", "--config", str(config), "--json"]) == 0
    after = json.loads(capsys.readouterr().out)
    assert after["provisioned"] is True
    assert after["cabinet_id"] == "cab-cli"
    assert after["outbox_depth"] == 0
    assert after["session_state"] == "idle"
    assert after["lockout"] is None


async def test_run_connects_sends_telemetry_and_stops_on_sigterm(
    peer: ProtocolPeer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(
        tmp_path,
        **{"interval_s = 60.0": "interval_s = 0.5", "faces = true": "faces = false"},
    )
    code = peer.issue_code("cab-run")
    args = ["provision", "--server", peer.http_url, "--code", code, "--config", str(config)]
    assert await asyncio.to_thread(main, args) == 0
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(
        [sys.executable, "-m", "cabinet_runtime", "run", "--config", str(config)], env=env
    )
    try:
        await peer.wait_for(lambda: len(peer.messages_of(p.Telemetry)) >= 2, timeout_s=60)
    finally:
        process.send_signal(signal.SIGTERM)
        returncode = await asyncio.to_thread(process.wait, 30)
    assert returncode == 0
    telemetry = peer.messages_of(p.Telemetry)[-1]
    assert telemetry.state == "idle"
    assert telemetry.locked
    assert {s.lane for s in telemetry.stock} == {"top-1", "top-2", "bottom-1"}
    assert main(["status", "--config", str(config)]) == 0
    assert "cab-run" in capsys.readouterr().out


async def test_run_with_bad_hardware_settings_is_a_usage_error(
    peer: ProtocolPeer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(tmp_path, **{'driver = "simulated"': 'driver = "warp-drive"'})
    code = peer.issue_code("cab-bad")
    args = ["provision", "--server", peer.http_url, "--code", code, "--config", str(config)]
    assert await asyncio.to_thread(main, args) == 0
    assert main(["run", "--config", str(config)]) == 2
    assert "warp-drive" in capsys.readouterr().err


def test_run_without_provisioning_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", "--config", str(_config(tmp_path))]) == 1
    assert "provision" in capsys.readouterr().err


def test_simulate_delegates_to_the_scenario_bench(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = sorted(SCENARIOS.glob("*.json"))[0]
    assert main(["simulate", str(scenario), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["summary"]["scenarios"] == 1
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert main(["simulate", str(bad)]) == 2
