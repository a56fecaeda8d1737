# The MQTT link, and only the link: connect with the station's user and password, a retained
# status with a matching last will, the birth event once per boot, keepalive, and reconnects
# with jittered exponential back-off. What to send is the publisher's business.
#
# Built on umqtt.simple with three repairs: its socket comes from the HAL and keeps a timeout
# (umqtt waits for CONNACK/PUBACK with blocking reads and no timeout); its packet id wraps
# 65535 -> 1 instead of running into invalid ids; incoming bytes (PINGRESP, late PUBACKs,
# commands) are consumed here so a dead half-open connection is noticed by its missing
# PINGRESP. The station subscribes to its own `cmd` and `config` topics at QoS 1 in a
# persistent session (clean session off): the broker keeps what the operator sends while the
# station is away and delivers it at the next connect. What arrives waits in .inbox for
# station/control.py; a message that finds the inbox full is not acknowledged, and once the
# inbox is empty the link is dropped and made again, so the broker delivers it once more
# (MQTT 3.1.1 resends unacknowledged messages only on a new connection).
#
# Time: keepalive pings and reconnect back-off run on station ticks (the unix fast clock
# scales them); the wait for a PINGRESP is real time, like every socket timeout.

from micropython import const

import umqtt.simple
from umqtt.simple import MQTTClient, MQTTException

import log

# What a broken or closing link raises inside umqtt.simple (it checks the protocol with assert
# and indexes reads that come back empty).
LINK_ERRORS = (OSError, MQTTException, AssertionError, IndexError, TypeError, ValueError)


_INBOX = const(2)            # commands waiting for the main loop; more wait at the broker
_MAX_INCOMING = const(2048)  # bytes of a command or config message; longer ones are refused


class Client(MQTTClient):
    """umqtt.simple's client with a packet id that wraps 65535 -> 1 (0 is not a valid id),
    and its own reading of what arrives while umqtt waits for a PUBACK: umqtt would swallow
    a PINGRESP without a trace (the link then looks dead) and needs a callback for PUBLISH."""

    link = None   # the Uplink: told about PINGRESPs and given commands
    pong = False  # a PINGRESP arrived during a publish

    def handle(self, op):
        """A PINGRESP or PUBLISH whose first byte `op` was read; False for anything else."""
        if op == 0xD0:
            self.sock.read(1)
            self.pong = True
        elif op & 0xF0 == 0x30 and self.link is not None:
            self.link._incoming_publish(self.sock, op)
        else:
            return False
        return True

    def wait_msg(self):
        res = self.sock.read(1)
        self.sock.setblocking(True)
        if res is None:
            return None
        if res == b"":
            raise OSError(-1)
        return None if self.handle(res[0]) else res[0]

    def publish(self, topic, msg, retain=False, qos=0):
        if self.pid >= 0xFFFF:
            self.pid = 0
        return super().publish(topic, msg, retain, qos)

    def next_pid(self):
        self.pid = 1 if self.pid >= 0xFFFF else self.pid + 1
        return self.pid


