# Unit tests of the station layer (records, queue, publisher, sampler, uplink, config) that
# run ON MicroPython (the unix port). Prints PASS/FAIL lines like units_bus.py.
# Fakes stand only where hardware would be: a byte-buffer socket and a clock.

import json
import sys

import config
from mpytest import Clock, eq, raises, run
from station.assemble import columns
from layouts import layout
from station.message import Messages, Writer, put_record
from station.mqtt import Client
from station.publisher import Publisher
from station.queue import Hold
from station.record import close_into, dec24, seal, slot_ok
from station.record_v1 import put_dec24
from station.sampler import Sampler
from umqtt.simple import MQTTException
from values.calibrate import Calibration
from values.decode import Channel
from values.window import Windows

# data_dir of the stations here (the sampler's hold file): the scratch folder the CPython side
# passes, else /tmp
Clock.data_dir = next((a for a in sys.argv[1:] if not a.startswith("test_")), "/tmp")

# ---- record slots and their JSON ---------------------------------------------------------------

def dec_json(x, places):
    w = Writer(32)
    put_dec24(w, dec24(x, places))
    return bytes(w.mv[:w.n])


def test_decimals_print_as_stored():
    cases = ((12.5, -1, b"12.5"), (3.0, 2, b"3"), (-0.04, 1, b"0"), (1234.56, -1, b"1235"),
             (0.012345, -1, b"0.0123"), (7, 0, b"7"), (-3.05, 2, b"-3.05"), (1013.25, 2,
             b"1013.25"), (None, 2, b"null"), (99999.9, 1, b"99999.9"), (2.5e9, 0,
             b"2500000000"), (-123456789, 0, b"-123457000"), (0.0001, 4, b"0.0001"),
             (20.25, -1, b"20.25"), (0.75, -1, b"0.75"), (3e12, 0, b"null"))
    for x, p, want in cases:
        eq(dec_json(x, p), want, f"{x!r} with {p} places")


class RamBacklog:
    """The backlog's queue contract in RAM (the publisher's and the sampler's view of it):
    append / peek / commit / len / layout / dropped."""

    def __init__(self, n, layout):
        self.lay = layout
        self.lays = []
        self.recs = []
        self.dropped = 0

    def __len__(self):
        return len(self.recs)

    def append(self, slot, layout=None):
        self.lays.append(layout or self.lay)
        self.recs.append(bytearray(slot))

    def peek(self, i):
        return self.recs[i]

    def commit(self, k):
        del self.recs[:k]

    def layout(self, i):
        return self.lay


class Col:
    def __init__(self, places):
        self.places = places


def closed(lay, specs, samples, places=None, expected=30, offline=None, cal=()):
    """One slot of `lay` from samples per column (a window with each spec's range)."""
    win = Windows([(s[0], s[1]) for s in specs], True)
    for k in cal:
        win.calibrating[k] = 1
    win.reset()
    for k, xs in enumerate(samples):
        for x in xs:
            win.add(k, x)
    slot = bytearray(lay.size)
    cols = [Col(p) for p in (places or [s[2] for s in specs])]
    close_into(slot, lay, win, cols, expected, offline or bytearray(len(specs)))
    return slot, win


def as_json(slot, lay):
    w = Writer(lay.json_bytes)
    put_record(w, slot, lay)
    return json.loads(bytes(w.mv[:w.n]))


def test_slot_crc_and_json():
    specs = [(0, 2000, -1, False), (0, 1000, 0, False)]
    lay = layout(["so2", "pm10"], ["ppb", "ug/m3"], True, specs)
    slot, _ = closed(lay, specs, [[12.3, 12.4], []], offline=b"\x00\x01")
    seal(slot, 1763755200, 8)
    eq(slot_ok(slot), True, "sealed")
    eq(as_json(slot, lay), {"t": 1763755200, "p": 300, "d": {
        "so2": [12.35, "ppb", 0, 2, 10, 12.3, 12.4], "pm10": [None, "ug/m3", 2, 0, 14]}},
       "record (rebased flag on every parameter)")
    slot[5] ^= 1
    eq(slot_ok(slot), False, "a flipped bit fails the CRC")


