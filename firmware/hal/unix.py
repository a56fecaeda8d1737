# The unix-port HAL: UARTs are ptys or ttys, the clock is the host's, sockets are the host's.
#
# A pty cannot signal RS-485 direction or wire timing, so write() returns as soon as the bytes
# are in the kernel; the bus layer still keeps its silent interval and turnaround.

import os
import select
import termios
import time

from hal.common import Sockets, char_us

EPOCH_2024 = 1704067200
# c_cc indices of VTIME/VMIN on Linux; MicroPython's termios does not name them.
_VTIME = 5
_VMIN = 6


class Uart:
    def __init__(self, name, u):
        if not u["path"]:
            raise ValueError("uarts." + name + ".path: the unix port needs a pty or tty path")
        try:
            self.f = open(u["path"], "r+b")
        except OSError as e:
            raise ValueError("uarts." + name + ".path: cannot open " + u["path"] +
                             " (" + str(e) + ")") from None
        fd = self.f.fileno()
        termios.setraw(fd)
        attr = termios.tcgetattr(fd)
        # VMIN 0 / VTIME 0: a read returns what is there, even nothing, so readinto never blocks
        attr[6][_VMIN] = 0
        attr[6][_VTIME] = 0
        speed = getattr(termios, "B" + str(u["baud"]), None)
        if speed is not None:
            attr[4] = speed
            attr[5] = speed
        termios.tcsetattr(fd, termios.TCSANOW, attr)
        self.name = name
        self.baud = u["baud"]
        self.char_us = char_us(u["baud"], u["bits"], u["parity"], u["stop"])
        self.poller = select.poll()
        self.poller.register(self.f, select.POLLIN)
        self.scratch = bytearray(64)

    def write(self, buf, n):
        mv = memoryview(buf)
        off = 0
        while off < n:
            off += self.f.write(mv[off:n]) or 0

    def readinto(self, mv):
        return self.f.readinto(mv) or 0

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
    platform = "unix"

    def __init__(self, cfg=None):
        timeout = cfg["mqtt"]["timeout_s"] if cfg else 10
        self.sockets = Sockets(timeout)
        self.uarts = []
        self.ticks_ms = time.ticks_ms
        self.ticks_add = time.ticks_add
        self.ticks_diff = time.ticks_diff
        self.sleep_ms = time.sleep_ms

    def uart(self, name, u):
        port = Uart(name, u)
        self.uarts.append(port)
        return port

    def epoch(self):
        t = int(time.time())
        return t if t >= EPOCH_2024 else None

    def set_clock(self, t):
        """The host owns its clock (NTP on the host)."""
        return False

    def random_bytes(self, n):
        return os.urandom(n)

    def reset_cause(self):
        return "power_on"

    def net_up(self):
        return True

    def start_wdt(self, ms):
        pass

    def wdt_feed(self):
        pass

    def close(self):
        for u in self.uarts:
            u.close()
        self.uarts = []
