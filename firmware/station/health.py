# Watchdog, reset-cause breadcrumbs and the periodic health event.
#
# Breadcrumbs: 14 bytes in memory that survives a reset (ESP32 RTC memory; the unix port keeps
# a file): magic, the phase the station was in, boot count, uptime. Written whenever the phase
# changes, so after a watchdog reset, a panic or a power cut the next boot can say what the
# station was doing (`crumb` in the birth event). machine.reset_cause() alone cannot: an ESP32
# reports a brownout as power-on and a panic as a hard reset.

import struct
from micropython import const

from bus.modbus_rtu import crc16

PHASES = ("boot", "sample", "link", "publish", "control", "reboot", "stop", "idle")
_BOOT = const(0)
SAMPLE = 1
LINK = 2
PUBLISH = 3
CONTROL = 4
REBOOT = 5
STOP = 6
IDLE = 7
FMT = "<2sBBII"  # magic, phase, 0, boots, uptime s; then the CRC


class Health:
    """Writes the breadcrumbs; reading the previous boot's and naming the reset cause happen
    once, in station/boot.py (boot_crumbs), whose code leaves the heap after the boot."""

    def __init__(self, hal, boots):
        self.hal = hal
        self.buf = bytearray(14)
        self.boots = boots
        self.phase = -1
        self.uptime_s = 0
        self.crumb(_BOOT)

    def crumb(self, phase, uptime_s=None):
        """Note the phase the station enters (written only when it changes)."""
        if uptime_s is not None:
            self.uptime_s = uptime_s
        if phase == self.phase:
            return
        self.phase = phase
        b = self.buf
        struct.pack_into(FMT, b, 0, b"QC", phase, 0, self.boots, self.uptime_s)
        c = crc16(b, 0, 12)
        b[12] = c & 0xFF
        b[13] = c >> 8
        self.hal.rtc_mem(b)


def health_fields(free, backlog, rssi, uptime_s, errors):
    """The health event's members; errors: (name, count) pairs."""
    return ',"heap":%d,"backlog":%d,"dropped":%d,"rssi":%s,"uptime":%d,"errors":{%s}' % (
        free, len(backlog), backlog.dropped, "null" if rssi is None else str(rssi), uptime_s,
        ",".join('"%s":%d' % e for e in errors))