def test_compact_slot_size():
    # the fullest air profile's columns (quantrac/bench/firmware.py FULLEST): 4 gases as
    # float32, temp/rh/pressure and tsp at 0.1, pm1/pm2_5/pm10 whole ug/m3, 5 noise at 0.1 dB
    specs = ([(0, 2000, -1, False), (0, 100, -1, False), (0, 2000, -1, False),
              (0, 1000, -1, False), (-40, 80, 1, False), (0, 100, 1, False),
              (300, 1100, 1, False), (0, 10000, 1, False)] + [(0, 1000, 0, False)] * 3 +
             [(30, 130, 1, False)] * 5)
    lay = layout(["p%d" % i for i in range(16)], ["u"] * 16, False, specs, 300, 6)
    eq(lay.size, 57, "16 parameters at 300 s / 10 s")
    eq(lay.retimed(300, 12).size, 69, "the same with the widest n (2047 samples a period)")


def test_values_round_trip_at_the_declared_precision():
    # every value prints as the version 1 record (dec24 at the same decimals) printed it:
    # the range edges, just inside them, and values between
    specs = [(0, 2000, -1, False), (-50, 50, -1, False), (-40, 80, 1, False),
             (300, 1100, 1, False), (0, 10000, 1, False), (0, 1000, 0, False),
             (0, 999.9, 1, False), (0, 14, 0, True), (0, 1e9, 0, False), (0, 5e4, -1, False)]
    lay = layout(["c%d" % i for i in range(len(specs))], ["u"] * len(specs), True, specs)
    eq([lay.enc[3 * k] for k in range(len(specs))], [1, 2, 0, 0, 0, 0, 0, 0, 3, 3], "kinds")
    for dec_places in (0, 1, 2, 4):   # a decimal-point register's places (column 7)
        for pick in (0, 1, 2, 3):
            xs = []
            for lo, hi, places, _ in specs:
                xs.append((lo, hi, lo + (hi - lo) * 0.123456789, lo + (hi - lo) / 3)[pick])
            places = [s[2] for s in specs]
            places[7] = dec_places
            slot, _ = closed(lay, specs, [[x] for x in xs], places, expected=1)
            seal(slot, 1763755200)
            got = as_json(slot, lay)["d"]
            for k, x in enumerate(xs):
                p = places[k]
                want = json.loads(dec_json(x, min(4, p + 1) if p >= 0 else -1))
                eq(got["c%d" % k][0], want, f"column {k} mean {x!r} ({p} places)")
                want = json.loads(dec_json(x, p))
                eq(got["c%d" % k][5:], [want, want], f"column {k} min/max {x!r}")
                eq(got["c%d" % k][1:5], ["u", 0, 1, 0], f"column {k} flags")


def test_out_of_range_and_nan_are_null_and_flagged_never_wrapped():
    # the window drops such samples before they reach a mean; here one wider than the
    # layout lets them through, to see what the record does with them
    specs = [(0, 100, 1, False)] * 2 + [(0, 2000, -1, False), (-40, 80, 1, False)]
    lay = layout(["a", "b", "c", "d"], ["u"] * 4, True, specs)
    win = Windows([(-1e30, 1e30)] * 4, True)
    for k, x in enumerate((100.01, 1e6, float("nan"), -40.2)):
        win.add(k, x)
    if win.n[2] == 0:  # the window refuses NaN: put it in as a mean would carry it
        win.n[2] = 1
        win.total[2] = float("nan")
        win.mn[2] = win.mx[2] = float("nan")
    slot = bytearray(lay.size)
    close_into(slot, lay, win, [Col(1), Col(1), Col(-1), Col(1)], 1, bytearray(4))
    seal(slot, 1763755200)
    got = as_json(slot, lay)["d"]
    eq(got["a"], [100.01, "u", 0, 1, 0, 100, 100], "just above the range: still exact")
    eq(got["b"], [None, "u", 0, 1, 1, None, None], "beyond what the column holds: null, flag 1")
    eq(got["c"], [None, "u", 0, 1, 1, None, None], "NaN: null, flag 1")
    eq(got["d"], [None, "u", 0, 1, 1, None, None], "below the range: null, flag 1")


