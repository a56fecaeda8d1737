# MQTT on the wire: every packet the station builds or parses beyond what umqtt.simple does
# for it, in one place (as mqtt_as keeps its wire code). station/uplink.py decides when to
# connect, what to publish and what becomes of a command; this module only speaks the protocol.
#
# Client is umqtt.simple's MQTTClient with these repairs: its packet id wraps 65535 -> 1
# instead of running into invalid ids; what arrives while umqtt waits for a PUBACK is read here
# (umqtt would swallow a PINGRESP without a trace, and the link then looks dead); check_msg
# reads everything waiting without blocking; one SUBSCRIBE carries several topics at QoS 1.
# umqtt.simple opens its socket through its module's `socket`, which station/uplink.py points
# at the HAL's sockets: they keep a timeout (umqtt waits for CONNACK and PUBACK with blocking
# reads and no timeout of its own).
#
# An incoming PUBLISH goes to the callback (set_callback) as (topic, payload); payload None
# when it is longer than _MAX_INCOMING (skipped to keep the stream in step). The PUBACK goes
# out only when the callback returns True: a message left unacknowledged is sent again by the
# broker on the next connection (MQTT 3.1.1).

from micropython import const

import umqtt.simple

# What a broken or closing link raises inside umqtt.simple (it checks the protocol with assert
# and indexes reads that come back empty).
LINK_ERRORS = (OSError, umqtt.simple.MQTTException, AssertionError, IndexError, TypeError,
               ValueError)

_MAX_INCOMING = const(2048)  # bytes of a command or config message; longer ones are refused


class Client(umqtt.simple.MQTTClient):
    """umqtt.simple's client (its arguments) with the repairs above."""

    pong = False  # a PINGRESP arrived (during a publish or in check_msg)

    def handle(self, op):
        """A PINGRESP or PUBLISH whose first byte `op` was read; False for anything else."""
        sock = self.sock
        if op == 0xD0:
            sock.read(1)
            self.pong = True
            return True
        if op == 0xB0:  # UNSUBACK (station/ota.py leaves a chunk's topic)
            sock.read(3)
            return True
        if op & 0xF0 != 0x30 or self.cb is None:
            return False
        sz = self._recv_len()
        k = sock.read(2)
        k = k[0] << 8 | k[1]
        topic = sock.read(k)
        sz -= k + 2
        pid = 0
        if op & 6:
            p = sock.read(2)
            pid = p[0] << 8 | p[1]
            sz -= 2
        if sz > _MAX_INCOMING:
            while sz > 0:  # keep the stream in step; the message itself is refused
                sz -= len(sock.read(min(sz, 256)))
            msg = None
        else:
            msg = sock.read(sz) if sz else b""
        if self.cb(topic, msg) and op & 6 == 2:
            sock.write(b"\x40\x02" + bytes((pid >> 8, pid & 0xFF)))
        return True

    def wait_msg(self):
        res = self.sock.read(1)
        self.sock.setblocking(True)
        if res is None:
            return None
        if res == b"":
            raise OSError(-1)
        return None if self.handle(res[0]) else res[0]

    def check_msg(self):
        """Read what has arrived without waiting: PINGRESPs, PUBACKs that came after their
        publish gave up, a SUBACK, commands (to the callback). True when a PINGRESP came
        (here or during a publish since the last call)."""
        sock = self.sock
        while True:
            sock.setblocking(False)
            try:
                b = sock.read(1)
            finally:
                sock.setblocking(True)
            if b is None:
                break
            if b == b"":
                raise OSError("connection closed by broker")
            op = b[0]
            if op == 0x40:          # a late PUBACK
                sock.read(3)
            elif op == 0x90:        # a SUBACK (remaining length, then that many bytes)
                sock.read(self._recv_len())
            elif not self.handle(op):
                raise OSError("unexpected packet 0x%02x" % op)
        pong = self.pong
        self.pong = False
        return pong

    def publish(self, topic, msg, retain=False, qos=0):
        if self.pid >= 0xFFFF:
            self.pid = 0
        return super().publish(topic, msg, retain, qos)

    def subscribe(self, *args):
        """SUBSCRIBE to every topic in args at QoS 1 in one packet, then wait for the SUBACK
        (before any publish, or umqtt's own PUBACK wait would take the SUBACK for a stray
        packet)."""
        sock = self.sock
        pid = self.pid = 1 if self.pid >= 0xFFFF else self.pid + 1
        size = 2 + sum(3 + len(t) for t in args)
        # remaining length: one byte up to 127, two beyond (three topics of a long station id)
        sock.write(bytes((0x82, size | 0x80, size >> 7) if size > 127 else (0x82, size)))
        sock.write(bytes((pid >> 8, pid & 0xFF)))
        for t in args:
            self._send_str(t)
            sock.write(b"\x01")
        while True:
            op = sock.read(1)
            if not op:
                raise OSError("no SUBACK")
            if op[0] == 0x90:
                resp = sock.read(self._recv_len())  # pid, then one return code per topic
                if 0x80 in resp[2:]:
                    raise umqtt.simple.MQTTException("subscription refused")
                return
            if not self.handle(op[0]):
                raise OSError("unexpected packet 0x%02x before SUBACK" % op[0])
