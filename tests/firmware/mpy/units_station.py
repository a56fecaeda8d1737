# Unit tests of the station layer (records, queue, publisher, sampler, uplink, config) that
# run ON MicroPython (the unix port). Prints PASS/FAIL lines like units_bus.py.
# Fakes stand only where hardware would be: a byte-buffer socket and a clock.

import json

import config
from mpytest import Clock, eq, raises, run
from station.publisher import Publisher
from station.queue import RamQueue
from station.record import Messages, Writer, encode_record, entries, record_bytes
from station.sampler import Sampler
from station.uplink import Client
from values.decode import Channel
from values.window import Window

# ---- record, queue, publisher -----------------------------------------------------------------

def test_number_formatting():
    w = Writer(64)
    for x, p in ((12.5, 2), (3.0, 2), (-0.04, 1), (1234.56, -1), (0.012345, -1), (7, 0)):
        w.num(x, p)
        w.put(b" ")
    eq(bytes(w.mv[:w.n]), b"12.5 3 0 1235 0.0123 7 ", "numbers")


def test_queue_order_overflow_and_commit():
    q = RamQueue(3, 16)
    for i in range(5):
        q.append(b"r%d" % i)
    eq(len(q), 3, "bounded")
    eq(q.dropped, 2, "oldest dropped")
    eq([bytes(q.peek(i)) for i in range(3)], [b"r2", b"r3", b"r4"], "oldest first")
    q.commit(2)
    eq(bytes(q.peek(0)), b"r4", "after commit")
    raises(OverflowError, q.append, b"x" * 17)
    raises(IndexError, q.peek, 1)


class Dev:
    def __init__(self, id, chans, online=True):
        self.id = id
        self.channels = chans
        self.online = online
        self.values = [None] * len(chans)
        self.ok = True
        self.polls = 0

    def service(self, now):
        pass

    def sample(self, now):
        self.polls += 1
        return self.ok


def chan(param, unit, lo, hi, places=1):
    c = Channel({"param": param, "unit": unit, "type": "int16", "range": [lo, hi]}, 0,
                Window(lo, hi))
    c.places = places
    return c


def test_duplicate_parameter_later_wins():
    a = Dev("ph", [chan("ph", "pH", 0, 14), chan("temp", "degC", 0, 60)])
    b = Dev("thp", [chan("temp", "degC", -40, 80), chan("rh", "%", 0, 100)])
    warned = []
    ents = entries([a, b], warned.append)
    eq([(e.ch.param, e.device.id) for e in ents], [("ph", "ph"), ("temp", "thp"), ("rh", "thp")],
       "entries")
    eq(len(warned), 1, "one warning")


def test_record_encoding_parses_as_json():
    d = Dev("x", [chan("so2", "ppb", 0, 2000), chan("pm10", "ug/m3", 0, 1000, 0)], online=False)
    for x in (12.34, 12.36):
        d.channels[0].window.add(x)
    ents = entries([d])
    for e in ents:
        e.ch.window.close(2)
    d.channels[1].window.flags |= 4
    w = Writer(record_bytes(ents))
    encode_record(w, 1763755200, 300, ents)
    rec = json.loads(bytes(w.mv[:w.n]))
    eq(rec, {"t": 1763755200, "p": 300, "d": {"so2": [12.35, "ppb", 0, 2, 0, 12.3, 12.4],
                                              "pm10": [None, "ug/m3", 2, 0, 6]}}, "record")


class FakeLink:
    def __init__(self, results):
        self.results = results
        self.connected = True
        self.data_topic = b"quantrac/v1/x/data"
        self.sent = []

    def publish(self, topic, payload, qos, retain=False):
        self.sent.append(bytes(payload))
        ok = self.results.pop(0)
        self.connected = ok
        return ok


