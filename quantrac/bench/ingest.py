"""`quantrac bench ingest`: the collector against the ceilings and the naive pipeline, on the
same broker, payloads and InfluxDB in one run.

Each variant drains the same backlog: its subscriber's persistent session is created first,
then the messages are published at QoS 1 into it while it is away, then it connects and the
clock runs until it has everything. So every variant is timed on the subscriber, never on the
publisher. Each variant gets its own window of record times (and boot id), so its points are
counted alone.

(a) paho subscriber that only counts messages; (b) the same readings as line protocol in
5,000-line batches straight to InfluxDB's /write; (c) paho callback → json.loads →
influxdb-client synchronous write per message, on a subset (it is slow); (d) the Quantrac
collector as `quantrac collector run --workers auto` (one worker per core, each owning a slice
of the stations), default chain (validate, units, dedupe, qc, aggregate, indices, alerts,
device) and spool on, timed until every reading is written; (e) Node-RED, as its users build
this job: mqtt in (QoS 1, persistent session) → json → function (records → points) → influxdb
batch; (e2) the same with a join (500 messages or 0.5 s) before the function. e and e2 are
timed from their connect until every message's write was answered; they acknowledge each
message on arrival (no durable ack), and neither validates nor quality-checks anything
(quantrac/bench/nodered.py).
"""

from __future__ import annotations

import json
import math
import threading
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path

import paho.mqtt.client as mqtt

from collector.services.state import ServicesError
from quantrac.bench import common, nodered_install
from quantrac.bench import nodered as nodered_peer

TOPIC = "quantrac/v1/+/data"
LINE_BATCH = 5000


def make_messages(n: int, stations: list[str], t0: int, records: int) -> list[dict]:
    """n messages round-robin over the stations, `records` 5-minute records each."""
    boot = uuid.uuid4().hex[:8]
    params = {st: common.params_of(st) for st in stations}
    out = []
    for i in range(n):
        st, k = stations[i % len(stations)], i // len(stations)
        recs = [common.record(st, t0 + 300 * (k * records + j), k + j, params=params[st])
                for j in range(records)]
        out.append(common.message(st, boot, k, recs))
    return out


def _span(msgs: list[dict]) -> tuple[int, int]:
    ts = [r["t"] for m in msgs for r in m["r"]]
    return min(ts), max(ts)


def _client(env: dict, client_id: str) -> mqtt.Client:
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False)
    c.username_pw_set(env["QUANTRAC_MQTT_COLLECTOR_USER"],
                      env["QUANTRAC_MQTT_COLLECTOR_PASSWORD"])
    c.max_inflight_messages_set(1000)
    return c


def _session(env: dict, client_id: str) -> None:
    """Create the persistent session (subscribed, then away) that the backlog goes into."""
    c = _client(env, client_id)
    subscribed = threading.Event()
    c.on_subscribe = lambda *_a: subscribed.set()
    c.connect(env["QUANTRAC_MQTT_HOST"], int(env["QUANTRAC_MQTT_PORT"]))
    c.loop_start()
    c.subscribe(TOPIC, qos=1)
    if not subscribed.wait(common.WAIT_S):
        raise common.BenchError("the broker never confirmed the subscription")
    c.disconnect()
    c.loop_stop()


def _drain(env: dict, client_id: str, n: int, on_message: Callable[[bytes], None],
           timeout: float) -> float:
    """Connect to the filled session; seconds until `n` messages went through on_message."""
    c = _client(env, client_id)
    done = threading.Event()
    seen = [0]

    def handle(_c, _u, msg) -> None:
        on_message(msg.payload)
        seen[0] += 1
        if seen[0] >= n:
            done.set()

    c.on_message = handle
    t0 = time.monotonic()
    c.connect(env["QUANTRAC_MQTT_HOST"], int(env["QUANTRAC_MQTT_PORT"]))
    c.loop_start()
    try:
        if not done.wait(timeout):
            raise common.BenchError(f"only {seen[0]} of {n} messages arrived")
        return time.monotonic() - t0
    finally:
        c.disconnect()
        c.loop_stop()