def test_n_saturates_and_status_follows():
    specs = [(0, 100, 1, False)] * 3
    lay = layout(["a", "b", "c"], ["u"] * 3, False, specs, 300, 3)  # n holds 0..7
    slot, _ = closed(lay, specs, [[5] * 9, [], [5] * 2], expected=3, cal=(1,))
    seal(slot, 1763755200)
    got = as_json(slot, lay)["d"]
    eq(got["a"], [5, "u", 0, 7, 0], "n saturates at the field's top, never wraps")
    eq(got["b"], [None, "u", 1, 0, 2], "calibrating without samples: status 1")
    eq(got["c"], [5, "u", 0, 2, 2], "2 of 3: incomplete")


def test_hold_order_overflow_and_commit():
    path = Clock.data_dir + "/held-test"
    q = Hold(path, 3, 16)
    for i in range(5):
        q.append(b"r%d" % i, 0x3FFFFFF0 + i, i)
    eq(len(q), 3, "bounded")
    eq(q.dropped, 2, "oldest dropped")
    eq([bytes(q.peek(i)) for i in range(3)], [b"r2", b"r3", b"r4"], "oldest first")
    eq((q.tick, q.lay), (0x3FFFFFF4, 4), "each with its tick and layout")
    q.commit(2)
    eq(bytes(q.peek(0)), b"r4", "after commit")
    raises(OverflowError, q.append, b"x" * 17)
    raises(IndexError, q.peek, 1)
    q.commit(1)
    raises(OSError, open, path)  # empty: the file is gone
    q.append(b"again")
    eq(Hold(path, 3, 16).count, 0, "a new boot starts with an empty hold")
    raises(OSError, open, path)


class Dev:
    def __init__(self, id, chans, online=True):
        self.id = id
        self.channels = chans
        self.online = online
        self.values = [None] * len(chans)
        self.shown = [None] * len(chans)  # what it reads now: the last value a test set
        self.ok = True
        self.polls = 0

    def service(self, now):
        pass

    def sample(self, now):
        """Like a real device, fills .values at every poll (the sampler takes them out)."""
        self.polls += 1
        for i, v in enumerate(self.values):
            if v is None:
                self.values[i] = self.shown[i]
            else:
                self.shown[i] = v
        return self.ok


def chan(param, unit, lo, hi, places=1):
    c = Channel({"param": param, "unit": unit, "type": "int16", "range": [lo, hi]}, 0)
    c.places = places
    return c


def test_duplicate_parameter_later_wins():
    a = Dev("ph", [chan("ph", "pH", 0, 14), chan("temp", "degC", 0, 60)])
    b = Dev("thp", [chan("temp", "degC", -40, 80), chan("rh", "%", 0, 100)])
    warned = []
    cols = columns([a, b], warned.append)
    eq([(c.param, c.dev.id, c.k) for c in cols], [("ph", "ph", 0), ("temp", "thp", 1),
                                                   ("rh", "thp", 2)], "columns")
    eq(a.channels[1].k, -1, "the overridden channel is not recorded")
    eq(len(warned), 1, "one warning")


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


def records(lay, ts):
    q = RamBacklog(8, lay)
    for t in ts:
        slot, _ = closed(lay, [(0, 1e9, 1, False)], [[t / 10]])
        seal(slot, t)
        q.append(slot)
    return q


def test_publisher_retries_with_same_seq_and_records():
    lay = layout(["so2"], ["ppb"])
    q = records(lay, (1763755200, 1763755500, 1763755800))
    link = FakeLink([False, True, True])
    pub = Publisher(q, link, Messages("st-1", "0.1.0", "0badc0de", 2 * lay.json_bytes), 2)
    eq(pub.drain(), 0, "first attempt fails")
    link.connected = True
    eq(pub.drain(), 2, "then two messages")
    m = [json.loads(s) for s in link.sent]
    eq([x["seq"] for x in m], [0, 0, 1], "seq reused for the retry")
    eq(m[0]["r"], m[1]["r"], "same records on retry")
    eq([r["t"] for r in m[2]["r"]], [1763755800], "rest")
    eq(len(q), 0, "queue drained")


def test_publisher_skips_damaged_records():
    lay = layout(["so2"], ["ppb"])
    q = records(lay, (1763755200, 1763755500, 1763755800))
    q.peek(1)[6] ^= 0x40  # bit rot in the middle record
    link = FakeLink([True])
    msgs = Messages("st-1", "0.1.0", "0badc0de", 4 * lay.json_bytes)
    pub = Publisher(q, link, msgs, 8)
    eq(pub.drain(), 1, "one message")
    eq([r["t"] for r in json.loads(link.sent[0])["r"]], [1763755200, 1763755800], "skipped")
    eq((len(q), msgs.corrupt), (0, 1), "consumed and counted")


