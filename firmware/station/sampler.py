# The cadence: every sample_s (monotonic) poll each device and feed its channels' windows;
# when the wall clock passes a multiple of report_s, close the windows into one record stamped
# with that boundary (the END of the averaging period) and hand it to the queue.
#
# Clock rule: a record is never stamped from a clock before 2024-01-01. While the clock is not
# valid the windows stay open and keep collecting; the first boundary after the clock becomes
# valid closes them. (Tick-stamped records rebased later, flag 8, come with station/clock.py.)

import gc

import log
from station.record import Writer, encode_record
from values.window import OFFLINE


class Sampler:
    def __init__(self, cfg, hal, devices, ents, queue):
        """ents: station.record.entries(devices); queue slots must hold record_bytes(ents)."""
        self.hal = hal
        self.devices = devices
        self.queue = queue
        self.sample_ms = cfg["sample_s"] * 1000
        self.report_s = cfg["report_s"]
        self.expected = cfg["report_s"] // cfg["sample_s"]
        self.entries = ents
        self.w = Writer(queue.size)
        self.next_sample = hal.ticks_ms()
        self.period_end = None      # epoch second the open period ends at; None: clock unknown
        self.holding = False
        self.samples = 0
        self.missed_ticks = 0       # sample ticks skipped because the loop was held up
        self.records = 0

    def due_in(self, now):
        """ms until the next sample tick (0 when due)."""
        return max(0, self.hal.ticks_diff(self.next_sample, now))

    def step(self, now):
        """Run whatever is due at tick `now`; the closed record's end time, or None."""
        hal = self.hal
        for dev in self.devices:
            dev.service(now)
        if hal.ticks_diff(now, self.next_sample) >= 0:
            self._sample(now)
            nxt = hal.ticks_add(self.next_sample, self.sample_ms)
            while hal.ticks_diff(now, nxt) >= 0:  # a stall: skip the ticks, do not catch up
                nxt = hal.ticks_add(nxt, self.sample_ms)
                self.missed_ticks += 1
            self.next_sample = nxt
        return self._maybe_close()

    def _sample(self, now):
        self.samples += 1
        for dev in self.devices:
            ok = dev.sample(now)
            values = dev.values
            for i, ch in enumerate(dev.channels):
                if ok:
                    ch.window.add(values[i])
                else:
                    ch.window.miss()

    def _maybe_close(self):
        t = self.hal.epoch()
        if t is None:
            if not self.holding:
                self.holding = True
                log.warn("clock not set: holding the open period until it is")
            return None
        if self.holding:
            self.holding = False
            log.info("clock set: records resume")
        r = self.report_s
        if self.period_end is None or t < self.period_end - r:
            # first valid time, or the clock stepped back past the open period: realign
            self.period_end = (t // r + 1) * r
            return None
        if t < self.period_end:
            return None
        end = self.period_end
        self.close(end)
        self.period_end = (t // r + 1) * r
        return end

    def close(self, end):
        """Close every window into one record ending at `end` and queue it; reset the windows."""
        for e in self.entries:
            e.ch.window.close(self.expected)
            if not e.device.online:
                e.ch.window.flags |= OFFLINE
        w = self.w
        w.n = 0
        encode_record(w, end, self.report_s, self.entries)
        self.queue.append(w.mv[:w.n])
        self.records += 1
        if log.enabled("debug"):
            log.debug("record " + bytes(w.mv[:w.n]).decode())
        log.info("record t=%d params=%d bytes=%d queued=%d" % (end, len(self.entries), w.n,
                                                               len(self.queue)))
        for dev in self.devices:
            for ch in dev.channels:
                ch.window.reset()
        gc.collect()