def counting_subscriber(env: dict, msgs: list[dict], timeout: float) -> dict:
    cid = f"bench-count-{uuid.uuid4().hex[:6]}"
    _session(env, cid)
    common.publish_all(env, msgs)
    secs = _drain(env, cid, len(msgs), lambda _p: None, timeout)
    return {"seconds": secs}


def line(st: str, kind: str, p: str, v: list, t: int) -> str:
    return (f"reading,kind={kind},param={p},station={st},unit={v[1]} value={float(v[0])},"
            f"status={v[2]}i,n={v[3]}i,flags={v[4]}i {t}")


def raw_writes(env: dict, msgs: list[dict]) -> dict:
    """Line protocol, 5,000 lines a POST, straight to the server's /write as the writer."""
    kinds = {m["st"]: common.boards.registry().get(m["st"]).kind for m in msgs}
    lines = [line(m["st"], kinds[m["st"]], p, v, r["t"])
             for m in msgs for r in m["r"] for p, v in r["d"].items()]
    q = urllib.parse.urlencode({"db": env["QUANTRAC_INFLUX_DB"], "precision": "s",
                                "u": env["QUANTRAC_INFLUX_WRITE_USER"],
                                "p": env["QUANTRAC_INFLUX_WRITE_PASSWORD"]})
    url = f"{env['QUANTRAC_INFLUX_URL'].rstrip('/')}/write?{q}"
    t0 = time.monotonic()
    for i in range(0, len(lines), LINE_BATCH):
        body = "\n".join(lines[i:i + LINE_BATCH]).encode()
        with urllib.request.urlopen(urllib.request.Request(url, body, method="POST"),
                                    timeout=common.WAIT_S) as resp:
            if resp.status != 204:
                raise common.BenchError(f"InfluxDB answered {resp.status} to a batch write")
    return {"seconds": time.monotonic() - t0}


def naive(env: dict, msgs: list[dict], timeout: float) -> dict:
    """What a user writes first: one synchronous influxdb-client write per message."""
    from influxdb_client import InfluxDBClient, Point
    from influxdb_client.client.write_api import SYNCHRONOUS

    kinds = {m["st"]: common.boards.registry().get(m["st"]).kind for m in msgs}
    client = InfluxDBClient(url=env["QUANTRAC_INFLUX_WRITE_URL"], org="-",
                            token=f"{env['QUANTRAC_INFLUX_WRITE_USER']}:"
                                  f"{env['QUANTRAC_INFLUX_WRITE_PASSWORD']}")
    write = client.write_api(write_options=SYNCHRONOUS)
    bucket = f"{env['QUANTRAC_INFLUX_DB']}/autogen"

    def on_message(payload: bytes) -> None:
        m = json.loads(payload)
        pts = [Point("reading").tag("station", m["st"]).tag("kind", kinds[m["st"]])
               .tag("param", p).tag("unit", v[1]).field("value", float(v[0]))
               .field("status", v[2]).field("n", v[3]).field("flags", v[4])
               .time(r["t"], write_precision="s")
               for r in m["r"] for p, v in r["d"].items()]
        write.write(bucket=bucket, record=pts, write_precision="s")

    cid = f"bench-naive-{uuid.uuid4().hex[:6]}"
    try:
        _session(env, cid)
        common.publish_all(env, msgs)
        return {"seconds": _drain(env, cid, len(msgs), on_message, timeout)}
    finally:
        client.close()


