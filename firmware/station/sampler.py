# The cadence: every sample_s (station ticks) poll each device, calibrate its values and feed
# the window columns; when the wall clock passes a multiple of report_s, close the columns
# into one record slot stamped with that boundary (the END of the averaging period) and append
# it to the backlog.
#
# Clock rule: a record is never stamped from an unset clock. While hal.epoch() is None the
# periods close every report_s of monotonic ticks into a small RAM hold; once time is valid
# each held record is stamped now - (its age by ticks), flagged REBASED (8) and appended, and
# periods align to wall-clock multiples of report_s again.

import gc

import log
from station.queue import Hold
from station.record import close_into, n_bits, seal
from values.window import REBASED, Windows


class Sampler:
    def __init__(self, cfg, hal, devices, cols, layout, backlog, cal):
        """cols: the channel object of each record column (station/app.py columns())."""
        self.hal = hal
        self.devices = devices
        self.cols = cols
        self.layout = layout
        self.backlog = backlog
        self.cal = cal
        self.win = Windows([c.rng for c in cols], layout.minmax)
        self.slot = bytearray(layout.size)
        self.offline = bytearray(len(cols))
        # slots with room for the widest n a report interval change can ask for: a held
        # record keeps the layout it was closed with
        held = cfg["backlog"]["hold"]
        self.hold = Hold(hal.data_dir + "/held", held,
                         layout.retimed(layout.p, n_bits(2047)).size)
        self.lays = [layout]  # the layouts of the held records, by their index in the hold
        self.sample_ms = cfg["sample_s"] * 1000
        self.set_report(cfg["report_s"])
        self.next_sample = hal.ticks_ms()
        self.tick_end = None        # tick the open period ends at while the clock is unknown
        self.holding = False
        self.samples = 0
        self.missed_ticks = 0       # sample ticks skipped because the loop was held up
        self.records = 0

    def set_report(self, report_s):
        """Take a new report interval from the next period on."""
        self.report_s = report_s
        self.expected = report_s * 1000 // self.sample_ms
        self.period_end = None      # realigned at the next step with a valid clock
        # records carry p and the width of n in their layout (station/record.py): a new
        # interval gets a layout of its own, and the backlog a new segment for it
        lay = self.layout
        nb = n_bits(self.expected)
        if lay.p != report_s or lay.nb != nb:
            self.layout = lay.retimed(report_s, nb)
            self.slot = bytearray(self.layout.size)

    def set_sample(self, sample_s):
        """A new sampling interval; set_report() follows (Station.apply), which takes the
        samples a period expects into the record layout."""
        self.sample_ms = sample_s * 1000
        self.expected = self.report_s // sample_s

    def due_in(self, now):
        """Station ms until the next sample tick (0 when due)."""
        return max(0, self.hal.ticks_diff(self.next_sample, now))

    def step(self, now):
        """Run whatever is due at tick `now`; the end time of a record closed, or None."""
        hal = self.hal
        for dev in self.devices:
            dev.service(now)
        closed = None
        if hal.ticks_diff(now, self.next_sample) >= 0:
            # a period that ended before this sample closes first: the sample is the next
            # period's (polling takes long on a fast clock, and a loop turn may not have come
            # between the boundary and this tick)
            closed = self._maybe_close(now, 1)
            self._sample(now)
            nxt = hal.ticks_add(self.next_sample, self.sample_ms)
            while hal.ticks_diff(now, nxt) >= 0:  # a stall: skip the ticks, do not catch up
                nxt = hal.ticks_add(nxt, self.sample_ms)
                self.missed_ticks += 1
            self.next_sample = nxt
        return self._maybe_close(now, 0) or closed

    def _sample(self, now):
        self.samples += 1
        win = self.win
        cal = self.cal
        for dev in self.devices:
            if dev.sample(now):
                values = dev.values
                i = 0
                for ch in dev.channels:
                    k = ch.k
                    if k >= 0:
                        win.add(k, cal.apply(k, values[i]))
                    values[i] = None  # taken: no boxed float left on the heap till the next
                    i += 1

    def _maybe_close(self, now, late):
        """Close the open period when its end has passed: at it or later (late 0), or strictly
        after it (late 1: before a sample, which on the boundary still belongs to it). No
        default for late: a default is one more object on the heap for good."""
        hal = self.hal
        t = hal.epoch()
        if t is None:
            if not self.holding:
                self.holding = True
                self.tick_end = hal.ticks_add(now, self.report_s * 1000)
                log.warn("clock not set: records held until it is (at most %d)" %
                         self.hold.slots)
            elif hal.ticks_diff(now, self.tick_end) >= late:
                self._close(now, None)
                self.tick_end = hal.ticks_add(self.tick_end, self.report_s * 1000)
            return None
        if self.holding:
            self.holding = False
            self._release(now, t)
        r = self.report_s
        if self.period_end is None or t < self.period_end - r:
            # first valid time, or the clock stepped back past the open period: realign
            self.period_end = (t // r + 1) * r
            return None
        if t < self.period_end + late:
            return None
        end = self.period_end
        self._close(now, end)
        # held up past the next boundary too (only the fast clock's real-time bus I/O does
        # that): the samples so far went into this record, the skipped boundary gets none
        self.period_end = (t // r + 1) * r
        return end

    def _close(self, now, end):
        """Close every column into one record; to the backlog (end given) or the hold."""
        off = self.offline
        k = 0
        for col in self.cols:
            off[k] = 0 if col.dev.online else 1
            k += 1
        for dev in self.devices:
            if hasattr(dev, "close"):  # a sound meter sets its columns' values
                dev.close(self.win)
        slot = self.slot
        close_into(slot, self.layout, self.win, self.cols, self.expected, off)
        self.win.reset()
        if end is None:
            q = self.hold
            if len(q) == q.slots:
                log.warn("clock not set: hold full, oldest held record dropped")
            seal(slot, 0)
            if self.lays[-1] is not self.layout:
                self.lays.append(self.layout)
            q.append(slot, now, len(self.lays) - 1)
            log.info("record held tick=%d held=%d" % (now, len(q)))
        else:
            seal(slot, end)
            self._append(slot, self.layout, end, "")
        self.records += 1
        gc.collect()

    def _release(self, now, t):
        """The clock became valid: stamp the held records from their ticks, oldest first."""
        q = self.hold
        log.info("clock set: %d held records rebased" % len(q))
        while len(q):
            slot = q.peek(0)
            age_s = self.hal.ticks_diff(now, q.tick) // 1000
            end = t - age_s
            seal(slot, end, REBASED)
            self._append(slot, self.lays[q.lay], end, " rebased")
            q.commit(1)
        self.lays = [self.layout]

    def _append(self, slot, layout, end, how):
        self.backlog.append(slot, layout)
        log.info("record t=%d params=%d bytes=%d queued=%d%s" % (
            end, len(self.cols), len(slot), len(self.backlog), how))