# ---- sampler cadence --------------------------------------------------------------------------

def sampler(clk, devs, hold=8, sample_s=1):
    cols = columns(devs)
    lay = layout([c.param for c in cols], [c.rng[2] for c in cols], False,
                 [(c.rng[0], c.rng[1], c.places, False) for c in cols], 5, 4)
    bl = RamBacklog(16, lay)
    cfg = {"sample_s": sample_s, "report_s": 5, "backlog": {"hold": hold}}
    return Sampler(cfg, clk, devs, cols, lay, bl, Calibration({}, [c.param for c in cols])), bl


def recs(bl):
    out = []
    for i in range(len(bl)):
        lay = bl.lays[i]  # the layout it was appended with (no commits in these tests)
        w = Writer(lay.json_bytes)
        put_record(w, bl.peek(i), lay)
        out.append(json.loads(bytes(w.mv[:w.n])))
    return out


def test_sampler_aligns_records_to_report_multiples():
    clk = Clock()
    clk.t = 1763755200 + 3  # 3 s into a period
    d = Dev("x", [chan("so2", "ppb", 0, 2000)])
    d.values[0] = 5
    s, bl = sampler(clk, [d])
    for _ in range(14):
        s.step(clk.ms)
        clk.ms += 1000
    got = recs(bl)
    eq([r["t"] for r in got], [1763755205, 1763755210, 1763755215], "multiples of report_s")
    eq(got[1]["d"]["so2"], [5, "ppb", 0, 5, 0], "a full period")


def test_a_sample_just_after_a_boundary_belongs_to_the_next_period():
    # the loop turns only at sample ticks (a slow bus, a fast clock): no turn comes between
    # a period's end and the sample 1 s after it
    clk = Clock()
    t0 = 1763755200 + 1
    clk.t = t0
    d = Dev("x", [chan("so2", "ppb", 0, 2000)])
    d.values[0] = 5
    s, bl = sampler(clk, [d], sample_s=2)
    taken = []
    for _ in range(12):  # samples at t0, t0 + 2, ... t0 + 22
        taken.append(clk.epoch())
        s.step(clk.ms)
        clk.ms += 2000
    got = recs(bl)
    eq([r["t"] for r in got], [t0 + 4, t0 + 9, t0 + 14, t0 + 19], "period ends")
    eq([r["d"]["so2"][3] for r in got],
       [len([e for e in taken if r["t"] - 5 < e <= r["t"]]) for r in got],
       "each period counts the samples taken inside it")
    eq([r["d"]["so2"][3] for r in got], [3, 2, 3, 2], "n")


class TimedDev(Dev):
    """A device that notes the station second each of its samples was taken in."""

    def __init__(self, hal, chans):
        Dev.__init__(self, "x", chans)
        self.hal = hal
        self.taken = []

    def sample(self, now):
        self.taken.append(self.hal.epoch())
        return Dev.sample(self, now)


def test_on_the_fast_clock_each_period_counts_the_samples_taken_inside_it():
    # the unix port's own clock at 50x; the loop turns only at sample ticks, 1 s after each
    # odd boundary, as a station whose polls take long does
    from hal.unix import Hal

    t0 = 1763755200 + 1
    hal = Hal({"mqtt": {"timeout_s": 1}, "clock": {"speed": 50, "t0": t0},
               "data_dir": Clock.data_dir})
    d = TimedDev(hal, [chan("so2", "ppb", 0, 2000)])
    d.values[0] = 5
    s, bl = sampler(hal, [d], sample_s=2)
    while len(bl) < 4:
        s.step(hal.ticks_ms())
        hal.sleep_ms(s.due_in(hal.ticks_ms()))
    got = recs(bl)
    eq([r["d"]["so2"][3] for r in got],
       [len([e for e in d.taken if r["t"] - 5 < e <= r["t"]]) for r in got],
       "n: the samples taken inside each period")
    eq([r["d"]["so2"][3] for r in got], [3, 2, 3, 2], "n")