def collector(env: dict, folder: Path, msgs: list[dict], timeout: float) -> dict:
    """`quantrac collector run --workers auto` (data in `folder`, services in private_stack's),
    default chain and spool; timed from its first session's connect until every reading of
    the backlog is in the database."""
    from quantrac.bench.collector_proc import collector_process, first_connect, write_config

    config = write_config(folder / "collector.toml", folder / "data",
                          f"bench-collector-{uuid.uuid4().hex[:6]}")
    run = folder.parent / "run"  # common.private_stack: the services run there
    with collector_process(run, config, folder / "first.log"):
        pass  # creates the persistent sessions, then goes away
    common.publish_all(env, msgs)
    want, (t_from, t_to) = sum(common.readings_in(m) for m in msgs), _span(msgs)
    log = folder / "run.log"
    with collector_process(run, config, log):
        common.wait_for(lambda: sum(common.counts(env, t_from, t_to).values()) >= want,
                        "the collector to store the backlog", timeout)
        secs = time.time() - first_connect(log)
        common.wait_for(lambda: (folder / "data" / "status.json").exists(), "its status")
        time.sleep(1.5)  # one more status refresh
        status = json.loads((folder / "data" / "status.json").read_text())
    return {"seconds": secs, "rejected": status["stats"]["totals"]["rejected"],
            "workers": len(status.get("workers", [])) or 1}


def nodered(env: dict, msgs: list[dict], red: tuple[str, Path], batched: bool,
            timeout: float) -> dict:
    """Node-RED (e, or e2 with a join) draining the same backlog from its persistent session."""
    kinds = {st: common.boards.registry().get(st).kind for st in {m["st"] for m in msgs}}
    cid = f"bench-nodered-{uuid.uuid4().hex[:6]}"
    _session(env, cid)
    common.publish_all(env, msgs)
    return nodered_peer.drain(*red, env, cid, len(msgs), kinds, batched, timeout)


def _window_days(messages: int, n_stations: int, records: int) -> float:
    """Days between the variants' windows: each window's span plus more than one 7-day shard
    group, so no two variants share a shard (e and e2 write `value`/`status` as floats, the
    others as integers; one shard cannot hold both types)."""
    span = math.ceil(messages / n_stations) * records * 300 / 86400
    return max(10.0, span + 8)


def run(messages: int = 20_000, naive_messages: int = 2_000, records: int = 1,
        n_stations: int = 26, say: Callable[[str], None] = print,
        timeout: float = 1800.0, with_nodered: bool = True) -> dict:
    sts = common.stations(n_stations)
    variants = {"a": messages, "b": messages, "c": min(naive_messages, messages), "d": messages}
    result: dict = {"machine": common.machine(), "stations": len(sts), "records": records,
                    "variants": {}, "nodered_skipped": None}
    red = None
    if with_nodered:
        try:
            red = nodered_install.ensure(say)
            variants.update(e=messages, e2=messages)
        except nodered_install.Unavailable as e:
            result["nodered_skipped"] = str(e)
            say(f"ingest (e, e2): Node-RED skipped: {e}")
    else:
        result["nodered_skipped"] = "not asked for (--no-nodered)"
    gap = _window_days(messages, len(sts), records)
    with common.private_stack() as (env, folder):
        for i, (name, n) in enumerate(variants.items()):
            msgs = make_messages(n, sts, common.window_start(60 + gap * i), records)
            readings = sum(common.readings_in(m) for m in msgs)
            say(f"ingest ({name}): {n} messages, {readings} readings")
            if name == "a":
                r = counting_subscriber(env, msgs, timeout)
            elif name == "b":
                r = raw_writes(env, msgs)
            elif name == "c":
                r = naive(env, msgs, timeout)
            elif name == "d":
                r = collector(env, folder / "collector", msgs, timeout)
            else:
                assert red is not None
                try:
                    r = nodered(env, msgs, red, name == "e2", timeout)
                except (common.BenchError, ServicesError) as ex:
                    # The peer failing is no reason to throw away a-d: say why, keep them.
                    result["nodered_skipped"] = f"({name}) failed: {ex}"
                    say(f"ingest ({name}): Node-RED failed: {ex}")
                    break
            t_from, t_to = _span(msgs)
            want = common.expected(msgs)
            got = common.counts(env, t_from, t_to) if name != "a" else want
            r.update(common.compare(want, got))
            r.update(messages=n, readings=readings, msgs_per_s=n / r["seconds"],
                     readings_per_s=readings / r["seconds"])
            result["variants"][name] = r
    v = result["variants"]
    result["ratio_vs_ceiling"] = v["d"]["msgs_per_s"] / v["a"]["msgs_per_s"]
    result["ratio_vs_naive"] = v["d"]["msgs_per_s"] / v["c"]["msgs_per_s"]
    result["ratio_vs_raw_writes"] = v["d"]["readings_per_s"] / v["b"]["readings_per_s"]
    result["lost"] = v["d"]["lost"]
    result["duplicated"] = v["d"]["duplicated"]
    e, e2 = v.get("e"), v.get("e2")
    result["nodered_msgs_per_s"] = e["msgs_per_s"] if e else None
    result["nodered_lost"] = e["lost"] if e else None
    result["nodered_batched_msgs_per_s"] = e2["msgs_per_s"] if e2 else None
    result["nodered_batched_lost"] = e2["lost"] if e2 else None
    result["ratio_vs_nodered"] = v["d"]["msgs_per_s"] / e2["msgs_per_s"] if e2 else None
    return result


