# Watchdog, reset-cause breadcrumbs and the periodic health event.
#
# Breadcrumbs: 14 bytes in memory that survives a reset (ESP32 RTC memory; the unix port keeps
# a file): magic, the phase the station was in, boot count, uptime. Written whenever the phase
# changes, so after a watchdog reset, a panic or a power cut the next boot can say what the
# station was doing (`crumb` in the birth event). machine.reset_cause() alone cannot: an ESP32
# reports a brownout as power-on and a panic as a hard reset.

import struct

from bus.modbus_rtu import crc16

PHASES = ("boot", "sample", "link", "publish", "control", "reboot", "stop", "idle")
BOOT = 0
SAMPLE = 1
LINK = 2
PUBLISH = 3
CONTROL = 4
REBOOT = 5
STOP = 6
IDLE = 7
_FMT = "<2sBBII"


class Health:
    def __init__(self, hal):
        self.hal = hal
        self.buf = bytearray(14)
        prev = self._read()
        self.prev_phase = prev[0] if prev else None
        self.prev_uptime = prev[2] if prev else 0
        self.boots = (prev[1] if prev else 0) + 1
        cause = hal.reset_cause()
        if self.prev_phase == REBOOT:
            cause = "command"            # the reboot command, whatever the chip calls it
        elif self.prev_phase is not None and self.prev_phase != STOP and cause == "power_on" \
                and hal.platform == "unix":
            cause = "hard"               # the process died while running (a kill, a crash)
        self.cause = cause
        self.phase = -1
        self.uptime_s = 0
        self.crumb(BOOT)

    def _read(self):
        b = self.hal.rtc_mem()
        if not b or len(b) < 14 or crc16(b, 0, 12) != b[12] | b[13] << 8:
            return None
        magic, phase, _, boots, uptime = struct.unpack(_FMT, b[:12])
        if magic != b"QC" or phase >= len(PHASES):
            return None
        return phase, boots, uptime

    def crumb(self, phase, uptime_s=None):
        """Note the phase the station enters (written only when it changes)."""
        if uptime_s is not None:
            self.uptime_s = uptime_s
        if phase == self.phase:
            return
        self.phase = phase
        b = self.buf
        struct.pack_into(_FMT, b, 0, b"QC", phase, 0, self.boots, self.uptime_s)
        c = crc16(b, 0, 12)
        b[12] = c & 0xFF
        b[13] = c >> 8
        self.hal.rtc_mem(b)

    def birth_fields(self, cal_versions):
        """The birth event's own members: reset cause, breadcrumb, boots, calibration versions."""
        crumb = "none" if self.prev_phase is None else PHASES[self.prev_phase]
        cal = ",".join('"%s":%d' % (p, v) for p, v in cal_versions.items())
        return '"reset":"%s","crumb":"%s","boots":%d,"uptime_before":%d,"cal":{%s}' % (
            self.cause, crumb, self.boots, self.prev_uptime, cal)


def health_fields(free, backlog, rssi, uptime_s, errors):
    """The health event's members; errors: (name, count) pairs."""
    return ',"heap":%d,"backlog":%d,"dropped":%d,"rssi":%s,"uptime":%d,"errors":{%s}' % (
        free, len(backlog), backlog.dropped, "null" if rssi is None else str(rssi), uptime_s,
        ",".join('"%s":%d' % e for e in errors))
