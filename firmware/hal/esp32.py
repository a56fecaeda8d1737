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

from hal.common import Sockets, char_us, makedirs  # noqa: F401 (makedirs: HAL API)

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

    speed = 1  # station time is real time here (clock.speed is for the unix port)

    def __init__(self, cfg):
        self.sockets = Sockets(cfg["mqtt"]["timeout_s"])
        self.uarts = []
        self.data_dir = cfg.get("data_dir") or "/data"
        self.ticks_ms = self.io_ticks_ms = time.ticks_ms
        self.ticks_add = time.ticks_add
        self.ticks_diff = time.ticks_diff
        self.sleep_ms = self.io_sleep_ms = time.sleep_ms
        self.rtc = machine.RTC()
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

    def sync_time(self, host):
        """Set the RTC from NTP; False when the server did not answer (blocks up to ~2 s)."""
        if not host or not self.wlan.isconnected():
            return False
        import ntptime

        ntptime.host = host
        ntptime.timeout = 2
        try:
            ntptime.settime()
        except (OSError, OverflowError, IndexError):
            return False
        return self.epoch() is not None

    def rtc_mem(self, data=None):
        """RTC slow memory (survives watchdog, soft and deep-sleep resets, not power loss)."""
        if data is None:
            return self.rtc.memory()
        self.rtc.memory(data)
        return None

    def reset(self):
        machine.reset()

    def rssi(self):
        try:
            return self.wlan.status("rssi") if self.wlan.isconnected() else None
        except (OSError, ValueError):
            return None

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