def test_a_sample_on_the_boundary_belongs_to_the_period_ending_there():
    clk = Clock()
    clk.t = 1763755200 - 6
    d = Dev("x", [chan("so2", "ppb", 0, 2000)])
    d.values[0] = 5
    s, bl = sampler(clk, [d], sample_s=2)
    for _ in range(9):  # samples at -6, -4, ... +10 s of a multiple of 5
        s.step(clk.ms)
        clk.ms += 2000
    got = recs(bl)
    eq([(r["t"] - 1763755200, r["d"]["so2"][3]) for r in got],
       [(-5, 1), (0, 3), (5, 2), (10, 3)], "samples at 0 and 10 close their periods")


def test_sampler_holds_without_clock_then_rebases():
    clk = Clock()
    d = Dev("x", [chan("so2", "ppb", 0, 2000)])
    d.values[0] = 5
    s, bl = sampler(clk, [d], hold=2)
    for _ in range(16):   # 15 s without a clock: three periods by ticks, the hold keeps two
        s.step(clk.ms)
        clk.ms += 1000
    eq((len(bl), len(s.hold), s.hold.dropped), (0, 2, 1), "held, oldest dropped, not stamped")
    clk.t = 1763755200 - 16 + 2  # valid from now on (wall clock 2 s past a multiple of 5)
    s.step(clk.ms)
    got = recs(bl)
    now = clk.epoch()
    eq([r["t"] for r in got], [now - 6, now - 1], "stamped from their ticks")
    eq([r["d"]["so2"][4] & 8 for r in got], [8, 8], "flagged rebased")
    eq(got[0]["d"]["so2"][:4], [5, "ppb", 0, 5], "values kept")
    for _ in range(10):
        clk.ms += 1000
        s.step(clk.ms)
    eq([r["t"] % 5 for r in recs(bl)[2:]], [0, 0], "then aligned again")


def test_sampler_skips_missed_ticks_and_flags_offline():
    clk = Clock()
    clk.t = 1763755200
    d = Dev("x", [chan("so2", "ppb", 0, 2000)])
    d.ok = False
    d.online = False
    s, bl = sampler(clk, [d])
    s.step(clk.ms)
    clk.ms += 3500  # the loop was held up: ticks at 1000, 2000 and 3000 are overdue
    s.step(clk.ms)
    eq((d.polls, s.missed_ticks), (2, 2), "one late sample, no catch-up burst")
    clk.ms += 2000
    s.step(clk.ms)
    eq(recs(bl)[0]["d"]["so2"], [None, "ppb", 2, 0, 2 | 4], "offline record")


def test_report_interval_change_gets_its_own_layout():
    clk = Clock()
    clk.t = 1763755200
    d = Dev("x", [chan("so2", "ppb", 0, 2000)])
    d.values[0] = 5
    s, bl = sampler(clk, [d])
    for _ in range(6):
        s.step(clk.ms)
        clk.ms += 1000
    s.set_report(50)  # 50 samples a period: n needs 7 bits instead of 4
    for _ in range(101):
        s.step(clk.ms)
        clk.ms += 1000
    got = recs(bl)
    eq([r["p"] for r in got], [5, 50, 50], "each record with its own interval")
    eq(got[-1]["d"]["so2"][:5], [5, "ppb", 0, 50, 0], "50 samples counted, not wrapped")
    eq([lay.nb for lay in bl.lays], [4, 7, 7], "n widened with the interval")


def test_held_records_keep_the_layout_they_were_closed_with():
    clk = Clock()
    d = Dev("x", [chan("so2", "ppb", 0, 2000)])
    d.values[0] = 5
    s, bl = sampler(clk, [d])
    for _ in range(6):   # no clock: one record held at p 5
        s.step(clk.ms)
        clk.ms += 1000
    s.set_report(40)
    for _ in range(5):  # one more held, closed with the new layout
        s.step(clk.ms)
        clk.ms += 1000
    eq(len(s.hold), 2, "two held")
    clk.t = 1763755200
    s.step(clk.ms)
    eq([r["p"] for r in recs(bl)], [5, 40], "released as closed")
    eq([lay.nb for lay in bl.lays], [4, 7], "each with its layout")


def test_sampler_applies_calibration():
    clk = Clock()
    clk.t = 1763755200
    d = Dev("x", [chan("so2", "ppb", 0, 2000)])
    d.values[0] = 10
    s, bl = sampler(clk, [d])
    s.cal = Calibration({"so2": {"v": 1, "offset": 1, "slope": 2}}, ["so2"])
    for _ in range(6):
        s.step(clk.ms)
        clk.ms += 1000
    eq(recs(bl)[0]["d"]["so2"][:2], [21, "ppb"], "calibrated mean")


