# Pieces both HAL implementations share: character timing and sockets that keep a timeout.

import socket


def char_us(baud, bits, parity, stop):
    """One character on the wire: start bit, data bits, parity bit if any, stop bits."""
    return (1 + bits + (0 if parity == "N" else 1) + stop) * 1000000 // baud


class TimedSocket:
    """A socket whose blocking mode keeps a timeout.

    umqtt.simple waits for CONNACK and PUBACK with blocking reads and calls setblocking(True)
    after every non-blocking poll, which on a plain socket means "wait forever": a half-open
    TCP connection would then freeze the station. Here blocking means "wait up to timeout_s".
    """

    def __init__(self, timeout_s):
        self.timeout = timeout_s
        self.s = socket.socket()
        self.s.settimeout(timeout_s)

    def connect(self, addr):
        self.s.connect(addr)

    def read(self, n):
        return self.s.read(n)

    def write(self, buf, n=-1):
        if n < 0:
            return self.s.write(buf)
        return self.s.write(buf, n)

    def setblocking(self, flag):
        self.s.settimeout(self.timeout if flag else 0)

    def close(self):
        self.s.close()


class Sockets:
    """Stands in for umqtt.simple's socket module: .socket() and .getaddrinfo()."""

    def __init__(self, timeout_s=10):
        self.timeout_s = timeout_s

    def socket(self, *args):
        return TimedSocket(self.timeout_s)

    def getaddrinfo(self, host, port, *args):
        return socket.getaddrinfo(host, port)
