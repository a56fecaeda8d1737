# The unix-port HAL: UARTs are ptys or ttys, the clock is the host's (optionally run faster),
# sockets are the host's, the "RTC memory" is a file.
#
# A pty cannot signal RS-485 direction or wire timing, so write() returns as soon as the bytes
# are in the kernel; the bus layer still keeps its silent interval and turnaround.

import os
import select
import time

from hal.common import Reboot, Sockets, char_us, makedirs

EPOCH_2024 = 1704067200


class Uart:
    def __init__(self, name, cfg):
        if not cfg["path"]:
            raise ValueError("uarts.%s.path: the unix port needs a pty or tty path" % name)
        try:
            self.f = open(cfg["path"], "r+b")
        except OSError as e:
            raise ValueError("uarts.%s.path: cannot open %s (%s)"
                             % (name, cfg["path"], e)) from None
        # raw, non-blocking reads, the line's speed and framing (hal/unix_line.py, which leaves
        # the heap again: only the boot opens UARTs; imported here so no global holds it)
        import sys

        import hal.unix_line

        try:
            hal.unix_line.setup(self.f.fileno(), name, cfg)
        except ValueError:
            self.f.close()
            raise
        finally:
            sys.modules.pop("hal.unix_line", None)
            delattr(hal, "unix_line")
        self.name = name
        self.baud = cfg["baud"]
        self.char_us = char_us(cfg["baud"], cfg["bits"], cfg["parity"], cfg["stop"])
        self.poller = select.poll()
        self.poller.register(self.f, select.POLLIN)
        self.scratch = bytearray(64)

    def write(self, buf, n):
        mv = memoryview(buf)
        off = 0
        while off < n:
            off += self.f.write(mv[off:n]) or 0

    def readinto(self, buf):
        return self.f.readinto(buf) or 0

    def wait(self, ms):
        return len(self.poller.poll(ms)) > 0

    def drain(self):
        total = 0
        while True:
            k = self.f.readinto(self.scratch)
            if not k:
                return total
            total += k

    def close(self):
        self.f.close()


class Hal:
    """The host's clock (optionally faster, see clock in defaults.py), files, sockets and ptys.

    Station time (ticks_ms, sleep_ms, epoch) runs `speed` times real time; bus I/O
    (io_ticks_ms, io_sleep_ms, socket timeouts) stays real: a pty cannot answer in 4 ms.
    """

    platform = "unix"

    def __init__(self, cfg=None):
        timeout = cfg["mqtt"]["timeout_s"] if cfg else 10
        c = cfg["clock"] if cfg and "clock" in cfg else {}
        self.sockets = Sockets(timeout)
        self.uarts = []
        self.data_dir = cfg.get("data_dir") or "data" if cfg else "data"
        self.ticks_add = time.ticks_add
        self.ticks_diff = time.ticks_diff
        self.io_ticks_ms = time.ticks_ms
        self.io_sleep_ms = time.sleep_ms
        speed = c.get("speed", 1)
        self.speed = speed
        self._num = int(speed * 1000)     # station ms per 1000 real ms: integer maths only
        self._mask = time.ticks_add(0, -1)
        self._last = time.ticks_ms()
        self._real = 0                     # real ms since boot
        t0 = c.get("t0")
        self._t0_ms = int((time.time() if t0 is None else t0) * 1000)
        self._valid_ms = c.get("valid_after_s", 0) * 1000
        self._plain = speed == 1 and t0 is None and not self._valid_ms
        if speed == 1:
            self.ticks_ms = time.ticks_ms
            self.sleep_ms = time.sleep_ms
        self._rtc = None

    def _station_ms(self):
        """Station ms since boot (advances the real-time accumulator)."""
        now = time.ticks_ms()
        self._real += time.ticks_diff(now, self._last)
        self._last = now
        return self._real * self._num // 1000

    def ticks_ms(self):
        return self._station_ms() & self._mask

    def sleep_ms(self, ms):
        if ms > 0:
            time.sleep_us(int(ms * 1000000 // self._num))  # ms may be float at a float speed

    def uart(self, name, cfg):
        port = Uart(name, cfg)
        self.uarts.append(port)
        return port

    def epoch(self):
        if self._plain:
            t = int(time.time())
        else:
            ms = self._station_ms()
            if ms < self._valid_ms:
                return None
            t = (self._t0_ms + ms) // 1000
        return t if t >= EPOCH_2024 else None

    def sync_time(self, host):
        """The host owns its clock: time is as valid as epoch() says."""
        return self.epoch() is not None

    def random_bytes(self, n):
        return os.urandom(n)

    def reset_cause(self):
        """A new process is a power-on; the breadcrumbs (station/health.py) tell more."""
        return "power_on"

    def reset(self):
        raise Reboot()

    def rtc_mem(self, data=None):
        """RTC memory stand-in: a small file in data_dir that outlives the process."""
        path = self.data_dir + "/rtc.bin"
        if data is None:
            try:
                with open(path, "rb") as f:
                    return f.read()
            except OSError:
                return b""
        if self._rtc is None:
            makedirs(self.data_dir)
            self._rtc = open(path, "wb")
        self._rtc.seek(0)
        self._rtc.write(data)
        return None

    def net_up(self):
        return True

    def rssi(self):
        return None

    def start_wdt(self, ms):
        pass

    def wdt_feed(self):
        pass

    def close(self):
        for u in self.uarts:
            u.close()
        self.uarts = []
        if self._rtc is not None:
            self._rtc.close()
            self._rtc = None
