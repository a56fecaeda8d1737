"""Plugins register themselves: a processor written in a folder of its own, named in a
collector config file, runs in a real chain started from that file, with no file of the
collector edited. Against the session's real Mosquitto and InfluxDB."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
from collector_live import message, points, publish, unique_time, wait_for

from collector import config, plugins
from collector.config import ConfigError, Settings
from collector.pipeline import Collector

ENV = {
    "QUANTRAC_MQTT_HOST": "127.0.0.1", "QUANTRAC_MQTT_PORT": "18830",
    "QUANTRAC_MQTT_COLLECTOR_USER": "collector", "QUANTRAC_MQTT_COLLECTOR_PASSWORD": "x",
    "QUANTRAC_INFLUX_WRITE_URL": "http://127.0.0.1:18086", "QUANTRAC_INFLUX_DB": "quantrac",
    "QUANTRAC_INFLUX_WRITE_USER": "writer", "QUANTRAC_INFLUX_WRITE_PASSWORD": "y",
}

# What a contributor writes: one module, its options, its stage, one register() call.
TOY = '''
from dataclasses import dataclass, field

from collector.plugins import Env, Plugin, register


@dataclass(frozen=True)
class ScaleOptions:
    factor: float = field(default=1.0, metadata={"lo": 0, "hi": 1000, "doc": "multiplier"})
    param: str = field(default="pm10", metadata={"doc": "the parameter scaled"})


class Scale:
    def __init__(self, name: str, o: ScaleOptions, registry: str) -> None:
        self.name, self.o, self.registry = name, o, registry
        self.scaled, self.closed = 0, False

    def close(self) -> None:
        self.closed = True

    def process(self, batch):
        for r in batch.readings:
            if r.param == self.o.param and r.value is not None:
                r.value *= self.o.factor
                self.scaled += 1
        return batch


def build(o: ScaleOptions, env: Env) -> Scale:
    return Scale("NAME", o, env.registry)


register(Plugin("processor", "NAME", ScaleOptions, build, after=("units",)))
'''


def toy(folder: Path) -> str:
    """A toy plugin module in `folder`; its name, which is also the plugin's."""
    name = f"toy_scale_{uuid.uuid4().hex[:8]}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.py").write_text(TOY.replace("NAME", name))
    return name


@pytest.mark.services
def test_a_processor_in_a_folder_of_its_own_runs_in_a_chain_started_from_a_config_file(
        services, session_run_dir, tmp_path):
    name = toy(tmp_path / "my-plugins")
    station, t = "pq-air-05", unique_time()
    conf = tmp_path / "collector.toml"
    conf.write_text(f'''
[collector]
plugins = ["{name}"]
plugin_paths = ["my-plugins"]  # relative to this file
processors = ["validate", "units", "{name}", "dedupe", "qc"]
data_dir = "{tmp_path / 'data'}"

[processors.{name}]
factor = 10.0

[sources.mqtt]
client_id = "test-{uuid.uuid4().hex[:8]}"
''')
    settings = config.load(session_run_dir, conf)
    assert f"processors.{name}.factor = 10.0" in settings.describe()
    c = Collector(settings)
    try:
        c.start()
        assert c.wait_ready(30), "collector never subscribed"
        publish(services, station, [message(station, t)])
        wait_for(lambda: set(points(services, station, t)) >= {"pm10", "so2"},
                 "the message's readings in InfluxDB")
        stage = next(p for p in c.processors if p.name == name)
        assert stage.scaled == 1 and stage.registry == settings.collector.registry
        assert not stage.closed
    finally:
        c.stop()
    assert stage.closed  # the optional hook, called once the collector stopped
    got = points(services, station, t)
    assert got["pm10"]["value"] == pytest.approx(351.0)  # 35.1 as sent, × the table's factor
    assert got["so2"]["raw"] == 12.5  # the others untouched


def test_the_plugin_sees_its_own_table_checked_like_a_built_in_one(tmp_path):
    name = toy(tmp_path)
    base = {"collector": {"plugins": [name], "plugin_paths": [str(tmp_path)]}}
    with pytest.raises(ConfigError, match=rf"\[processors.{name}\] factor = -1.0: must be "
                                          "between 0 and 1000"):
        Settings.from_env(ENV, tmp_path, {**base, "processors": {name: {"factor": -1.0}}})
    with pytest.raises(ConfigError, match=rf"\[processors.{name}\] facter: unknown option"):
        Settings.from_env(ENV, tmp_path, {**base, "processors": {name: {"facter": 2}}})
    s = Settings.from_env(ENV, tmp_path, {**base, "processors": {name: {"factor": 2}}})
    assert getattr(s, name).factor == 2.0
    assert config.with_options(s, **{name: {"factor": 3}}).options[name].factor == 3.0


def test_its_order_is_its_own_declaration(tmp_path):
    name = toy(tmp_path)
    chain = ["validate", name, "units"]
    with pytest.raises(ConfigError, match=rf"processors = .*: '{name}' needs 'units' before it"):
        Settings.from_env(ENV, tmp_path, {"collector": {
            "plugins": [name], "plugin_paths": [str(tmp_path)], "processors": chain}})


def test_without_the_module_in_the_config_the_plugin_is_unknown(tmp_path):
    name = toy(tmp_path)
    with pytest.raises(ConfigError, match=rf"\[collector\] processors: '{name}' is not a "
                                          "processor"):
        Settings.from_env(ENV, tmp_path, {"collector": {"processors": ["validate", name]}})
    with pytest.raises(ConfigError, match=rf"\[processors.{name}\]: unknown table"):
        Settings.from_env(ENV, tmp_path, {"processors": {name: {}}})


@pytest.mark.parametrize("module, code, says", [
    ("nowhere_to_be_found_x1", None, "'nowhere_to_be_found_x1' cannot be imported"),
    ("registers_nothing_x1", "X = 1\n", "'registers_nothing_x1' registers no plugin"),
    ("raises_at_import_x1", "raise RuntimeError('boom')\n",
     "importing 'raises_at_import_x1' failed: RuntimeError('boom')"),
    ("steals_a_name_x1", "from collector.plugins import Plugin, register\n"
     "from collector.processors.qc.options import QcOptions\n"
     "register(Plugin('processor', 'qc', QcOptions, lambda o, env: None))\n",
     "plugin 'qc' from steals_a_name_x1 is already registered by "
     "collector.processors.qc.plugin"),
])
def test_a_bad_plugin_module_is_named(tmp_path, module, code, says):
    if code is not None:
        (tmp_path / f"{module}.py").write_text(code)
    with pytest.raises(ConfigError) as err:
        Settings.from_env(ENV, tmp_path, {"collector": {
            "plugins": [module], "plugin_paths": [str(tmp_path)]}})
    assert says in str(err.value)


def test_a_missing_plugin_folder_is_named(tmp_path):
    with pytest.raises(ConfigError, match="plugin_paths: '.*/nope' is not a folder"):
        Settings.from_env(ENV, tmp_path, {"collector": {"plugin_paths": [str(tmp_path / "nope")]}})


def test_config_names_no_plugin():
    """What the collector ships is found by walking its packages: config.py imports none."""
    text = Path(config.__file__).read_text()
    imports = re.findall(r"(?m)^\s*(?:from|import) (collector\.\w+)", text)
    assert set(imports) <= {"collector.plugins", "collector.services"}, imports
    assert {"mqtt", "validate", "qc", "alerts", "influxdb", "notify", "camera", "egov",
            "metrics"} <= set(plugins.builtins())