def test_the_sampler_takes_the_values_out_of_the_devices():
    # a device fills .values at each poll; once they are in the windows no boxed float of
    # them stays on the heap between samples (the heap peak counts them)
    clk = Clock()
    clk.t = 1763755200
    d = Dev("x", [chan("so2", "ppb", 0, 2000), chan("no2", "ppb", 0, 2000)])
    d.values[0] = 10.5
    d.values[1] = 20.25
    s, bl = sampler(clk, [d])
    s.step(clk.ms)
    eq(d.values, [None, None], "taken")
    eq((s.win.n[0], s.win.total[0], s.win.total[1]), (1, 10.5, 20.25), "in the windows")
    eq((s.win.mn, s.win.mx), (None, None), "no min/max kept without backlog.minmax")


# ---- the sound meter --------------------------------------------------------------------------

class LevelBus:
    """An RS-485 line whose one slave always answers with the level in rx (dB x 10)."""

    def __init__(self):
        self.rx = bytearray(8)
        self.rx[2] = 2

    def level(self, db):
        raw = round(db * 10)
        self.rx[3] = raw >> 8 & 0xFF
        self.rx[4] = raw & 0xFF

    def transact(self, req, n, timeout_ms, turnaround_ms, dev):
        return 0


def sound_meter(clk, bus):
    from devices.sound import SoundMeter

    chans = [{"param": p, "unit": "dBA", "reg": 0, "type": "int16", "scale": 0.1,
              "range": [30, 130]} for p in "laeq lamax lamin l10 l50 l90".split()]
    cfg = {"id": "noise", "addr": 4, "fn": 3, "timeout_ms": 250, "turnaround_ms": 20,
           "tries": 2, "offline_after": 3, "offline_min_s": 10, "offline_max_s": 300,
           "sample_s": 1, "ch": chans}
    m = SoundMeter(cfg, bus, clk)
    for k, ch in enumerate(m.channels):
        ch.k = k
    return m


def test_a_sound_meter_halves_every_count_when_one_would_overflow():
    clk = Clock()
    bus = LevelBus()
    m = sound_meter(clk, bus)
    eq(len(m.counts), 200, "0.5 dB bins over 30-130 dB")
    b60, b70 = 60, 80  # (60 - 30) * 2, (70 - 30) * 2
    m.counts[b60] = 0xFFFF
    m.counts[b70] = 3
    bus.level(60.0)
    clk.ms = m.tick  # due
    m.service(clk.ms)
    eq((m.counts[b60], m.counts[b70]), (0x8000, 1), "halved, then the level counted")
    bus.level(70.0)
    clk.ms = m.tick
    m.service(clk.ms)
    eq(m.counts[b70], 2, "the next level counts on")
    win = Windows([(30, 130)] * 6, True)
    for k in range(6):
        win.add(k, 60.0)  # a sample tick the columns counted
    m.close(win)
    got = [win.close(k, 1) for k in range(6)]
    # 32768 of 60 dB and 2 of 70 dB: l10, l50 and l90 all in the 60 dB bin; laeq and
    # lamax/lamin from the two levels read (the energy sum is exact, not halved)
    eq([round(x, 1) for x in got], [67.4, 70.0, 60.0, 60.0, 60.0, 60.0], "statistics")
    eq((sum(m.counts), m.total[1]), (0, 0), "a new period")


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
    return Uplink(cfg, LinkHal(rnd), "0badc0de", b'"reset":"power_on"')


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
    up.hal.ms = 10000  # the PINGRESP wait runs on real time (io ticks)
    up.service(10000)
    eq(up.ping_sent, 10000, "second ping")
    up.hal.ms = 20001
    up.service(20001)  # no PINGRESP within keepalive
    eq((up.connected, c.sock.closed), (False, True), "half-open link dropped")


