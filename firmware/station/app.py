# The station's loop: sample, close records, keep the link, answer commands, drain the
# backlog, report health, feed the watchdog; until interrupted. station/boot.py (config ->
# HAL -> lines -> devices) and station/assemble.py (backlog -> sampler -> publisher -> uplink)
# build it and are dropped afterwards (build()); main.py is only the entry point.
#
# Ctrl-C / SIGINT (KeyboardInterrupt) stops cleanly: a retained offline status, then
# DISCONNECT. Anything that kills the process instead leaves the broker to publish the will,
# which carries the same payload, and the backlog on flash to resume from.

import gc
import sys
from micropython import const

import log
from station import health as H

_DRAIN_MESSAGES = const(4)  # data messages per loop turn: sampling goes on while a backlog drains
_SYNC_RETRY_S = const(60)   # NTP retry period while the clock is not valid
_TRIAL_MS = const(600000)   # a trial boot's time to prove itself healthy (station/ota.py)


def unload(name):
    """Hand a module loaded for a moment (boot, one command) back to the heap. Leaving
    sys.modules is not enough: a package keeps each submodule imported from it as an
    attribute, so station.boot stayed alive after every boot and station.control after the
    first command (2.7 KB)."""
    sys.modules.pop(name, None)
    if "." in name:
        pkg, leaf = name.rsplit(".", 1)
        if hasattr(sys.modules.get(pkg), leaf):
            delattr(sys.modules[pkg], leaf)


