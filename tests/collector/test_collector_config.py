"""Collector settings: services.env + TOML options; every error names the key and the value."""

from __future__ import annotations

import dataclasses
import json
import re
import tomllib
from pathlib import Path

import pytest

from collector import config, plugins
from collector.config import ConfigError, Settings
from collector.sources.mqtt.options import DEFAULT_TOPICS

ROOT = Path(__file__).resolve().parents[2]
ENV = {
    "QUANTRAC_MQTT_HOST": "127.0.0.1", "QUANTRAC_MQTT_PORT": "18830",
    "QUANTRAC_MQTT_COLLECTOR_USER": "collector", "QUANTRAC_MQTT_COLLECTOR_PASSWORD": "mqtt-secret",
    "QUANTRAC_INFLUX_WRITE_URL": "http://127.0.0.1:18086", "QUANTRAC_INFLUX_DB": "quantrac",
    "QUANTRAC_INFLUX_WRITE_USER": "writer", "QUANTRAC_INFLUX_WRITE_PASSWORD": "influx-secret",
}


def test_settings_from_the_services_env(tmp_path):
    s = Settings.from_env(ENV, tmp_path)
    assert (s.mqtt_host, s.mqtt_port, s.influx_db) == ("127.0.0.1", 18830, "quantrac")
    assert s.mqtt.client_id == "quantrac-collector" and s.collector.registry == "phu-quoc"
    assert s.influxdb.batch_size == 5000 and s.influxdb.flush_interval_s == 0.5
    assert s.dead_letters == tmp_path / "collector" / "dead-letters.jsonl"


def test_the_banner_masks_passwords(tmp_path):
    text = "\n".join(Settings.from_env(ENV, tmp_path).describe())
    assert "mqtt-secret" not in text and "influx-secret" not in text
    assert "QUANTRAC_MQTT_COLLECTOR_PASSWORD = ***" in text
    assert "sinks.influxdb.batch_size = 5000" in text


@pytest.mark.parametrize("change, says", [
    ({"QUANTRAC_INFLUX_DB": None}, "services.env: QUANTRAC_INFLUX_DB is missing"),
    ({"QUANTRAC_MQTT_PORT": "mqtt"}, "QUANTRAC_MQTT_PORT='mqtt' is not a port number"),
    ({"QUANTRAC_MQTT_PORT": "70000"}, "QUANTRAC_MQTT_PORT='70000' is not a port number"),
    ({"QUANTRAC_INFLUX_WRITE_URL": "localhost:8086"},
     "QUANTRAC_INFLUX_WRITE_URL='localhost:8086' is not an http(s) URL"),
])
def test_bad_env_values_are_named(tmp_path, change, says):
    env = {k: v for k, v in {**ENV, **change}.items() if v is not None}
    with pytest.raises(ConfigError) as err:
        Settings.from_env(env, tmp_path)
    assert says in str(err.value)


@pytest.mark.parametrize("options, says", [
    ({"sinks": {"influxdb": {"batch_sise": 10}}}, "[sinks.influxdb] batch_sise: unknown option"),
    ({"sinks": {"influxdb": {"batch_size": 0}}},
     "[sinks.influxdb] batch_size = 0: must be between 1 and 1000000"),
    ({"sinks": {"influxdb": {"flush_interval_s": "fast"}}},
     "[sinks.influxdb] flush_interval_s = 'fast': must be a number"),
    ({"sources": {"mqtt": {"qos": True}}}, "[sources.mqtt] qos = True: must be a int"),
    ({"sources": {"kafka": {}}}, "[sources.kafka]: unknown table"),
    ({"outputs": {}}, "[outputs]: unknown table"),
    ({"collector": {"processors": ["validate", "aqi"]}},
     "[collector] processors: 'aqi' is not a processor"),
    ({"collector": {"processors": []}}, "'validate' must come first"),
    ({"collector": {"registry": "hanoi"}}, "[collector] registry = 'hanoi': "),
    ({"sources": {"mqtt": {"reconnect_min_s": 60}}},
     "reconnect_min_s = 60.0: must not exceed reconnect_max_s = 30.0"),
    ({"sources": {"mqtt": {"protocol": "5.0"}}},
     "[sources.mqtt] protocol = '5.0': must be one of 3.1.1, 5"),
    ({"sources": {"mqtt": {"share_group": "a/b"}}}, "[sources.mqtt] share_group = 'a/b': must be"),
    ({"spool": {"max_bytes": 2 << 20, "segment_bytes": 1 << 20}},
     "[spool] max_bytes = 2097152: must be at least 4 × segment_bytes (4194304)"),
    ({"spool": {"high_water": 1.5}}, "[spool] high_water = 1.5: must be between 0.1 and 1.0"),
    ({"processors": {"units": {"keep_raw": "yes"}}},
     "[processors.units] keep_raw = 'yes': must be true or false"),
    ({"processors": {"qc": {"limits": "/nonexistent/limits.json"}}},
     "[processors.qc] limits = '/nonexistent/limits.json': /nonexistent/limits.json: no such file"),
    ({"collector": {"processors": ["validate", "qc", "qc"]}}, "a processor appears twice"),
])
def test_bad_options_are_named(tmp_path, options, says):
    with pytest.raises(ConfigError) as err:
        Settings.from_env(ENV, tmp_path, options)
    assert says in str(err.value)


