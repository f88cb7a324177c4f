from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from facepay.errors import ConfigurationError
from facepay.settings import Settings, load_settings, masked


def test_defaults_need_nothing_installed() -> None:
    settings = load_settings(env={})
    assert settings.data_dir == Path("var")
    url = settings.effective_database_url
    assert url.get_backend_name() == "sqlite"
    assert url.database == str(Path("var") / "facepay.db")
    assert settings.keys_dir == Path("var") / "keys"


def test_environment_overrides_file(tmp_path: Path) -> None:
    config = tmp_path / "facepay.toml"
    config.write_text('port = 9000\nmode = "production"\nlog_level = "debug"\n')
    settings = load_settings(
        env={"FACEPAY_CONFIG_FILE": str(config), "FACEPAY_PORT": "9100"},
    )
    assert settings.port == 9100
    assert settings.mode == "production"
    assert settings.log_level == "debug"


def test_postgres_url_is_pinned_to_psycopg() -> None:
    settings = load_settings(env={"FACEPAY_DATABASE_URL": "postgresql://u:pw@db:5432/fp"})
    assert settings.effective_database_url.drivername == "postgresql+psycopg"


def test_masked_settings_hide_passwords() -> None:
    settings = Settings(database_url="postgresql://u:hunter2@db/fp", redis_url="redis://:pw@r:6379")
    shown = masked(settings)
    assert "hunter2" not in str(shown)
    assert ":pw@" not in str(shown)


@pytest.mark.parametrize(
    ("env", "setting", "fragment"),
    [
        ({"FACEPAY_DATABASE_URL": "mysql://root@localhost/db"}, "FACEPAY_DATABASE_URL", "mysql"),
        ({"FACEPAY_DATABASE_URL": "not a url"}, "FACEPAY_DATABASE_URL", "not a database URL"),
        ({"FACEPAY_PORT": "eighty"}, "FACEPAY_PORT", "int"),
        ({"FACEPAY_PORT": "70000"}, "FACEPAY_PORT", "65535"),
        ({"FACEPAY_MODE": "prod"}, "FACEPAY_MODE", "prod"),
    ],
)
def test_bad_values_name_the_setting(env: dict[str, str], setting: str, fragment: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_settings(env=env)
    assert caught.value.setting == setting
    assert fragment in str(caught.value)


def test_data_dir_that_is_a_file(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    with pytest.raises(ConfigurationError, match=r"FACEPAY_DATA_DIR: .* not a directory"):
        load_settings(env={"FACEPAY_DATA_DIR": str(blocker)})
    with pytest.raises(ConfigurationError, match=r"FACEPAY_DATA_DIR: .* cannot be created"):
        load_settings(env={"FACEPAY_DATA_DIR": str(blocker / "below")})


def test_malformed_toml(tmp_path: Path) -> None:
    config = tmp_path / "broken.toml"
    config.write_text("port = [\n")
    with pytest.raises(
        ConfigurationError, match=r"FACEPAY_CONFIG_FILE: .*broken.toml is not valid"
    ):
        load_settings(env={"FACEPAY_CONFIG_FILE": str(config)})


def test_unknown_key_in_file(tmp_path: Path) -> None:
    config = tmp_path / "facepay.toml"
    config.write_text('databse_url = "sqlite:///x.db"\n')
    with pytest.raises(ConfigurationError, match="unknown setting 'databse_url'"):
        load_settings(env={"FACEPAY_CONFIG_FILE": str(config)})


def test_wrong_type_in_file_names_the_key(tmp_path: Path) -> None:
    config = tmp_path / "facepay.toml"
    config.write_text('port = "http"\n')
    with pytest.raises(ConfigurationError) as caught:
        load_settings(env={"FACEPAY_CONFIG_FILE": str(config)})
    assert caught.value.setting == "port"


@pytest.mark.parametrize(
    ("env", "setting"),
    [
        ({"FACEPAY_DATABASE_URL": "oracle://scott@db/orcl"}, "FACEPAY_DATABASE_URL"),
        ({"FACEPAY_DATA_DIR": "/etc/hostname"}, "FACEPAY_DATA_DIR"),
        ({"FACEPAY_CONFIG_FILE": "MALFORMED"}, "FACEPAY_CONFIG_FILE"),
    ],
)
def test_command_prints_one_clear_line(tmp_path: Path, env: dict[str, str], setting: str) -> None:
    if env.get("FACEPAY_CONFIG_FILE") == "MALFORMED":
        bad = tmp_path / "bad.toml"
        bad.write_text("[[[")
        env = {"FACEPAY_CONFIG_FILE": str(bad)}
    clean = {k: v for k, v in os.environ.items() if not k.startswith("FACEPAY_")}
    result = subprocess.run(
        [sys.executable, "-m", "facepay", "doctor"],
        env={**clean, "FACEPAY_DATA_DIR": str(tmp_path / "data"), **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"facepay: error: {setting}: ")
