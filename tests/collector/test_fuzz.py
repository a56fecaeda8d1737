"""10,000 bad payloads interleaved with good ones, through the real broker and database.

No crash; every good reading stored (counted with InfluxQL); every bad payload in the
dead-letter file exactly once, byte for byte, with a reason. The generator is seeded: a
failure names the seed and is reproducible.
"""

from __future__ import annotations

import base64
import copy
import json
import random
import uuid
from collections import Counter
from pathlib import Path

import pytest
from collector_live import WAIT_S, counts, free_window, publish_many, wait_for

from collector.config import Settings
from collector.dead_letters import read
from collector.pipeline import Collector

pytestmark = pytest.mark.services
SEED = 20261121
BAD = 10_000
GOOD_PER_STATION = 500
STATIONS = ["pq-air-11", "pq-air-12", "pq-tap-03", "pq-ww-02"]
STEP_S = 60  # record times of consecutive good messages
D = {"air": {"so2": [12.5, "ppb", 0, 30, 0], "co": [0.4, "ppm", 0, 30, 0],
             "pm10": [35.1, "ug/m3", 0, 28, 2, 30.2, 41.0], "rh": [81.0, "%", 0, 30, 0]},
     "water": {"ph": [7.4, "pH", 0, 30, 0], "tss": [12.0, "mg/L", 0, 30, 0],
               "nh4": [None, "mg/L", 2, 0, 4]}}
# (where in a good message, a value no schema reading allows there)
MUTATIONS = [
    (("v",), "1"), (("v",), 2), (("st",), 5), (("fw",), ""), (("fw",), None),
    (("boot",), "XYZ12345"), (("boot",), 123), (("seq",), -1), (("seq",), "5"), (("seq",), 1.5),
    (("seq",), 2 ** 64), (("seq",), True), (("r",), {}), (("r",), []), (("r",), None),
    (("r", 0, "t"), "now"), (("r", 0, "t"), 1700000000), (("r", 0, "t"), 1.7e9 + 0.5),
    (("r", 0, "p"), 0), (("r", 0, "p"), 86401), (("r", 0, "d"), {}), (("r", 0, "d"), []),
    (("r", 0, "x"), 1), (("extra",), 1), (("r", 0, "d", "P", 0), "12.5"),
    (("r", 0, "d", "P", 1), 5), (("r", 0, "d", "P", 1), ""), (("r", 0, "d", "P", 2), 3),
    (("r", 0, "d", "P", 2), "0"), (("r", 0, "d", "P", 2), False), (("r", 0, "d", "P", 3), -1),
    (("r", 0, "d", "P", 3), 10 ** 6), (("r", 0, "d", "P", 4), 1.5), (("r", 0, "d", "P", 5), "x"),
    (("r", 0, "d", "P"), [1.0, "ppb", 0, 30]), (("r", 0, "d", "P"), [1.0, "x", 0, 1, 0, 1, 2, 3]),
    (("r", 0, "d", "P"), {"value": 1}), (("r", 0, "d", "P"), "12.5 ppb"),
    (("fw",), "0.1.\ud800"), (("r", 0, "d", "P", 1), "\udc00"),  # lone surrogates: no text
    (("boot",), "9f2c4a1e\n"), (("r", 0, "d", "P", 3), 30.5),
]