class Uplink:
    def __init__(self, cfg, hal, boot, birth):
        """birth: the birth event's own fields as a JSON fragment (station/health.py)."""
        m = cfg["mqtt"]
        st = cfg["station"]
        self.hal = hal
        self.cfg = m
        self.station = st
        self.fw = cfg["fw"]
        self.boot = boot
        self.birth = birth
        prefix = "quantrac/v1/" + st + "/"
        self.data_topic = (prefix + "data").encode()
        self.status_topic = (prefix + "status").encode()
        self.event_topic = (prefix + "event").encode()
        self.cmd_topic = (prefix + "cmd").encode()
        self.config_topic = (prefix + "config").encode()
        self.inbox = []              # (b"cmd" | b"config", payload) from the operator
        self.refused = 0             # commands refused for being too long
        self.held_back = 0           # left unacknowledged (inbox full): redelivered later
        self.will = b'{"v":1,"st":"%s","online":false,"boot":"%s"}' % (st, boot)
        self.keepalive_ms = m["keepalive"] * 1000
        self.client = None           # the MQTT client while connected
        # one client object for every connect, made here: built anew per connect, its
        # attribute dict (~300 B) had to be found in whatever holes the heap had by then
        self.mqtt = Client(st, m["host"], m["port"], m["user"], m["password"], m["keepalive"])
        self.mqtt.set_last_will(self.status_topic, self.will, True, 1)
        self.mqtt.set_callback(self.on_message)
        self.mqtt.link = self
        self.connected = False
        self.attempts = 0            # failed connects in a row
        self.next_try = hal.ticks_ms()
        self.birth_sent = False
        self.last_tx = 0
        self.ping_sent = None        # real tick of an unanswered PINGREQ
        self.connects = 0
        self.losses = 0
        # umqtt.simple resolves and opens its socket through this
        umqtt.simple.socket = hal.sockets

    def _t(self):
        t = self.hal.epoch()
        return b"null" if t is None else b"%d" % t

    def _backoff_ms(self):
        m = self.cfg
        s = m["backoff_min_s"] << min(self.attempts, 16)
        ms = min(s, m["backoff_max_s"]) * 1000
        # 50-100 % of the step: stations that lost the broker together do not return together
        return ms * (256 + self.hal.random_bytes(1)[0]) // 512

    def service(self, now):
        """Connect when due; keep the connection alive. Never blocks longer than timeout_s."""
        if not self.connected:
            if self.hal.ticks_diff(now, self.next_try) >= 0:
                self._connect(now)
            return
        hal = self.hal
        if self.held_back and not self.inbox:
            n = self.held_back
            self.held_back = 0
            self._drop("%d commands held back at the broker; reconnecting to receive them" % n,
                       quiet=True)
            return
        try:
            self._read_incoming()
            if self.keepalive_ms:
                if self.ping_sent is not None:
                    if hal.ticks_diff(hal.io_ticks_ms(), self.ping_sent) > self.keepalive_ms:
                        self._drop("no PINGRESP within keepalive")
                elif hal.ticks_diff(now, self.last_tx) >= self.keepalive_ms // 2:
                    self.client.ping()
                    self.ping_sent = hal.io_ticks_ms()
                    self.last_tx = now
        except LINK_ERRORS as e:
            self._drop(repr(e))

    def _read_incoming(self):
        c = self.client
        sock = c.sock
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
            if op == 0x40:          # a PUBACK that came after its publish gave up
                sock.read(3)
            elif op == 0x90:        # a SUBACK (remaining length, then that many bytes)
                sock.read(c._recv_len())
            elif not c.handle(op):
                raise OSError("unexpected packet 0x%02x" % op)
        if c.pong:
            c.pong = False
            self.ping_sent = None

    def _incoming_publish(self, sock, op):
        """A PUBLISH from the broker (a command or config); PUBACK when it asks for one."""
        c = self.client
        sz = c._recv_len()
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
            self.refused += 1
            log.warn("mqtt message on %s too long, refused" % topic.decode())
        elif not self.on_message(topic, sock.read(sz) if sz else b""):
            return  # no PUBACK: the broker keeps it for the next connection
        if op & 6 == 2:
            sock.write(b"\x40\x02" + bytes((pid >> 8, pid & 0xFF)))

    def on_message(self, topic, msg):
        """umqtt's callback too: keep a command or config for the main loop; False when the
        inbox is full and the message must stay with the broker."""
        leaf = b"cmd" if topic == self.cmd_topic else b"config" if topic == \
            self.config_topic else None
        if leaf is None:
            return True
        if len(self.inbox) >= _INBOX:
            self.held_back += 1
            return False
        self.inbox.append((leaf, msg))
        return True

    def _subscribe(self, client):
        """SUBSCRIBE cmd and config at QoS 1, then wait for the SUBACK (before any publish,
        or umqtt's own PUBACK wait would take the SUBACK for a stray packet)."""
        pid = client.next_pid()
        topics = (self.cmd_topic, self.config_topic)
        size = 2 + sum(3 + len(t) for t in topics)
        client.sock.write(bytes((0x82, size, pid >> 8, pid & 0xFF)))
        for t in topics:
            client._send_str(t)
            client.sock.write(b"\x01")
        while True:
            op = client.sock.read(1)
            if not op:
                raise OSError("no SUBACK")
            if op[0] == 0x90:
                resp = client.sock.read(client._recv_len())  # pid, then one return code per topic
                if 0x80 in resp[2:]:
                    raise MQTTException("subscription refused")
                return
            if not client.handle(op[0]):
                raise OSError("unexpected packet 0x%02x before SUBACK" % op[0])

    def event(self, name, data):
        """Publish an event (QoS 1); data: the event's own members as a JSON fragment."""
        return self.publish(self.event_topic, b'{"v":1,"st":"%s","boot":"%s","ev":"%s","t":%s%s}'
                            % (self.station, self.boot, name, self._t(), data), 1)

    def _connect(self, now):
        hal = self.hal
        m = self.cfg
        if not hal.net_up():
            self.next_try = hal.ticks_add(now, 2000)
            return
        c = self.mqtt
        try:
            c.connect(False)  # persistent session: commands wait at the broker meanwhile
            self.client = c
            self.connected = True
            self.last_tx = hal.ticks_ms()
            self.ping_sent = None
            c.publish(self.status_topic, b'{"v":1,"st":"%s","online":true,"fw":"%s",'
                      b'"boot":"%s","t":%s}' % (self.station, self.fw, self.boot, self._t()),
                      True, 1)
            if not self.birth_sent:
                c.publish(self.event_topic, b'{"v":1,"st":"%s","boot":"%s","ev":"birth","t":%s,'
                          b'"fw":"%s",%s}' % (self.station, self.boot, self._t(), self.fw,
                                              self.birth), False, 1)
                self.birth_sent = True
            self._subscribe(c)
        except LINK_ERRORS as e:
            self.attempts += 1
            self._close_socket(c)
            self.connected = False
            self.client = None
            wait = self._backoff_ms()
            self.next_try = hal.ticks_add(hal.ticks_ms(), wait)
            log.warn("mqtt connect to %s:%d failed (%r); retry in %d ms" % (
                m["host"], m["port"], e, wait))
            return
        self.attempts = 0
        self.connects += 1
        log.info("mqtt connected to %s:%d as %s" % (m["host"], m["port"], m["user"]))

    def _close_socket(self, client):
        if client is not None and client.sock is not None:
            try:
                client.sock.close()
            except OSError:
                pass

    def _drop(self, reason, quiet=False):
        """Close the link and schedule a reconnect; `quiet`: on purpose, not a loss: a
        DISCONNECT first (the broker keeps the session and does not publish the will), and
        the reconnect at once."""
        if quiet:
            try:
                self.client.disconnect()
            except LINK_ERRORS:
                pass
        self._close_socket(self.client)
        self.client = None
        self.connected = False
        self.attempts = 0
        if quiet:
            self.next_try = self.hal.ticks_ms()
            log.info("mqtt reconnect: %s" % reason)
            return
        self.losses += 1
        wait = self._backoff_ms()
        self.next_try = self.hal.ticks_add(self.hal.ticks_ms(), wait)
        log.warn("mqtt link lost (%s); reconnect in %d ms" % (reason, wait))

    def publish(self, topic, payload, qos=1, retain=False):
        """True once delivered (PUBACK for QoS 1); False drops the link for a reconnect."""
        if not self.connected:
            return False
        try:
            self.client.publish(topic, payload, retain, qos)
        except LINK_ERRORS as e:
            self._drop(repr(e))
            return False
        self.last_tx = self.hal.ticks_ms()
        return True

    def close(self):
        """Clean shutdown: retained offline status (the will's payload), then DISCONNECT."""
        if not self.connected:
            return False
        ok = self.publish(self.status_topic, self.will, 1, True)
        if self.connected:
            try:
                self.client.disconnect()
            except LINK_ERRORS:
                pass
        self.connected = False
        self.client = None
        return ok
