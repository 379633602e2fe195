from pathlib import Path

import pytest

from voicecenter.settings import DEFAULT_CONFIG, ConfigError, load_settings


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config" / "voicecenter.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text)
    return path


def test_demo_config_keeps_the_documented_defaults() -> None:
    settings = load_settings(DEFAULT_CONFIG, environ={})
    assert (settings.sip.address, settings.sip.port) == ("127.0.0.1", 5060)
    assert settings.sip.websocket_port == 8088
    assert (settings.http.host, settings.http.port) == ("127.0.0.1", 8000)
    assert (settings.mqtt.host, settings.mqtt.port, settings.mqtt.url) == ("127.0.0.1", 1883,
                                                                          None)
    assert settings.entry_points["100"] == "digits_demo"
    assert settings.paths.flows.is_absolute()


def test_bad_value_names_file_line_and_key(tmp_path: Path) -> None:
    path = write(tmp_path, "sip:\n  port: 5060\nmedia:\n  workers: 0\n")
    with pytest.raises(ConfigError) as err:
        load_settings(path, environ={})
    assert str(err.value).startswith(f"{path}:4: media.workers: ")
    assert "\n" not in str(err.value)


def test_unknown_key_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "http:\n  host: 127.0.0.1\n  prot: 8000\n")
    with pytest.raises(ConfigError, match=r":3: http.prot: unknown key"):
        load_settings(path, environ={})


def test_invalid_yaml_has_a_line(tmp_path: Path) -> None:
    path = write(tmp_path, "sip:\n  port: [5060\n")
    with pytest.raises(ConfigError, match=r"invalid YAML"):
        load_settings(path, environ={})


def test_environment_overrides_secrets(tmp_path: Path) -> None:
    path = write(tmp_path, "mqtt:\n  host: 127.0.0.1\n")
    settings = load_settings(path, environ={"VOICECENTER__MQTT__PASSWORD": "s3cret",
                                            "VOICECENTER__HTTP__PORT": "8100"})
    assert settings.mqtt.password == "s3cret"
    assert settings.http.port == 8100


def test_bad_environment_value_says_where_it_came_from(tmp_path: Path) -> None:
    path = write(tmp_path, "{}\n")
    with pytest.raises(ConfigError, match=r"from environment VOICECENTER__HTTP__PORT"):
        load_settings(path, environ={"VOICECENTER__HTTP__PORT": "eighty"})


def test_relative_paths_resolve_against_the_project(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, "paths:\n  data_dir: state\n"), environ={})
    assert settings.paths.data_dir == tmp_path / "state"
    assert settings.store.url == f"sqlite+aiosqlite:///{tmp_path / 'state' / 'voicecenter.db'}"


def test_missing_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read configuration"):
        load_settings(tmp_path / "nope.yaml", environ={})
