# A streaming sensor of a rarer frame family (bus/frames_more.py: hpma, hpmaqa, ze, zeqa,
# bm), with the bytes it must be sent (`send`: [[[bytes], every_ms], ...]; every_ms 0: once,
# and again after its stream was offline; otherwise that often, as a Q&A module's read
# request). Loaded only when a station has one: the plain pms/sds sensor (devices/
# pm_sensor.py) stays as it is, and this class takes its ring, window, warm-up and staleness
# from it.
#
# Per frame nothing is allocated: the values go into the float ring as integers
# (bus/frames_more.py raw()) and are scaled once per sample.

from bus.frames_more import FIELDS, PLACES, ZE, raw, splitter, unit_of
from devices.pm_sensor import PmSensor, StreamChannel
from values.decode import places_of


class _Channel(StreamChannel):
    def __init__(self, cfg, kind):  # not StreamChannel.__init__: it looks in bus/frames.py
        self.param = cfg["param"]
        r = cfg["range"]
        self.rng = (r[0], r[1], cfg["unit"])  # low, high, unit, as StreamChannel keeps it
        self.idx = FIELDS[kind].split().index(cfg["field"])
        # the resolution the record keeps: a ze frame's 0.01 (its usual decimals at most)
        # in the channel's unit (ppm x 1000: 10 ppb, no decimals), else the family's
        self.places = places_of(cfg["scale"] / 100) if kind == ZE else \
            PLACES[kind] + places_of(cfg["scale"])
        self.k = -1
        self.dev = None
        self.scale = cfg["scale"] * unit_of(kind)


class MoreStreamSensor(PmSensor):
    def __init__(self, cfg, uart, hal):
        kind = cfg["frame"]
        chans = cfg["ch"]
        # the pms/sds set-up with a placeholder family, then this family's splitter and fields
        cfg["frame"] = "sds"
        cfg["ch"] = [{"param": c["param"], "unit": c["unit"], "range": c["range"],
                      "field": "pm10"} for c in chans]
        PmSensor.__init__(self, cfg, uart, hal)
        cfg["frame"] = kind
        cfg["ch"] = chans
        self.kind = kind
        self.splitter = splitter(kind, cfg["match"])
        self.channels = [_Channel(c, kind) for c in chans]
        # [payload, every_ms, due tick or None]; a once-only one is due at the first turn
        self.send = [[bytes(b), ms, None] for b, ms in cfg["send"]]
        self.was = True

    def service(self, now=None):
        t = self.hal.io_ticks_ms()
        for job in self.send:
            due = job[2]
            if due is None or (job[1] and self.hal.ticks_diff(t, due) >= 0):
                self.uart.write(job[0], len(job[0]))
                job[2] = self.hal.ticks_add(t, job[1]) if job[1] else t
        PmSensor.service(self)

    def _keep(self, frame):
        at = self.ring_at
        base = at * len(self.channels)
        for ch in self.channels:
            v = raw(frame, self.kind, ch.idx)
            if v is None:
                return  # a warm-up frame: no value
            self.ring[base] = v
            base += 1
        self.last_ms = self.ring_ms[at] = self.hal.io_ticks_ms()
        self.ring_at = (at + 1) % len(self.ring_ms)
        if self.ring_n < len(self.ring_ms):
            self.ring_n += 1

    def sample(self, now=None):
        ok = PmSensor.sample(self, now)
        if self.online != self.was:
            self.was = self.online
            if not self.online and self.last_ms is not None:  # lost, not yet to come
                # the module may have been power-cycled into its default mode: say it again
                for job in self.send:
                    if not job[1]:
                        job[2] = None
        if ok:
            for c, ch in enumerate(self.channels):
                v = self.values[c]
                if v is not None:
                    self.values[c] = v * ch.scale
        return ok