def test_commands_are_taken_from_the_link_and_acknowledged():
    up = uplink()
    c = Client("st-1", "127.0.0.1")
    c.sock = ByteSocket(b"")
    c.set_callback(up.on_message)
    up.client = c
    up.connected = True
    topic = b"quantrac/v1/st-1/cmd"
    body = b'{"v":1,"id":"c-1","cmd":"ping"}'
    rest = 2 + len(topic) + 2 + len(body)
    c.sock.inp += bytes((0x32, rest, 0, len(topic))) + topic + b"\x00\x09" + body
    up.service(0)
    eq(up.inbox, [(b"cmd", body)], "kept for the main loop")
    eq(bytes(c.sock.out), b"\x40\x02\x00\x09", "PUBACK with its packet id")
    other = b"quantrac/v1/st-2/cmd"
    c.sock.inp += bytes((0x30, 2 + len(other) + 2, 0, len(other))) + other + b"{}"
    up.service(0)
    eq(len(up.inbox), 1, "another station's topic is ignored")


def test_pingresp_during_a_publish_is_not_lost():
    up = uplink(keepalive=10)
    c = Client("st-1", "127.0.0.1")
    c.sock = ByteSocket(b"\xd0\x00\x40\x02\x00\x01")  # PINGRESP first, then the PUBACK
    c.set_callback(up.on_message)
    up.client = c
    up.connected = True
    up.ping_sent = 0
    c.publish(b"t", b"x", False, 1)
    up.hal.ms = 10001  # past keepalive since the ping: without its PINGRESP the link is dead
    up.service(10001)
    eq((up.connected, up.ping_sent), (True, 10001), "the PINGRESP counted; the next ping out")


def test_a_message_too_long_is_refused_and_the_stream_stays_in_step():
    up = uplink()
    c = Client("st-1", "127.0.0.1")
    c.sock = ByteSocket(b"")
    c.set_callback(up.on_message)
    up.client = c
    up.connected = True
    topic = b"quantrac/v1/st-1/cmd"
    body = b"x" * 2049
    rest = 2 + len(topic) + 2 + len(body)  # 2073: a two-byte remaining length
    c.sock.inp += bytes((0x32, rest & 0x7F | 0x80, rest >> 7, 0, len(topic))) + topic + \
        b"\x00\x05" + body
    ok = b'{"v":1,"id":"c-2","cmd":"ping"}'
    c.sock.inp += bytes((0x32, 2 + len(topic) + 2 + len(ok), 0, len(topic))) + topic + \
        b"\x00\x06" + ok
    up.service(0)
    eq((up.refused, up.inbox), (1, [(b"cmd", ok)]), "refused, the next one taken")
    eq(bytes(c.sock.out), b"\x40\x02\x00\x05\x40\x02\x00\x06", "both acknowledged")
    eq(up.connected, True, "link kept")


def test_subscribe_sends_every_topic_at_qos1_in_one_packet():
    c = Client("st-1", "127.0.0.1")
    c.sock = ByteSocket(b"\xd0\x00\x90\x04\x00\x01\x01\x01")  # a PINGRESP, then the SUBACK
    c.pid = 65535
    c.subscribe(b"a/cmd", b"a/config")
    eq(bytes(c.sock.out), b"\x82\x15\x00\x01\x00\x05a/cmd\x01\x00\x08a/config\x01",
       "SUBSCRIBE, packet id wrapped to 1")
    eq((c.pid, c.pong), (1, True), "pid; the PINGRESP before the SUBACK kept")
    c.sock = ByteSocket(b"\x90\x04\x00\x02\x01\x80")
    e = raises(MQTTException, c.subscribe, b"a/cmd", b"a/config")
    eq(str(e), "subscription refused", "a refused topic")


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

    def bad_function(c):
        c["sensors"][0]["fn"] = 5

    def bad_name(c):
        c["station"] = "PQ air"

    for mutate, want in ((drop_host, "mqtt.host: missing"),
                         (unknown, "sensors[0].ch[0].colour: unknown key"),
                         (bad_type, "sensors[0].ch[0].type: 'float64' is not one of"),
                         (bad_field, "sensors[1].ch[0].field: 'pm25'"),
                         (shared, "sensors[1].uart: a streaming sensor needs its uart alone"),
                         (wrong_kind, "report_s: '300' should be a number"),
                         (bad_function, "sensors[0].fn: 5 is not one of 3, 4"),
                         (bad_name, "station: 'PQ air' is not a lower-case name")):
        msg = config_error(mutate)
        if want not in msg:
            raise AssertionError(f"{msg!r} does not say {want!r}")


run(globals())
