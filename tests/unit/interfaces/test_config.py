"""Configuration: cfg.yml < environment < flags, typed, bad keys named, secrets hidden."""

import json
import logging

import attrs
import pytest

from hexkernel.interfaces.config import (
    ConfigurationError,
    Secret,
    Settings,
    load_settings,
    redacted,
)


def write(tmp_path, text):
    path = tmp_path / "cfg.yml"
    path.write_text(text)
    return path


def test_defaults_apply_without_any_source(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = load_settings(environ={})
    assert settings == Settings()
    assert settings.mongo.uri is None
    assert settings.http.port == 8000


def test_precedence_is_flag_then_environment_then_file_then_default(tmp_path):
    path = write(tmp_path, "http:\n  port: 7000\n  host: 0.0.0.0\nservice: from-file\n")
    environ = {"HEXKERNEL_HTTP__PORT": "7100", "HEXKERNEL_SERVICE": "from-env"}
    settings = load_settings(
        config_file=path, environ=environ, flags={"http.port": 7200, "http.host": None}
    )
    assert settings.http.port == 7200
    assert settings.service == "from-env"
    assert settings.http.host == "0.0.0.0"  # noqa: S104 - a value, not a bind
    assert settings.http.max_page_size == 100


def test_environment_values_are_converted_to_the_declared_types(tmp_path):
    settings = load_settings(
        config_file=write(tmp_path, ""),
        environ={
            "HEXKERNEL_MONGO__URI": "mongodb://u:p@db/",
            "HEXKERNEL_HTTP__MAX_PAGE_SIZE": " 50 ",
        },
    )
    assert settings.mongo.uri == Secret("mongodb://u:p@db/")
    assert settings.http.max_page_size == 50


def test_every_bad_value_is_reported_with_its_key(tmp_path):
    path = write(tmp_path, "http:\n  port: 70000\n  colour: red\nlog_level: LOUD\n")
    with pytest.raises(ConfigurationError) as caught:
        load_settings(
            config_file=path, environ={"HEXKERNEL_MONGO__SERVER_SELECTION_TIMEOUT_MS": "soon"}
        )
    assert caught.value.problems == {
        "http.colour": "is not a known setting",
        "mongo.server_selection_timeout_ms": "expected an integer",
    }


def test_a_range_violation_names_the_nested_key(tmp_path):
    with pytest.raises(ConfigurationError) as caught:
        load_settings(config_file=write(tmp_path, "http:\n  port: 70000\n"), environ={})
    assert caught.value.problems == {"http.port": "must be <= 65535"}


def test_broken_yaml_and_missing_files_are_configuration_errors(tmp_path):
    with pytest.raises(ConfigurationError, match="not valid YAML at line"):
        load_settings(config_file=write(tmp_path, "http:\n  port: [\n"), environ={})
    with pytest.raises(ConfigurationError, match="cannot be read"):
        load_settings(config_file=tmp_path / "absent.yml", environ={})


def test_secrets_never_print(tmp_path, caplog):
    settings = load_settings(
        config_file=write(tmp_path, ""),
        environ={"HEXKERNEL_MONGO__URI": "mongodb://admin:hunter2@db/"},
    )
    logging.getLogger("test").warning("settings: %s %r %s", settings, settings, redacted(settings))
    assert "hunter2" not in caplog.text
    assert "hunter2" not in json.dumps(redacted(settings))
    assert settings.mongo.uri is not None
    assert settings.mongo.uri.reveal() == "mongodb://admin:hunter2@db/"


def test_services_extend_the_settings(tmp_path):
    @attrs.frozen(kw_only=True)
    class Billing:
        currency: str = "EUR"
        strict: bool = False

    @attrs.frozen(kw_only=True)
    class MySettings(Settings):
        billing: Billing = attrs.field(factory=Billing)

    settings = load_settings(
        MySettings, config_file=write(tmp_path, ""), environ={"HEXKERNEL_BILLING__STRICT": "yes"}
    )
    assert settings.billing.strict is True
    assert settings.http.port == 8000
