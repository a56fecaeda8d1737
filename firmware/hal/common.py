# Pieces both HAL implementations share: character timing, sockets that keep a timeout, the
# reboot request, and a folder maker.

import os
import socket


class Reboot(Exception):
    """Raised by Hal.reset() where the platform cannot reset itself (unix: restart in-process)."""


def char_us(baud, bits, parity, stop):
    """One character on the wire: start bit, data bits, parity bit if any, stop bits."""
    return (1 + bits + (0 if parity == "N" else 1) + stop) * 1000000 // baud


def makedirs(path):
    """mkdir -p; MicroPython's os has no makedirs."""
    cur = "/" if path.startswith("/") else ""
    for part in path.split("/"):
        if not part:
            continue
        cur = cur + part if cur in ("", "/") else cur + "/" + part
        if part != ".":
            try:
                os.mkdir(cur)
            except OSError:
                pass  # exists (a real failure shows when the first file is opened)


class TimedSocket:
    """A socket whose blocking mode keeps a timeout.

    umqtt.simple waits for CONNACK and PUBACK with blocking reads and calls setblocking(True)
    after every non-blocking poll, which on a plain socket means "wait forever": a half-open
    TCP connection would then freeze the station. Here blocking means "wait up to timeout_s".
    """

    def __init__(self, timeout_s, tls=None):
        self.timeout = timeout_s
        self.tls = tls  # (ssl context, server name) or None
        self.raw = None  # under TLS: the TCP socket, which carries the timeout
        self.s = socket.socket()
        self.s.settimeout(timeout_s)
        try:
            # umqtt writes a PUBLISH in four small pieces: without this, Nagle holds the last
            # ones until the broker's delayed ACK (~40 ms per message on loopback)
            self.s.setsockopt(6, 1, 1)  # IPPROTO_TCP, TCP_NODELAY
        except (OSError, TypeError, AttributeError):
            pass

    def connect(self, addr):
        self.s.connect(addr)
        if self.tls:
            # the handshake runs here, within the socket's timeout; a broker whose
            # certificate is not from our CA or not for this name fails it
            self.raw = self.s
            self.s = self.tls[0].wrap_socket(self.s, server_hostname=self.tls[1])

    def read(self, n):
        return self.s.read(n)

    def write(self, buf, n=-1):
        if n < 0:
            return self.s.write(buf)
        return self.s.write(buf, n)

    def setblocking(self, flag):
        (self.raw or self.s).settimeout(self.timeout if flag else 0)

    def close(self):
        self.s.close()
        if self.raw is not None:
            self.raw.close()


class Sockets:
    """Stands in for umqtt.simple's socket module: .socket() and .getaddrinfo()."""

    def __init__(self, timeout_s=10):
        self.timeout_s = timeout_s
        self.tls = None  # (ssl context, server name): set at boot (hal/tls_context.py)

    def socket(self, *args):
        return TimedSocket(self.timeout_s, self.tls)

    def getaddrinfo(self, host, port, *args):
        return socket.getaddrinfo(host, port)
