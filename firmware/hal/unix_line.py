# Boot-only (hal/unix.py loads it for each UART it opens, then drops it): a tty made raw and
# non-blocking, with the line's speed, data bits, parity and stop bits as Linux termios values.
#
# MicroPython's termios names only a few speeds (B9600, B57600, B115200, ...) and no c_cflag
# bits at all, so the numbers of <asm-generic/termbits.h> are spelled here. They are the
# kernel's ABI on x86, ARM and RISC-V Linux, which is where the unix port runs.

import termios
from micropython import const

# Every speed the unix port can set: the Linux Bxxx codes 7..15 for 300..38400, then
# 0o10001.. for 57600 and up. boards.BAUD_RATES holds the same list (a test keeps them equal):
# a catalog line speed outside it is refused when the file is read, not on the pole.
SPEEDS = "300 600 1200 1800 2400 4800 9600 19200 38400 57600 115200 230400 460800 500000 " \
         "576000 921600 1000000"

# c_cc indices of VTIME/VMIN on Linux; MicroPython's termios does not name them.
_VTIME = const(5)
_VMIN = const(6)
_CSIZE = const(0o60)
_CS7 = const(0o40)
_CS8 = const(0o60)
_CSTOPB = const(0o100)
_CREAD = const(0o200)
_PARENB = const(0o400)
_PARODD = const(0o1000)
_CLOCAL = const(0o4000)
_CMSPAR = const(0o10000000000)  # "stick" parity: never wanted on a Modbus line


def speed_code(baud):
    """The Linux termios speed code of `baud`, or None when the kernel has none."""
    i = 0
    for s in SPEEDS.split():
        if int(s) == baud:
            return 7 + i if i < 9 else 0o10001 + i - 9
        i += 1
    return None


def line(name, cfg, cflag):
    """(c_cflag, speed code) for uarts.<name> = cfg (baud, bits, parity, stop) over the
    c_cflag the tty had; ValueError naming the key when the speed cannot be set."""
    speed = speed_code(cfg["baud"])
    if speed is None:
        raise ValueError("uarts.%s.baud: %d is not a speed the unix port can set (%s)"
                         % (name, cfg["baud"], SPEEDS.replace(" ", ", ")))
    cflag &= ~(_CSIZE | _CSTOPB | _PARENB | _PARODD | _CMSPAR)
    cflag |= (_CS7 if cfg["bits"] == 7 else _CS8) | _CREAD | _CLOCAL
    if cfg["stop"] == 2:
        cflag |= _CSTOPB
    if cfg["parity"] != "N":
        cflag |= _PARENB | (_PARODD if cfg["parity"] == "O" else 0)
    return cflag, speed


def setup(fd, name, cfg):
    """Make the tty at fd raw, reads non-blocking, and set uarts.<name> = cfg on it."""
    termios.setraw(fd)
    attr = termios.tcgetattr(fd)
    # VMIN 0 / VTIME 0: a read returns what is there, even nothing, so readinto never blocks
    attr[6][_VMIN] = 0
    attr[6][_VTIME] = 0
    attr[2], attr[4] = line(name, cfg, attr[2])
    attr[5] = attr[4]
    termios.tcsetattr(fd, termios.TCSANOW, attr)
