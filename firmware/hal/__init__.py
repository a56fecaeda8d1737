# The hardware abstraction layer: the only place that touches machine, network, esp32,
# termios, select or device files. Everything above it runs unchanged on an ESP32 and on the
# unix port. `Hal` is chosen by sys.platform; both implementations keep this contract.
#
# Hal(cfg)                      cfg: the effective config (config.check)
#   .platform                   "esp32" | "unix"
#   .uart(name, ucfg) -> Uart   open one configured UART (ucfg: merged defaults["uart"])
#   .ticks_ms() .ticks_add(t, ms) .ticks_diff(a, b) .sleep_ms(ms)    monotonic, wrapping
#   .epoch() -> int | None      UTC seconds since 1970; None while the clock is before 2024
#   .set_clock(t) -> bool       set the RTC from UTC seconds (False: the platform owns it)
#   .random_bytes(n) -> bytes   from the hardware/OS random source (boot id, jitter)
#   .reset_cause() -> str       power_on | hard | watchdog | deep_sleep | soft
#   .net_up() -> bool           bring up / check the network link, never blocking long
#   .sockets                    what umqtt.simple needs of a socket module: .socket() and
#                               .getaddrinfo(host, port); sockets time out (hal/common.py)
#   .start_wdt(ms) .wdt_feed()  hardware watchdog; a no-op until start_wdt (unix: always)
#   .close()                    release UARTs and pins
#
# Uart
#   .baud .char_us              line speed; one character time in microseconds (start,
#                               data, parity and stop bits)
#   .write(buf, n)              send buf[0:n]; returns when the last stop bit has left the
#                               wire and the RS-485 driver (DE/RE) is released
#   .readinto(mv) -> int        whatever has arrived, up to len(mv); 0 when nothing, never waits
#   .wait(ms) -> bool           True as soon as a byte is waiting, False after ms without one
#   .drain() -> int             discard everything waiting; the count
#   .close()

import sys

if sys.platform == "esp32":
    from hal.esp32 import Hal
else:
    from hal.unix import Hal

__all__ = ["Hal"]

