# A Modbus slave that needs more than one grouped read, loaded at boot only for such a model:
#
# - blocks (config `read`: [[fn, first register, count], ...]): each read on its own
#   request, with its own function code (03/04), for a probe whose values sit far apart and
#   that gives no answer at all for a register it does not map (Yosemitech Y560: temperature
#   at 0x2400, NH4-N at 0x2800). Every channel's registers lie inside one block.
# - actions before the reads (config `send`: [[fn, register, count | [words], wait_ms, once],
#   ...]): a read of 0 registers (Yosemitech's start at 0x2500), an FC16 write (Aqualabo's
#   measurement trigger, BMV080's START), then a wait of the model's measurement time. `once`:
#   only until it has been sent, and again after the slave was offline (it may have lost
#   power). A missing reply to an action is not a failure: the read that follows tells.
# - rarer channel encodings (sign-magnitude, offset sign, sentinel words): values/quirks.py.

import log
from bus.modbus_rtu import MAX_READ, NEED_MORE, ModbusError, build_read, crc16
from bus.rs485 import BusTimeout, FrameError
from devices.modbus_sensor import ModbusSensor
from values.decode import TYPES, WIDTH, Channel


def quirky(ch):
    return ch.get("signed", 0) != 0 or bool(ch.get("discard")) or bool(ch.get("code"))


def _regs(ch):
    """The registers a channel's decoding touches: value, decimal point, error, unit code."""
    out = [ch["reg"], ch["reg"] + WIDTH[TYPES.split().index(ch["type"])] - 1]
    for key in ("dec_reg", "err_reg"):
        if ch.get(key, -1) >= 0:
            out.append(ch[key])
    if ch.get("code"):
        out.append(ch["code"][0])
    return out


def _frame(addr, act):
    """The request bytes of an action [fn, reg, count | words, ...]: (bytes, reply length)."""
    fn, reg, arg = act[0], act[1], act[2]
    buf = bytearray((addr, fn, reg >> 8, reg & 0xFF))
    if fn == 16:
        buf.extend(bytes((len(arg) >> 8, len(arg) & 0xFF, 2 * len(arg))))
        for w in arg:
            buf.extend(bytes((w >> 8 & 0xFF, w & 0xFF)))
        reply = 8
    else:
        buf.extend(bytes((arg >> 8, arg & 0xFF)))
        reply = 5 + 2 * arg
    c = crc16(buf, 0, len(buf))
    buf.extend(bytes((c & 0xFF, c >> 8)))
    return buf, reply


class _Reply:
    """Finds the reply to one action: our address, its function, its length, a good CRC."""

    def __init__(self, addr, fn, length):
        self.addr = addr
        self.fn = fn
        self.length = length

    def match(self, buf, n):
        i = 0
        while i < n - 1:
            if buf[i] == self.addr:
                f = buf[i + 1]
                size = 5 if f == self.fn | 0x80 else self.length if f == self.fn else 0
                if size and i + size <= n:
                    c = crc16(buf, i, i + size - 2)
                    if buf[i + size - 2] == c & 0xFF and buf[i + size - 1] == c >> 8:
                        if size == 5 and f != self.fn:
                            raise ModbusError(buf[i + 2])
                        return i
            i += 1
        return NEED_MORE


class QuirkSensor(ModbusSensor):
    def __init__(self, cfg, bus, hal):
        chans = cfg["ch"]
        blocks = cfg.get("read") or []
        if not blocks:  # one read of every register the channels touch (unit codes too)
            base = min(min(_regs(ch)) for ch in chans)
            blocks = [[cfg["fn"], base, max(max(_regs(ch)) for ch in chans) - base + 1]]
        where = [-1] * len(chans)  # each channel's block
        for i, ch in enumerate(chans):
            regs = _regs(ch)
            for j, (_, first, count) in enumerate(blocks):
                if first <= min(regs) and max(regs) < first + count:
                    where[i] = j
                    break
            else:
                raise ValueError("sensors %s: channel %s (registers %d..%d) lies in no block"
                                 % (cfg["id"], ch["param"], min(regs), max(regs)))
        for j, (fn, first, count) in enumerate(blocks):
            if not 1 <= count <= MAX_READ or j not in where:
                raise ValueError("sensors %s: block %d (%d registers at %d) must read 1..%d "
                                 "registers and hold a channel" % (cfg["id"], j, count, first,
                                                                   MAX_READ))
        # the base class sets the rest (timeouts, back-off, counters) from the first block
        first_cfg = dict(cfg)
        first_cfg["ch"] = [chans[where.index(0)]]
        ModbusSensor.__init__(self, first_cfg, bus, hal)
        self.blocks = []
        for j, (fn, first, count) in enumerate(blocks):
            req = bytearray(8)
            build_read(req, self.addr, fn, first, count)
            self.blocks.append((req, fn, 5 + 2 * count,
                                [i for i in range(len(chans)) if where[i] == j]))
        self.channels = []
        for i, ch in enumerate(chans):
            first = blocks[where[i]][1]
            if quirky(ch):
                from values.quirks import QuirkChannel

                self.channels.append(QuirkChannel(ch, first))
            else:
                self.channels.append(Channel(ch, first))
        self.values = [None] * len(chans)
        self.pre = [(_frame(self.addr, act), act[3], act[4] if len(act) > 4 else 0)
                    for act in cfg.get("send") or []]
        self.sent = [False] * len(self.pre)

    def _actions(self):
        bus = self.bus
        hal = self.hal
        for j, ((req, reply), wait_ms, once) in enumerate(self.pre):
            if once and self.sent[j]:
                continue
            try:
                bus.transact(req, len(req), self.timeout_ms, self.turnaround_ms,
                             _Reply(self.addr, req[1], reply))
            except (BusTimeout, FrameError):
                pass  # the read tells whether the slave is there
            except ModbusError as e:
                log.debug("sensor %s action %d refused: exception %d" % (self.id, j,
                                                                          e.args[0]))
            self.sent[j] = True
            if wait_ms:
                hal.io_sleep_ms(wait_ms)

    def sample(self, now):
        if not self.due(now):
            return False
        self.polls += 1
        tries = self.tries if self.online else 1
        bus = self.bus
        for _ in range(tries):
            try:
                self._actions()
                for req, fn, length, idx in self.blocks:
                    self.fn = fn
                    self.reply_len = length
                    off = bus.transact(req, 8, self.timeout_ms, self.turnaround_ms, self) + 3
                    for i in idx:
                        self.values[i] = self.channels[i].decode(bus.rx, off)
            except BusTimeout:
                self.last_error = "timeout"
            except FrameError:
                self.last_error = "bad frame"
            except ModbusError as e:
                self.last_error = "exception %d" % e.args[0]
            else:
                self._succeeded()
                return True
            self.errors += 1
        was = self.online
        self._failed(now)
        if was and not self.online:
            # it may come back from a power cut: send its one-off actions again
            self.sent = [False] * len(self.pre)
        return False