class Station:
    """Everything built from the config (build()); the config itself is not kept."""

    def __init__(self, **parts):
        self.answered = []  # (id, ok) of the latest commands (station/control.py)
        for k, v in parts.items():
            setattr(self, k, v)
        self.errors = 0
        self.up_ms = 0

    def uptime_s(self):
        return self.up_ms // 1000

    def apply(self, cfg, changes):
        """Take a checked config's remotely settable keys (station/control.py) into use."""
        from values.calibrate import Calibration

        if "sample_s" in changes:
            self.sampler.set_sample(cfg["sample_s"])
        if "report_s" in changes or "sample_s" in changes:
            self.sampler.set_report(cfg["report_s"])
        if "cal" in changes:
            self.cal = self.sampler.cal = Calibration(cfg["cal"], [c.param for c in self.cols])
        if "health_s" in changes:
            self.health_ms = cfg["health_s"] * 1000
        if "log" in changes:
            log.setup(cfg["log"]["level"], self.hal.epoch)
        log.info("config applied %s" % ",".join(changes))

    def errors_list(self):
        """(name, count) of everything that went wrong since boot, for the health event."""
        bus = [d.bus for d in self.devices if hasattr(d, "bus")]
        return (("loop", self.errors), ("sensor", sum(d.errors for d in self.devices)),
                ("bus_timeouts", sum(b.timeouts for b in bus)),
                ("bad_frames", sum(b.bad_frames for b in bus)),
                ("missed_ticks", self.sampler.missed_ticks),
                ("link_lost", self.uplink.losses), ("publish_failed", self.publisher.failed),
                ("corrupt", self.messages.corrupt), ("torn", self.backlog.torn),
                ("refused", self.uplink.refused))

    def _control(self):
        """Answer the commands waiting in the uplink's inbox; reboot when one asked for it.

        When even the command code cannot be loaded (no heap for it), the waiting messages are
        dropped with a log line and counted as refused: kept, they would be retried on every
        loop turn and hold up publishing for good. The operator sees no answer and may send
        again (`quantrac station cmd` says so)."""
        try:
            import station.control as control
        except MemoryError:
            unload("station.control")
            n = len(self.uplink.inbox)
            self.uplink.inbox.clear()
            self.uplink.refused += n
            gc.collect()
            log.error("control: no heap to load the command code; %d messages dropped" % n)
            return

        reboot = False
        try:
            while self.uplink.inbox:
                leaf, payload = self.uplink.inbox.pop(0)
                if leaf[:2] == b"fw":  # an update: station/ota.py, loaded for the message
                    # (inline, not a method: 93 B of heap for good; by a long string, so its
                    # module names are interned only while an update runs)
                    try:
                        __import__("station.ota", None, None, True).handle(self, leaf, payload)
                    finally:
                        unload("station.ota")
                    continue
                ack, again = control.handle(self, leaf, payload)
                self.uplink.event("ack", ack.encode())
                reboot = reboot or again
        finally:
            unload("station.control")
        if reboot:
            self.health.crumb(H.REBOOT)
            log.info("stop reboot requested")
            self.uplink.close()
            self.hal.reset()

    def run(self):
        """Sample, close records, keep the link, drain the backlog; until KeyboardInterrupt."""
        hal = self.hal
        sampler = self.sampler
        crumb = self.health.crumb
        last = hal.ticks_ms()
        health_at = last
        sync_at = last
        synced = False
        trial = sys.path[0][-5:-2] == "ota"  # an update slot runs (slots.py): on trial?
        hal.start_wdt(self.wdt_ms)
        gc.collect()
        log.info("run free=%d" % gc.mem_free())
        try:
            while True:
                try:
                    now = hal.ticks_ms()
                    self.up_ms += hal.ticks_diff(now, last)
                    last = now
                    crumb(H.SAMPLE, self.up_ms // 1000)
                    sampler.step(now)
                    crumb(H.LINK)
                    self.uplink.service(hal.ticks_ms())
                    if self.uplink.inbox:
                        crumb(H.CONTROL)
                        self._control()
                    crumb(H.PUBLISH)
                    self.publisher.drain(_DRAIN_MESSAGES)
                    if trial and (self.publisher.sent or self.up_ms > _TRIAL_MS):
                        try:  # station/ota.py judges the trial; False once judged
                            trial = __import__("station.ota", None, None, True).handle(
                                self, None, None)
                        finally:
                            unload("station.ota")
                    if self.uplink.connected and hal.ticks_diff(now, health_at) >= 0:
                        health_at = hal.ticks_add(now, self.health_ms)
                        self.uplink.event("health", H.health_fields(
                            gc.mem_free(), self.backlog, hal.rssi(), self.up_ms // 1000,
                            self.errors_list()).encode())
                    if hal.ticks_diff(now, sync_at) >= 0 and hal.net_up():
                        synced = hal.sync_time(self.ntp_host)
                        sync_at = hal.ticks_add(now, self.ntp_ms if synced else
                                                _SYNC_RETRY_S * 1000)
                    if self.uplink.inbox:  # read while publishing: answered in this turn, not
                        crumb(H.CONTROL)   # held over it (an update's chunk is 1.5 KB of heap)
                        self._control()
                    hal.wdt_feed()
                except (KeyboardInterrupt, SystemExit):
                    raise
                except Exception as e:  # a station on a pole keeps going; the log says why
                    if type(e).__name__ == "Reboot":
                        raise
                    self.errors += 1
                    log.error("loop error %d: %r" % (self.errors, e))
                    sys.print_exception(e)
                    hal.sleep_ms(1000)
                crumb(H.IDLE)
                hal.sleep_ms(min(self.idle_ms, sampler.due_in(hal.ticks_ms())))
        except KeyboardInterrupt:
            log.info("stop interrupted; queued=%d" % len(self.backlog))
            crumb(H.STOP)
        finally:
            self.backlog.close()
            if self.uplink.close():
                log.info("stop offline status published")
            else:
                log.warn("stop broker not reachable; the last will reports offline")


def build(path):
    """The Station for the config at `path`. Boot-only code comes in two halves that each
    leave the heap once run: station/boot.py (config, HAL, devices), then station/assemble.py
    (the rest), loaded only after the first is gone."""
    import station.boot as boot

    parts = boot.prepare(path)
    boot = None
    unload("station.boot")
    gc.collect()
    import station.assemble as assemble

    station = assemble.station(Station, parts)
    parts = assemble = None
    unload("station.assemble")
    gc.collect()
    return station


def main(argv):
    path = argv[1] if len(argv) > 1 else "config.json"
    while True:
        station = build(path)
        try:
            station.run()
            return
        except Exception as e:
            if type(e).__name__ != "Reboot":  # hal.common.Reboot: the unix port restarts here
                if station.hal.platform != "esp32":
                    raise
                sys.print_exception(e)  # never left at a REPL on a pole: reset
                station.hal.reset()
        finally:
            station.hal.close()
        station = None
        gc.collect()