def test_publisher_retries_with_same_seq_and_records():
    q = RamQueue(8, 64)
    for i in range(3):
        q.append(b'{"t":%d}' % i)
    link = FakeLink([False, True, True])
    pub = Publisher(q, link, Messages("st-1", "0.1.0", "0badc0de", 128), 2)
    eq(pub.drain(), 0, "first attempt fails")
    link.connected = True
    eq(pub.drain(), 2, "then two messages")
    m = [json.loads(s) for s in link.sent]
    eq([x["seq"] for x in m], [0, 0, 1], "seq reused for the retry")
    eq(m[0]["r"], m[1]["r"], "same records on retry")
    eq(m[2]["r"], [{"t": 2}], "rest")
    eq(len(q), 0, "queue drained")


# ---- sampler cadence --------------------------------------------------------------------------

def test_sampler_holds_without_clock_and_aligns_records():
    clk = Clock()
    d = Dev("x", [chan("so2", "ppb", 0, 2000)])
    d.values[0] = 5
    ents = entries([d])
    q = RamQueue(8, record_bytes(ents))
    s = Sampler({"sample_s": 1, "report_s": 5}, clk, [d], ents, q)
    for _ in range(12):
        s.step(clk.ms)
        clk.ms += 1000
    eq(len(q), 0, "no record from an unset clock")
    clk.t = 1763755200 - 12 + 3  # valid now; wall clock 3 s into a period
    for _ in range(14):
        s.step(clk.ms)
        clk.ms += 1000
    ts = [json.loads(bytes(q.peek(i)))["t"] for i in range(len(q))]
    eq(ts, [1763755205, 1763755210, 1763755215], "records at multiples of report_s")
    eq(json.loads(bytes(q.peek(1)))["d"]["so2"][:5], [5, "ppb", 0, 5, 0], "full period")


def test_sampler_skips_missed_ticks_and_flags_offline():
    clk = Clock()
    clk.t = 1763755200
    d = Dev("x", [chan("so2", "ppb", 0, 2000)])
    d.ok = False
    d.online = False
    ents = entries([d])
    q = RamQueue(8, record_bytes(ents))
    s = Sampler({"sample_s": 1, "report_s": 5}, clk, [d], ents, q)
    s.step(clk.ms)
    clk.ms += 3500  # the loop was held up: ticks at 1000, 2000 and 3000 are overdue
    s.step(clk.ms)
    eq((d.polls, s.missed_ticks), (2, 2), "one late sample, no catch-up burst")
    clk.ms += 2000
    s.step(clk.ms)
    eq(json.loads(bytes(q.peek(0)))["d"]["so2"], [None, "ppb", 2, 0, 2 | 4], "offline record")


# ---- uplink ---------------------------------------------------------------------------------

class ByteSocket:
    """The broker side as bytes: preloaded input, recorded output."""

    def __init__(self, incoming):
        self.inp = bytearray(incoming)
        self.out = bytearray()
        self.blocking = True
        self.closed = False

    def read(self, n):
        if not self.inp and not self.blocking:
            return None  # a non-blocking socket with nothing to read
        b = bytes(self.inp[:n])
        self.inp = self.inp[n:]
        return b

    def write(self, buf, n=-1):
        b = bytes(buf) if n < 0 else bytes(buf[:n])
        self.out += b
        return len(b)

    def setblocking(self, flag):
        self.blocking = flag

    def close(self):
        self.closed = True


class LinkHal(Clock):
    sockets = None

    def __init__(self, rnd):
        Clock.__init__(self)
        self.t = 1763755200
        self.rnd = rnd

    def random_bytes(self, n):
        return bytes([self.rnd] * n)

    def net_up(self):
        return True


def uplink(rnd=0, keepalive=10):
    from station.uplink import Uplink

    cfg = {"station": "st-1", "fw": "0.1.0",
           "mqtt": {"host": "127.0.0.1", "port": 1, "user": "st-1", "password": "pw",
                    "keepalive": keepalive, "timeout_s": 1, "backoff_min_s": 1,
                    "backoff_max_s": 8}}
    return Uplink(cfg, LinkHal(rnd), "0badc0de", "power_on")


