# The ESP32 HAL: machine.UART with a software-driven RS-485 DE/RE pin, Wi-Fi, RTC, watchdog.
#
# MicroPython's UART has no RS-485 mode, so write() raises DE, sends, waits for the FIFO to
# empty (UART.flush), waits one more character time for the last stop bit to leave the shift
# register, then releases DE so the slave's reply is not lost to our own driver.

import machine
import network
import os
import select
import time

from hal.common import Sockets, char_us

EPOCH_2024 = 1704067200
# Ports built with a 2000-01-01 epoch report gmtime(0) in 2000; protocol time counts from 1970.
_EPOCH_OFFSET = 946684800 if time.gmtime(0)[0] == 2000 else 0
_PARITY = {"N": None, "E": 0, "O": 1}
_JOIN_RETRY_MS = 20000


class Uart:
    def __init__(self, name, u):
        if u["id"] < 0 or u["tx"] < 0 or u["rx"] < 0:
            raise ValueError("uarts." + name + ": id, tx and rx are required on the ESP32")
        # timeout=0: reads never wait; waiting is wait()'s job, bounded by the caller
        self.u = machine.UART(u["id"], baudrate=u["baud"], bits=u["bits"],
                              parity=_PARITY[u["parity"]], stop=u["stop"], tx=u["tx"],
                              rx=u["rx"], rxbuf=u["rxbuf"], timeout=0, timeout_char=0)
        self.de = machine.Pin(u["de"], machine.Pin.OUT, value=0) if u["de"] >= 0 else None
        self.name = name
        self.baud = u["baud"]
        self.char_us = char_us(u["baud"], u["bits"], u["parity"], u["stop"])
        self.poller = select.poll()
        self.poller.register(self.u, select.POLLIN)
        self.scratch = bytearray(32)

    def write(self, buf, n):
        de = self.de
        if de is not None:
            de.value(1)
        try:
            self.u.write(memoryview(buf)[:n])
            if hasattr(self.u, "flush"):
                self.u.flush()
            else:
                while not self.u.txdone():
                    pass
            time.sleep_us(self.char_us)
        finally:
            if de is not None:
                de.value(0)

    def readinto(self, mv):
        return self.u.readinto(mv) or 0

    def wait(self, ms):
        return len(self.poller.poll(ms)) > 0

    def drain(self):
        total = 0
        while self.u.any():
            total += self.u.readinto(self.scratch) or 0
        return total

    def close(self):
        if self.de is not None:
            self.de.value(0)
        self.u.deinit()


class Hal:
    platform = "esp32"

    def __init__(self, cfg):
        self.sockets = Sockets(cfg["mqtt"]["timeout_s"])
        self.uarts = []
        self.ticks_ms = time.ticks_ms
        self.ticks_add = time.ticks_add
        self.ticks_diff = time.ticks_diff
        self.sleep_ms = time.sleep_ms
        self.wifi = cfg["wifi"]
        self.wlan = network.WLAN(network.STA_IF)
        self._joined_at = None
        self._wdt = None

    def uart(self, name, u):
        port = Uart(name, u)
        self.uarts.append(port)
        return port

    def epoch(self):
        t = time.time() + _EPOCH_OFFSET
        return t if t >= EPOCH_2024 else None

    def set_clock(self, t):
        """Set the RTC to UTC epoch seconds t (for the NTP issue); True when set."""
        y, mo, d, h, mi, s, wd, _ = time.gmtime(t - _EPOCH_OFFSET)
        machine.RTC().datetime((y, mo, d, wd, h, mi, s, 0))
        return True

    def random_bytes(self, n):
        return os.urandom(n)

    def reset_cause(self):
        c = machine.reset_cause()
        if c == machine.WDT_RESET:
            return "watchdog"
        if c == machine.DEEPSLEEP_RESET:
            return "deep_sleep"
        if c == machine.SOFT_RESET:
            return "soft"
        if c == machine.HARD_RESET:
            return "hard"
        return "power_on"  # also brownouts: the ESP32 reports them as power-on

    def net_up(self):
        """Start joining when down; True once connected. Never waits for the join."""
        w = self.wlan
        if w.isconnected():
            return True
        if not self.wifi["ssid"]:
            return False
        now = time.ticks_ms()
        if self._joined_at is None or time.ticks_diff(now, self._joined_at) > _JOIN_RETRY_MS:
            w.active(True)
            w.connect(self.wifi["ssid"], self.wifi["password"])
            self._joined_at = now
        return False

    def start_wdt(self, ms):
        self._wdt = machine.WDT(timeout=ms)

    def wdt_feed(self):
        if self._wdt is not None:
            self._wdt.feed()

    def close(self):
        for u in self.uarts:
            u.close()
        self.uarts = []
