# Half-duplex request/reply on one RS-485 line shared by several slaves.
#
# The line rules of Modbus RTU live here, independent of any register map: the line must be
# quiet for the 3.5-character silent interval (and the slaves' turnaround time) before a
# request; stale input is flushed so a late reply to the previous request cannot be taken for
# this one; a reply must arrive within the timeout. Driving DE/RE is the HAL's job (Uart.write
# returns only when the line is released). One receive buffer serves every slave on the line.
# All of it runs on real time (hal.io_*), whatever speed the station clock runs at.

from bus.modbus_rtu import NEED_MORE


class BusTimeout(OSError):
    """Nothing arrived within the timeout."""


class FrameError(ValueError):
    """Bytes arrived within the timeout but no valid reply among them (noise, CRC, foreign)."""


def silent_ms(baud, char_us):
    """The 3.5-character inter-frame silence, fixed at 1.75 ms above 19200 baud; whole ms."""
    us = 1750 if baud > 19200 else (char_us * 7 + 1) // 2
    return (us + 999) // 1000


class Rs485:
    def __init__(self, uart, hal, rx_size=256):
        self.uart = uart
        self.hal = hal
        self.rx = bytearray(rx_size)
        self.rxv = memoryview(self.rx)
        self.silent_ms = silent_ms(uart.baud, uart.char_us)
        self.quiet_at = hal.io_ticks_ms()  # no request before this (real-time) tick
        self.n = 0                      # bytes in rx from the last transaction
        self.requests = 0
        self.timeouts = 0
        self.bad_frames = 0

    def _settle(self, gap_ms):
        """Hold the line quiet for gap_ms from now (at least the silent interval)."""
        hal = self.hal
        self.quiet_at = hal.ticks_add(hal.io_ticks_ms(), max(gap_ms, self.silent_ms))

    def transact(self, req, req_len, timeout_ms, turnaround_ms, matcher):
        """Send req[0:req_len]; the offset in self.rx of the reply matcher.match() accepts.

        matcher.match(buf, n) returns an offset or NEED_MORE and may raise (an exception
        reply). Raises BusTimeout or FrameError; the line is left quiet for turnaround_ms
        whatever happens.
        """
        hal = self.hal
        uart = self.uart
        wait = hal.ticks_diff(self.quiet_at, hal.io_ticks_ms())
        if wait > 0:
            hal.io_sleep_ms(wait)
        uart.drain()
        uart.write(req, req_len)
        self.requests += 1
        start = hal.io_ticks_ms()
        rx = self.rx
        n = 0
        try:
            while True:
                left = timeout_ms - hal.ticks_diff(hal.io_ticks_ms(), start)
                if left <= 0 or not uart.wait(left):
                    break
                if n == len(rx):
                    n = 0  # a flood of noise: keep hunting in fresh bytes
                k = uart.readinto(self.rxv[n:])
                if k:
                    n += k
                    if n >= 5:
                        off = matcher.match(rx, n)
                        if off != NEED_MORE:
                            self.n = n
                            return off
        finally:
            self._settle(turnaround_ms)
        self.n = n
        if n == 0:
            self.timeouts += 1
            raise BusTimeout("no reply")
        self.bad_frames += 1
        raise FrameError("no valid reply in %d bytes" % n)