def test_backoff_doubles_with_jitter_and_caps():
    for rnd, low in ((0, True), (255, False)):
        up = uplink(rnd)
        waits = []
        for a in range(6):
            up.attempts = a
            waits.append(up._backoff_ms())
        full = [1000, 2000, 4000, 8000, 8000, 8000]
        want = [x // 2 for x in full] if low else [x * 511 // 512 for x in full]
        eq(waits, want, f"jittered back-off, rnd={rnd}")


def test_keepalive_ping_then_dead_link_is_dropped():
    up = uplink(keepalive=10)
    c = Client("st-1", "127.0.0.1")
    c.sock = ByteSocket(b"")
    up.client = c
    up.connected = True
    up.last_tx = 0
    up.service(4000)
    eq(bytes(c.sock.out), b"", "no ping before keepalive/2")
    up.service(5000)
    eq(bytes(c.sock.out), b"\xc0\x00", "PINGREQ at keepalive/2")
    c.sock.inp += b"\xd0\x00\x40\x02\x00\x07"  # PINGRESP, then a late PUBACK
    up.service(6000)
    eq((up.ping_sent, len(c.sock.inp)), (None, 0), "PINGRESP and stray PUBACK consumed")
    up.service(10000)
    eq(up.ping_sent, 10000, "second ping")
    up.service(20001)  # no PINGRESP within keepalive
    eq((up.connected, c.sock.closed), (False, True), "half-open link dropped")


def test_packet_id_wraps_to_one():
    c = Client("st-1", "127.0.0.1")
    c.sock = ByteSocket(b"\x40\x02\x00\x01")
    c.pid = 65535
    c.publish(b"t", b"x", False, 1)
    eq(bytes(c.sock.out), b"\x32\x06\x00\x01t\x00\x01x", "PUBLISH with packet id 1")
    eq(c.pid, 1, "pid")


# ---- config ---------------------------------------------------------------------------------

def base_config():
    return {"station": "pq-air-01", "mqtt": {"host": "127.0.0.1", "user": "pq-air-01",
                                             "password": "secret"},
            "uarts": {"rs485": {"path": "/dev/null"}, "pm": {"path": "/dev/null"}},
            "sensors": [
                {"id": "gas", "bus": "modbus", "uart": "rs485", "addr": 1, "ch": [
                    {"param": "so2", "unit": "ppb", "reg": 0, "type": "float32",
                     "order": "CDAB", "range": [0, 2000]}]},
                {"id": "pm", "bus": "stream", "uart": "pm", "frame": "pms", "ch": [
                    {"param": "pm10", "unit": "ug/m3", "field": "pm10_atm", "range": [0, 1000]}]}]}


def config_error(mutate):
    cfg = base_config()
    mutate(cfg)
    return str(raises(config.ConfigError, config.check, cfg))


def test_config_defaults_merge():
    cfg = config.check(base_config())
    eq((cfg["sample_s"], cfg["mqtt"]["port"], cfg["uarts"]["rs485"]["baud"]), (10, 1883, 9600),
       "defaults")
    eq(cfg["sensors"][0]["timeout_ms"], 250, "sensor default")
    eq(config.masked(cfg)["mqtt"]["password"], "***", "masked")


def test_config_errors_name_the_key():
    def drop_host(c):
        del c["mqtt"]["host"]

    def unknown(c):
        c["sensors"][0]["ch"][0]["colour"] = 1

    def bad_type(c):
        c["sensors"][0]["ch"][0]["type"] = "float64"

    def bad_field(c):
        c["sensors"][1]["ch"][0]["field"] = "pm25"

    def shared(c):
        c["sensors"][1]["uart"] = "rs485"

    def wrong_kind(c):
        c["report_s"] = "300"

    for mutate, want in ((drop_host, "mqtt.host: missing"),
                         (unknown, "sensors[0].ch[0].colour: unknown key"),
                         (bad_type, "sensors[0].ch[0].type: 'float64' is not one of"),
                         (bad_field, "sensors[1].ch[0].field: 'pm25'"),
                         (shared, "sensors[1].uart: a streaming sensor needs its uart alone"),
                         (wrong_kind, "report_s: '300' should be a number")):
        msg = config_error(mutate)
        if want not in msg:
            raise AssertionError(f"{msg!r} does not say {want!r}")


run(globals())