class Messages:
    """Good messages (unique boot/seq and record time) and bad payloads of every kind."""

    def __init__(self, rng: random.Random, t0: int) -> None:
        self.rng, self.t0, self.n = rng, t0, 0
        self.boot = uuid.uuid4().hex[:8]

    def good(self, station: str, seq: int | None = None) -> dict:
        kind = "air" if station.startswith("pq-air") else "water"
        if seq is None:
            self.n += 1
        n = self.n if seq is None else seq
        return {"v": 1, "st": station, "fw": "0.1.0", "boot": self.boot, "seq": n,
                "r": [{"t": self.t0 + STEP_S * n, "p": 300, "d": copy.deepcopy(D[kind])}]}

    def bad(self, station: str) -> bytes:
        rng = self.rng
        base = self.good(station, seq=self.n)  # a good message's identity: refused anyway
        text = json.dumps(base)
        param = next(iter(base["r"][0]["d"]))
        kind = rng.randrange(13)
        if kind == 0:
            return rng.randbytes(rng.randrange(0, 300))
        if kind == 1:
            return text[:rng.randrange(0, len(text) - 1)].encode()
        if kind == 2:
            path, value = rng.choice(MUTATIONS)
            return json.dumps(_set(base, [param if p == "P" else p for p in path], value)).encode()
        if kind == 3:  # a unit the registry does not give that parameter
            base["r"][0]["d"][param][1] = rng.choice(["ppm", "mg/m3", "ug/m3", "ppb", "pH"])
            if base["r"][0]["d"][param][1] == D["air" if "air" in station else "water"][param][1]:
                base["r"][0]["d"][param][1] = "furlong"
            return json.dumps(base).encode()
        if kind == 4:  # a parameter the station has no sensor for
            base["r"][0]["d"][rng.choice(["xyz", "do2", "pm2_5", "no"])] = [1.0, "ppb", 0, 1, 0]
            return json.dumps(base).encode()
        if kind == 5:
            return text.replace("12.5" if "air" in station else "7.4",
                                rng.choice(["NaN", "Infinity", "-Infinity"]), 1).encode()
        if kind == 6:
            big = rng.choice(["1e999", "-1e400", "1" + "0" * 400, "9" * 5000])
            return text.replace("12.5" if "air" in station else "7.4", big, 1).encode()
        if kind == 7:
            depth = rng.randrange(1100, 4000)
            if rng.random() < 0.5:
                return ("[" * depth + "]" * depth).encode()
            base["r"][0]["d"][param] = "@"
            return json.dumps(base).replace('"@"', "[" * depth + "1" + "]" * depth).encode()
        if kind == 8:  # another registry station's message on this station's topic
            base["st"] = rng.choice([s for s in STATIONS if s != station])
            return json.dumps(base).encode()
        if kind == 9:  # a station that is not in the registry
            base["st"] = rng.choice(["pq-air-99", "hn-air-01", "pq-air-1"])
            return json.dumps(base).encode()
        if kind == 10:  # JSON, but not an object
            return json.dumps(rng.choice([[base], "data", 42, None, True])).encode()
        if kind == 11:  # a record from the future or before any valid clock
            base["r"][0]["t"] = rng.choice([4102444800, 1704067199, 0])
            if base["r"][0]["t"] == 4102444800:
                base["r"][0]["t"] = 4102444000  # valid for the schema, far in the future
            return json.dumps(base).encode()
        raw = text.encode()  # invalid UTF-8 inside the JSON text
        i = rng.randrange(1, len(raw) - 1)
        return raw[:i] + rng.choice([b"\xff", b"\xc3\x28", b"\xed\xa0\x80"]) + raw[i:]


def _set(doc: dict, path: list, value) -> dict:
    node = doc
    for key in path[:-1]:
        node = node[key]
    if isinstance(node, list) and path[-1] == len(node):
        node.append(value)  # e.g. a `min` where the station sent none
    else:
        node[path[-1]] = value
    return doc


def test_ten_thousand_bad_payloads_among_good_ones(services, tmp_path):
    env = services
    rng = random.Random(SEED)
    t0 = free_window(env, STEP_S * (GOOD_PER_STATION * len(STATIONS) + 10))
    gen = Messages(rng, t0)
    per_station: dict[str, list[bytes | dict]] = {s: [] for s in STATIONS}
    bad: list[bytes] = []
    good: Counter[tuple[str, str]] = Counter()
    for i in range(BAD + GOOD_PER_STATION * len(STATIONS)):
        station = STATIONS[i % len(STATIONS)]
        if rng.random() < BAD / (BAD + GOOD_PER_STATION * len(STATIONS)) and len(bad) < BAD:
            payload = gen.bad(station)
            bad.append(payload)
            per_station[station].append(payload)
        else:
            msg = gen.good(station)
            per_station[station].append(msg)
            good.update((station, p) for p in msg["r"][0]["d"])
    while len(bad) < BAD:
        payload = gen.bad(STATIONS[0])
        bad.append(payload)
        per_station[STATIONS[0]].append(payload)

    c = Collector(Settings.from_env(env, tmp_path, {
        "sources": {"mqtt": {"client_id": f"fuzz-{uuid.uuid4().hex[:8]}"}},
        "sinks": {"influxdb": {"flush_interval_s": 0.1}}}))
    try:
        c.start()
        assert c.wait_ready(WAIT_S)
        for station, payloads in per_station.items():
            publish_many(env, station, payloads)
        t1 = t0 + STEP_S * (gen.n + 1)
        wait_for(lambda: c.stats["totals"]["rejected"] >= BAD, "every bad payload refused",
                 timeout=120)
        wait_for(lambda: counts(env, t0, t1) == dict(good),
                 lambda: f"every good reading stored (seed {SEED})", timeout=120)
        stats = c.stats
        assert stats["running"], f"the collector died (seed {SEED})"
        assert stats["totals"]["rejected"] == BAD and stats["totals"]["duplicates"] == 0
    finally:
        c.stop()
    letters = read(Path(tmp_path) / "collector" / "dead-letters.jsonl")
    assert len(letters) == BAD
    assert all(e["reason"] and e["class"] not in ("internal", "unreadable") for e in letters), \
        [e for e in letters if not e["reason"] or e["class"] in ("internal", "unreadable")][:3]
    kept = Counter(e["payload"].encode() if "payload" in e else base64.b64decode(e["payload_b64"])
                   for e in letters)
    assert kept == Counter(bad), f"dead letters differ from what was sent (seed {SEED})"
    classes = Counter(e["class"] for e in letters)
    assert {"encoding", "json", "schema", "nonfinite", "unit", "unknown_param", "mismatch",
            "unknown_station", "future"} <= set(classes), classes
