"""The processors setting: environment and file forms, errors that name the setting,
and the processors the server builds from it."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from facepay.errors import ConfigurationError
from facepay.keys.store import init_keys, load_keys
from facepay.payment_services import build_payment_services
from facepay.processor_settings import (
    PartnerSettings,
    ProcessorSettings,
    SandboxSettings,
    StripeSettings,
)
from facepay.settings import Settings, load_settings, masked
from payments.processors.partner_processor import PartnerProcessor
from payments.processors.sandbox import SandboxProcessor
from payments.processors.stripe_processor import StripeProcessor

PARTNER_SECRET = base64.b64encode(b"p" * 32).decode()
PARTNER_ENV = {
    "FACEPAY_PARTNER_BASE_URL": "https://partner.example/partner/v1",
    "FACEPAY_PARTNER_KEY_ID": "facepay-2026-10",
    "FACEPAY_PARTNER_SECRET": PARTNER_SECRET,
}


def test_default_is_the_in_process_sandbox_alone() -> None:
    settings = load_settings(env={})
    assert settings.processors == ProcessorSettings(sandbox=SandboxSettings())
    assert settings.processors.enabled == ("sandbox",)
    assert settings.default_processor == "sandbox"
    assert settings.sandbox_network_url is None


def test_environment_names_processors_and_their_fields() -> None:
    settings = load_settings(
        env={
            "FACEPAY_PROCESSORS": "stripe, partner",
            "FACEPAY_STRIPE_SECRET_KEY": "sk_test_1",
            "FACEPAY_STRIPE_WEBHOOK_SECRET": "whsec_1",
            "FACEPAY_STRIPE_API_BASE": "http://127.0.0.1:9999",
            "FACEPAY_DEFAULT_PROCESSOR": "partner",
            **PARTNER_ENV,
        }
    )
    assert settings.processors.enabled == ("stripe", "partner")
    assert settings.processors.sandbox is None
    assert settings.processors.stripe == StripeSettings(
        secret_key="sk_test_1", webhook_secret="whsec_1", api_base="http://127.0.0.1:9999"
    )
    assert settings.processors.partner is not None
    assert settings.processors.partner.secret_bytes == b"p" * 32
    assert settings.default_processor == "partner"
    assert settings.stripe_webhook_secret == "whsec_1"


def test_the_variables_from_before_the_table_keep_working() -> None:
    settings = load_settings(
        env={"FACEPAY_SANDBOX_NETWORK_URL": "http://net:8700", "FACEPAY_SANDBOX_API_KEY": "k1"}
    )
    assert settings.processors.sandbox == SandboxSettings(
        network_url="http://net:8700", api_key="k1"
    )
    assert (settings.sandbox_network_url, settings.sandbox_api_key) == ("http://net:8700", "k1")


def test_json_form_of_the_environment_variable() -> None:
    table = {"sandbox": {}, "stripe": {"secret_key": "sk_test_json"}}
    settings = load_settings(env={"FACEPAY_PROCESSORS": json.dumps(table)})
    assert settings.processors.enabled == ("sandbox", "stripe")
    assert settings.processors.stripe == StripeSettings(secret_key="sk_test_json")


def test_file_table_and_environment_beats_file_field_by_field(tmp_path: Path) -> None:
    config = tmp_path / "facepay.toml"
    config.write_text(
        'default_processor = "stripe"\n'
        "[processors.sandbox]\n"
        'network_url = "http://net:8700"\n'
        "[processors.stripe]\n"
        'secret_key = "sk_from_file"\n'
        'webhook_secret = "whsec_from_file"\n'
    )
    settings = load_settings(
        env={"FACEPAY_CONFIG_FILE": str(config), "FACEPAY_STRIPE_SECRET_KEY": "sk_from_env"}
    )
    assert settings.processors.enabled == ("sandbox", "stripe")
    assert settings.processors.stripe == StripeSettings(
        secret_key="sk_from_env", webhook_secret="whsec_from_file"
    )
    assert settings.processors.sandbox == SandboxSettings(network_url="http://net:8700")
    assert settings.default_processor == "stripe"
    # The environment's list wins over the file's tables; their fields still come along.
    only_stripe = load_settings(
        env={"FACEPAY_CONFIG_FILE": str(config), "FACEPAY_PROCESSORS": "stripe"}
    )
    assert only_stripe.processors.enabled == ("stripe",)
    assert only_stripe.processors.stripe == StripeSettings(
        secret_key="sk_from_file", webhook_secret="whsec_from_file"
    )


def test_old_top_level_file_keys_are_read_into_the_table(tmp_path: Path) -> None:
    config = tmp_path / "facepay.toml"
    config.write_text('sandbox_network_url = "http://net:8700"\nsandbox_api_key = "k2"\n')
    settings = load_settings(env={"FACEPAY_CONFIG_FILE": str(config)})
    assert settings.processors.sandbox == SandboxSettings(
        network_url="http://net:8700", api_key="k2"
    )


@pytest.mark.parametrize(
    ("env", "setting", "fragment"),
    [
        ({"FACEPAY_PROCESSORS": "visa"}, "FACEPAY_PROCESSORS", "unknown processor 'visa'"),
        ({"FACEPAY_PROCESSORS": " , "}, "FACEPAY_PROCESSORS", "names no processor"),
        ({"FACEPAY_PROCESSORS": "{oops"}, "FACEPAY_PROCESSORS", "not valid JSON"),
        ({"FACEPAY_PROCESSORS": "stripe"}, "FACEPAY_STRIPE_SECRET_KEY", "required"),
        (
            {"FACEPAY_PROCESSORS": '{"stripe": {"secret_key": "s", "colour": 1}}'},
            "FACEPAY_PROCESSORS",
            "unknown field 'colour'",
        ),
        (
            {"FACEPAY_STRIPE_WEBHOOK_SECRET": "whsec_1"},
            "FACEPAY_STRIPE_WEBHOOK_SECRET",
            "not enabled",
        ),
        ({"FACEPAY_DEFAULT_PROCESSOR": "stripe"}, "FACEPAY_DEFAULT_PROCESSOR", "not an enabled"),
        ({"FACEPAY_SANDBOX_NETWORK_URL": "net:8700"}, "FACEPAY_SANDBOX_NETWORK_URL", "http(s)"),
        (
            {"FACEPAY_PROCESSORS": "partner", **PARTNER_ENV, "FACEPAY_PARTNER_SECRET": "c2hvcnQ"},
            "FACEPAY_PARTNER_SECRET",
            "at least 32 bytes",
        ),
        (
            {"FACEPAY_PROCESSORS": "partner", **PARTNER_ENV, "FACEPAY_PARTNER_SECRET": "!!!"},
            "FACEPAY_PARTNER_SECRET",
            "not base64",
        ),
        (
            {"FACEPAY_PROCESSORS": "partner", **PARTNER_ENV, "FACEPAY_PARTNER_KEY_ID": "a b"},
            "FACEPAY_PARTNER_KEY_ID",
            "without spaces",
        ),
    ],
)
def test_bad_processor_settings_name_the_setting(
    env: dict[str, str], setting: str, fragment: str
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_settings(env=env)
    assert caught.value.setting == setting
    assert fragment in str(caught.value)


def test_file_errors_name_the_file_key(tmp_path: Path) -> None:
    config = tmp_path / "facepay.toml"
    config.write_text('[processors.stripe]\nsecret_key = "s"\nwebhook = "w"\n')
    with pytest.raises(ConfigurationError) as caught:
        load_settings(env={"FACEPAY_CONFIG_FILE": str(config)})
    assert caught.value.setting == "processors.stripe.webhook"
    config.write_text('[processors.partner]\nbase_url = "https://p.example"\nkey_id = "k"\n')
    with pytest.raises(ConfigurationError) as caught:
        load_settings(env={"FACEPAY_CONFIG_FILE": str(config)})
    assert caught.value.setting == "processors.partner.secret"
    config.write_text('[processors.visa]\nkey = "k"\n')
    with pytest.raises(ConfigurationError, match="unknown processor 'visa'"):
        load_settings(env={"FACEPAY_CONFIG_FILE": str(config)})


def test_masked_settings_hide_processor_secrets() -> None:
    settings = load_settings(
        env={
            "FACEPAY_PROCESSORS": "sandbox,stripe,partner",
            "FACEPAY_SANDBOX_API_KEY": "sandbox-secret-1",
            "FACEPAY_STRIPE_SECRET_KEY": "sk_live_secret_2",
            "FACEPAY_STRIPE_WEBHOOK_SECRET": "whsec_secret_3",
            **PARTNER_ENV,
        }
    )
    shown = json.dumps(masked(settings))
    for secret in ("sandbox-secret-1", "sk_live_secret_2", "whsec_secret_3", PARTNER_SECRET):
        assert secret not in shown
    assert "facepay-2026-10" in shown and "partner.example" in shown


def test_command_prints_one_clear_line_for_a_bad_processor(tmp_path: Path) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("FACEPAY_")}
    result = subprocess.run(
        [sys.executable, "-m", "facepay", "doctor"],
        env={**clean, "FACEPAY_DATA_DIR": str(tmp_path / "data"), "FACEPAY_PROCESSORS": "stripe"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines == [
        "facepay: error: FACEPAY_STRIPE_SECRET_KEY: required when processor 'stripe' is enabled"
    ]


def test_the_server_builds_every_enabled_processor(tmp_path: Path) -> None:
    init_keys(tmp_path / "keys")
    processors = ProcessorSettings(
        sandbox=SandboxSettings(),
        stripe=StripeSettings(secret_key="sk_test_built"),
        partner=PartnerSettings(
            base_url="https://partner.example/partner/v1", key_id="k1", secret=PARTNER_SECRET
        ),
    )
    settings = Settings(data_dir=tmp_path, processors=processors, default_processor="stripe")
    services = build_payment_services(settings, load_keys(tmp_path / "keys"))
    try:
        built = services.processors
        assert sorted(built) == ["partner", "sandbox", "stripe"]
        assert isinstance(built["sandbox"], SandboxProcessor)
        assert isinstance(built["stripe"], StripeProcessor)
        assert isinstance(built["partner"], PartnerProcessor)
        assert services.default_processor == "stripe"
        assert services.authorizations.processors == built
    finally:
        services.close()


def test_a_processor_not_enabled_is_not_built(tmp_path: Path) -> None:
    init_keys(tmp_path / "keys")
    processors = ProcessorSettings(sandbox=None, stripe=StripeSettings(secret_key="sk_test_x"))
    settings = Settings(data_dir=tmp_path, processors=processors, default_processor="stripe")
    services = build_payment_services(settings, load_keys(tmp_path / "keys"))
    try:
        assert list(services.processors) == ["stripe"]
    finally:
        services.close()


def test_a_site_may_name_its_own_default_processor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from sqlalchemy import select

    from facepay.cli import main
    from facepay.customers.models import Site
    from facepay.db.engine import open_database

    for key in [k for k in os.environ if k.startswith("FACEPAY_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("FACEPAY_DATA_DIR", str(tmp_path / "var"))
    assert main(["keys", "init"]) == 0
    assert main(["db", "upgrade"]) == 0
    capsys.readouterr()
    assert main(["cabinets", "create-site", "Seongsu", "--processor", "stripe"]) == 2
    assert "'stripe' is not an enabled processor" in capsys.readouterr().err
    monkeypatch.setenv("FACEPAY_PROCESSORS", "sandbox,stripe")
    monkeypatch.setenv("FACEPAY_STRIPE_SECRET_KEY", "sk_test_site")
    assert main(["cabinets", "create-site", "Seongsu", "--processor", "stripe"]) == 0
    assert main(["cabinets", "create-site", "Mangwon"]) == 0
    with open_database(load_settings().effective_database_url) as db, db.sessions() as session:
        sites = {s.name: s.default_processor for s in session.scalars(select(Site))}
    assert sites == {"Seongsu": "stripe", "Mangwon": None}