LABELS = {"a": "paho subscriber, counting only (ceiling)",
          "b": "raw line protocol, 5,000-line batches (ceiling)",
          "c": "naive: paho -> json -> sync write per message",
          "d": "Quantrac collector, full chain + spool",
          "e": "Node-RED, one influxdb batch write per message",
          "e2": "Node-RED with a join (500 msgs or 0.5 s)"}
# What e and e2 leave out, printed under their rows so their speed is read with it.
NODERED_CAVEAT = ["e, e2: each message acked on arrival (no durable ack: a crash or a failed",
                  "write loses it); no validation, no QC, units, dedupe, aggregates, indices",
                  "or alerts"]


def table(r: dict) -> list[str]:
    m = r["machine"]
    out = [f"bench ingest: {r['stations']} stations, {r['records']} record(s) per message; "
           f"{m['nproc']} CPUs, {m['cpu']}, {m['ram_gib']} GiB",
           f"  {'variant':51} {'messages':>8} {'msgs/s':>9} {'readings/s':>11} {'lost':>6}"]
    for k, v in r["variants"].items():
        lost = "-" if k == "a" else str(v["lost"])
        out.append(f"  {f'({k})':4} {LABELS[k]:46} {v['messages']:8d} {v['msgs_per_s']:9.0f} "
                   f"{v['readings_per_s']:11.0f} {lost:>6}")
    if r["variants"]["c"]["messages"] < r["variants"]["d"]["messages"]:
        out.append(f"  (c) ran on a subset of {r['variants']['c']['messages']} messages "
                   "(it is slow); its rate is per message all the same")
    out.append(f"  d/a {r['ratio_vs_ceiling']:.2f} (goal >= 0.5)   d/c "
               f"{r['ratio_vs_naive']:.1f} (goal >= 20)   d/b readings "
               f"{r['ratio_vs_raw_writes']:.2f}   lost {r['lost']}   duplicated "
               f"{r['duplicated']}")
    if r.get("ratio_vs_nodered") is not None:
        e = r["variants"]["e"]
        failed = f" ({e['writes_failed']} of its {e['writes']} writes failed)" \
            if e["writes_failed"] else ""
        out.append(f"  d/e2 {r['ratio_vs_nodered']:.2f}   e lost {r['nodered_lost']}{failed}   "
                   f"e2 lost {r['nodered_batched_lost']}")
        out.extend(f"  {line}" for line in NODERED_CAVEAT)
    if r.get("nodered_skipped"):
        out.append(f"  (e, e2) Node-RED skipped: {r['nodered_skipped']}")
    return out