def test_options_from_a_toml_file_and_the_run_folder(tmp_path):
    (tmp_path / "services.env").write_text(
        "# written by services up\n" + "".join(f"{k}={v}\n" for k, v in ENV.items()))
    (tmp_path / "c.toml").write_text('[collector]\ndead_letters = "/var/dl.jsonl"\n'
                                     '[sources.mqtt]\nclient_id = "collector-b"\n'
                                     '[sinks.influxdb]\nbatch_size = 100\n')
    s = config.load(tmp_path, tmp_path / "c.toml")
    assert s.mqtt.client_id == "collector-b" and s.influxdb.batch_size == 100
    assert s.dead_letters == Path("/var/dl.jsonl") and s.mqtt_port == 18830


def test_a_missing_services_env_says_to_start_the_services(tmp_path):
    with pytest.raises(ConfigError, match="services.env"):
        config.load(tmp_path)


def test_a_broken_toml_file_is_named(tmp_path):
    (tmp_path / "c.toml").write_text("[collector\n")
    with pytest.raises(ConfigError, match=r"c\.toml: not TOML"):
        config.load_toml(tmp_path / "c.toml")


def test_the_data_dir_holds_spool_state_and_dead_letters(tmp_path):
    s = Settings.from_env(ENV, tmp_path)
    assert (s.data_dir, s.spool_dir, s.state_file, s.dead_letters) == (
        tmp_path / "collector", tmp_path / "collector" / "spool",
        tmp_path / "collector" / "state.json", tmp_path / "collector" / "dead-letters.jsonl")
    moved = Settings.from_env(ENV, tmp_path, {"collector": {"data_dir": "/srv/c2"}})
    assert moved.spool_dir == Path("/srv/c2/spool")
    assert moved.dead_letters == Path("/srv/c2/dead-letters.jsonl")


def test_with_options_changes_one_group(tmp_path):
    s = config.with_options(Settings.from_env(ENV, tmp_path), mqtt={"client_id": "t-1"})
    assert s.mqtt.client_id == "t-1" and s.mqtt.topics == DEFAULT_TOPICS


def _uncommented(path: Path) -> dict:
    """The sample with every `# key = value` line switched on."""
    text = re.sub(r"(?m)^# (\w+ = .*)$", r"\1", path.read_text())
    return tomllib.loads(text)


def test_sample_toml_lists_every_option_with_its_real_default(tmp_path):
    doc = _uncommented(ROOT / "collector" / "sample.toml")
    groups = {**config.CORE, **{p.table: p.options for p in plugins.catalog().values()}}
    for section, cls in groups.items():
        if not dataclasses.fields(cls):
            continue  # a plugin without options has no table to list
        table = doc
        for part in section.split("."):
            table = table[part]
        assert set(table) == {f.name for f in dataclasses.fields(cls)}, section
        built = config.build(cls, table, section)
        assert built == cls(), f"[{section}] defaults in sample.toml differ from the code"


@pytest.mark.parametrize("options, key", [
    ({"camera": {"enabled": True, "ca_file": "{ca}"}}, "[camera] ca_file"),
    ({"sinks": {"notify": {"smtp_host": "mail.example", "smtp_ca_file": "{ca}"}}},
     "[sinks.notify] smtp_ca_file"),
    ({"egov": {"enabled": True, "ftp_ca_file": "{ca}"}}, "[egov] ftp_ca_file"),
    ({"egov": {"enabled": True, "api_ca_file": "{ca}"}}, "[egov] api_ca_file"),
])
def test_a_ca_file_tls_cannot_use_is_refused_at_load(tmp_path, options, key):
    ca = tmp_path / "department-ca.pem"
    ca.write_text("not a certificate\n")
    options = json.loads(json.dumps(options).replace("{ca}", str(ca)))
    with pytest.raises(ConfigError) as e:
        Settings.from_env(ENV, tmp_path, options)
    assert f"{key} = {str(ca)!r}: not a readable PEM CA certificate" in str(e.value)
