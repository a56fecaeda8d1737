"""A steady stream of data messages from real station logins: `quantrac bench reliability`
and the collector's reliability tests.

Each station publishes at QoS 1 through its own paho client, one message every `interval_s`,
each with its own (boot, seq) and record time (5 minutes apart, from `t0`), so every message is
one point per parameter. paho queues what it cannot send while the broker is away and sends it
after reconnecting; a message counts once the broker acknowledged it (`on_publish`: paho's
MQTTMessageInfo keeps saying "not connected" for a message published during an outage even
after it went through).
"""

from __future__ import annotations

import json
import threading
import time
import uuid

import paho.mqtt.client as mqtt

from quantrac.bench.common import bench_login

PARAMS = {"air": {"so2": [12.5, "ppb", 0, 30, 0], "pm10": [35.1, "ug/m3", 0, 28, 0],
                  "temp": [29.5, "degC", 0, 30, 0]},
          "water": {"ph": [7.9, "pH", 0, 30, 0], "do": [6.1, "mg/L", 0, 30, 0]}}


class StationStream:
    def __init__(self, env: dict, stations: list[str], t0: int, interval_s: float = 0.05):
        self.env, self.stations, self.t0, self.interval_s = env, stations, t0, interval_s
        self.boot = uuid.uuid4().hex[:8]
        self._sent: list[tuple[str, int]] = []
        self._pending: dict[tuple[str, int], tuple[str, int]] = {}  # (station, mid) → message
        self._acked: set[tuple[str, int]] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._clients: dict[str, mqtt.Client] = {}
        self._thread = threading.Thread(target=self._run, name="station-stream", daemon=True)

    @staticmethod
    def params(station: str) -> dict:
        return PARAMS["air" if station.startswith("pq-air") else "water"]

    def start(self) -> StationStream:
        for st in self.stations:
            c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                            client_id=f"bench-{st}-stream-{uuid.uuid4().hex[:6]}",
                            clean_session=False)
            c.username_pw_set(*bench_login(self.env))
            c.max_inflight_messages_set(100)
            c.max_queued_messages_set(0)
            c.reconnect_delay_set(0.2, 1)
            c.on_publish = lambda _c, _u, mid, _rc, _p, st=st: self._on_publish(st, mid)
            c.connect(self.env["QUANTRAC_MQTT_HOST"], int(self.env["QUANTRAC_MQTT_PORT"]))
            c.loop_start()
            self._clients[st] = c
        self._thread.start()
        return self

    def _run(self) -> None:
        seq = 0
        while not self._stop.wait(self.interval_s):
            for st, c in self._clients.items():
                t = self.t0 + 300 * seq
                d = {p: [v[0] + seq % 7 / 10, *v[1:]] for p, v in self.params(st).items()}
                msg = {"v": 1, "st": st, "fw": "0.1.0", "boot": self.boot, "seq": seq,
                       "r": [{"t": t, "p": 300, "d": d}]}
                # publish() outside our lock: paho may hold its own lock while it calls
                # on_publish, which takes ours (a lock-order deadlock). An ack that beats
                # publish()'s return is parked in _acked and reconciled here.
                info = c.publish(f"quantrac/v1/{st}/data", json.dumps(msg), qos=1)
                with self._lock:
                    self._sent.append((st, t))
                    if (st, info.mid) not in self._acked:
                        self._pending[(st, info.mid)] = (st, t)
                    self._acked.discard((st, info.mid))
            seq += 1

    def _on_publish(self, station: str, mid: int) -> None:
        with self._lock:
            if self._pending.pop((station, mid), None) is None:
                self._acked.add((station, mid))  # acknowledged before publish() returned

    def sent(self) -> int:
        with self._lock:
            return len(self._sent)

    def stop(self, timeout: float = 60.0) -> None:
        """Stop publishing and wait until the broker acknowledged everything sent."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        deadline = time.monotonic() + timeout
        try:
            while self._pending:
                if time.monotonic() > deadline:
                    raise AssertionError(f"{len(self._pending)} messages never acknowledged "
                                         "by the broker")
                time.sleep(0.05)
        finally:
            for c in self._clients.values():
                c.disconnect()
                c.loop_stop()
            self._clients.clear()

    def expected(self) -> dict[tuple[str, str], int]:
        """Points every published message should have made, per (station, param)."""
        out: dict[tuple[str, str], int] = {}
        for st, _ in self._sent:
            for p in self.params(st):
                out[(st, p)] = out.get((st, p), 0) + 1
        return out

    @property
    def t_last(self) -> int:
        return max((t for _, t in self._sent), default=self.t0)
