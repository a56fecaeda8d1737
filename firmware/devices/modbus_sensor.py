# One Modbus RTU slave: a single grouped read covering all its channels, retries, and an
# offline state with back-off so that a dead sensor costs the shared line at most one timeout
# per probe instead of `tries` timeouts every sample.

import log
from bus.modbus_rtu import MAX_READ, ModbusError, build_read, find_reply, reply_len
from bus.rs485 import BusTimeout, FrameError
from values.decode import TYPES, WIDTH, Channel


def block(channels):
    """(first register, count) of the smallest read covering every channel's registers."""
    lo = 0x10000
    hi = -1
    for ch in channels:
        last = ch["reg"] + WIDTH[TYPES.split().index(ch["type"])] - 1
        dec = ch.get("dec_reg", -1)
        err = ch.get("err_reg", -1)
        lo = min(lo, ch["reg"], dec if dec >= 0 else lo, err if err >= 0 else lo)
        hi = max(hi, last, dec, err)
    return lo, hi - lo + 1


class ModbusSensor:
    def __init__(self, cfg, bus, hal):
        self.id = cfg["id"]
        self.bus = bus
        self.hal = hal
        self.addr = cfg["addr"]
        self.fn = cfg["fn"]
        base, count = block(cfg["ch"])
        if count > MAX_READ:
            raise ValueError("sensors %s: channels span %d registers, more than one read (%d)"
                             % (self.id, count, MAX_READ))
        self.req = bytearray(8)
        self.req_len = build_read(self.req, self.addr, self.fn, base, count)
        self.reply_len = reply_len(self.fn, count)
        self.timeout_ms = cfg["timeout_ms"]
        self.turnaround_ms = cfg["turnaround_ms"]
        self.tries = cfg["tries"]
        self.offline_after = cfg["offline_after"]
        self.offline_min_ms = cfg["offline_min_s"] * 1000
        self.offline_max_ms = cfg["offline_max_s"] * 1000
        self.channels = [Channel(ch, base) for ch in cfg["ch"]]
        self.values = [None] * len(self.channels)
        self.online = True
        self.fails = 0            # failed polls in a row
        self.probe_ms = 0         # current probe interval while offline
        self.next_ms = hal.ticks_ms()
        self.polls = 0
        self.errors = 0
        self.last_error = ""

    def match(self, buf, n):
        return find_reply(buf, n, self.addr, self.fn, self.reply_len)

    def service(self, now):
        pass

    def due(self, now):
        return self.online or self.hal.ticks_diff(now, self.next_ms) >= 0

    def sample(self, now):
        """Read every channel into .values; False when skipped (offline, not due) or failed."""
        if not self.due(now):
            return False
        self.polls += 1
        tries = self.tries if self.online else 1
        bus = self.bus
        for _ in range(tries):
            try:
                off = bus.transact(self.req, self.req_len, self.timeout_ms, self.turnaround_ms,
                                   self)
            except BusTimeout:
                self.last_error = "timeout"
            except FrameError:
                self.last_error = "bad frame"
            except ModbusError as e:
                self.last_error = "exception %d" % e.args[0]
            else:
                self._decode(off + 3)
                self._succeeded()
                return True
            self.errors += 1
        self._failed(now)
        return False

    def _decode(self, off):
        rx = self.bus.rx
        values = self.values
        for i, ch in enumerate(self.channels):
            values[i] = ch.decode(rx, off)

    def _succeeded(self):
        if not self.online:
            log.info("sensor %s online after %d failed polls" % (self.id, self.fails))
        self.online = True
        self.fails = 0
        self.probe_ms = 0

    def _failed(self, now):
        self.fails += 1
        if self.online and self.fails >= self.offline_after:
            self.online = False
            self.probe_ms = self.offline_min_ms
            log.warn("sensor %s offline (addr %d, %s, %d failed polls); probing every %d s" % (
                self.id, self.addr, self.last_error, self.fails, self.probe_ms // 1000))
        elif not self.online:
            self.probe_ms = min(self.offline_max_ms, self.probe_ms * 2)
        else:
            log.debug("sensor %s poll failed: %s" % (self.id, self.last_error))
        if not self.online:
            self.next_ms = self.hal.ticks_add(now, self.probe_ms)
