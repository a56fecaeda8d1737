# The MQTT link, and only the link: connect with the station's user and password, a retained
# status with a matching last will, the birth event once per boot, keepalive, and reconnects
# with jittered exponential back-off. What to send is the publisher's business.
#
# Built on umqtt.simple with three repairs: its socket comes from the HAL and keeps a timeout
# (umqtt waits for CONNACK/PUBACK with blocking reads and no timeout); its packet id wraps
# 65535 -> 1 instead of running into invalid ids; incoming bytes (PINGRESP, late PUBACKs) are
# consumed here so a dead half-open connection is noticed by its missing PINGRESP.

import umqtt.simple as _simple
from umqtt.simple import MQTTClient, MQTTException

import log

# What a broken or closing link raises inside umqtt.simple (it checks the protocol with assert
# and indexes reads that come back empty).
LINK_ERRORS = (OSError, MQTTException, AssertionError, IndexError, TypeError, ValueError)


class Client(MQTTClient):
    """umqtt.simple's client with a packet id that wraps 65535 -> 1 (0 is not a valid id)."""

    def publish(self, topic, msg, retain=False, qos=0):
        if self.pid >= 0xFFFF:
            self.pid = 0
        return super().publish(topic, msg, retain, qos)


class Uplink:
    def __init__(self, cfg, hal, boot, reset_cause):
        m = cfg["mqtt"]
        st = cfg["station"]
        self.hal = hal
        self.m = m
        self.station = st
        self.fw = cfg["fw"]
        self.boot = boot
        self.reset_cause = reset_cause
        prefix = "quantrac/v1/" + st + "/"
        self.data_topic = (prefix + "data").encode()
        self.status_topic = (prefix + "status").encode()
        self.event_topic = (prefix + "event").encode()
        self.will = b'{"v":1,"st":"%s","online":false,"boot":"%s"}' % (st, boot)
        self.keepalive_ms = m["keepalive"] * 1000
        self.client = None
        self.connected = False
        self.attempts = 0            # failed connects in a row
        self.next_try = hal.ticks_ms()
        self.birth_sent = False
        self.last_tx = 0
        self.ping_sent = None        # tick of an unanswered PINGREQ
        self.connects = 0
        self.losses = 0
        _simple.socket = hal.sockets  # umqtt.simple resolves and opens its socket through this

    def _t(self):
        t = self.hal.epoch()
        return b"null" if t is None else b"%d" % t

    def _backoff_ms(self):
        m = self.m
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
        try:
            self._read_incoming()
            if self.keepalive_ms:
                if self.ping_sent is not None:
                    if self.hal.ticks_diff(now, self.ping_sent) > self.keepalive_ms:
                        self._drop("no PINGRESP within keepalive")
                elif self.hal.ticks_diff(now, self.last_tx) >= self.keepalive_ms // 2:
                    self.client.ping()
                    self.ping_sent = now
                    self.last_tx = now
        except LINK_ERRORS as e:
            self._drop(repr(e))

    def _read_incoming(self):
        sock = self.client.sock
        sock.setblocking(False)
        try:
            b = sock.read(1)
        finally:
            sock.setblocking(True)
        while b is not None:
            if b == b"":
                raise OSError("connection closed by broker")
            op = b[0]
            if op == 0xD0:          # PINGRESP
                sock.read(1)
                self.ping_sent = None
            elif op == 0x40:        # a PUBACK that came after its publish gave up
                sock.read(3)
            else:
                raise OSError("unexpected packet 0x%02x" % op)
            sock.setblocking(False)
            try:
                b = sock.read(1)
            finally:
                sock.setblocking(True)

    def _connect(self, now):
        hal = self.hal
        m = self.m
        if not hal.net_up():
            self.next_try = hal.ticks_add(now, 2000)
            return
        c = Client(self.station, m["host"], m["port"], m["user"], m["password"], m["keepalive"])
        c.set_last_will(self.status_topic, self.will, True, 1)
        try:
            c.connect(True)
            self.client = c
            self.connected = True
            self.last_tx = hal.ticks_ms()
            self.ping_sent = None
            c.publish(self.status_topic, b'{"v":1,"st":"%s","online":true,"fw":"%s",'
                      b'"boot":"%s","t":%s}' % (self.station, self.fw, self.boot, self._t()),
                      True, 1)
            if not self.birth_sent:
                c.publish(self.event_topic, b'{"v":1,"st":"%s","boot":"%s","ev":"birth","t":%s,'
                          b'"fw":"%s","reset":"%s"}' % (self.station, self.boot, self._t(),
                                                         self.fw, self.reset_cause), False, 1)
                self.birth_sent = True
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

    def _close_socket(self, c):
        if c is not None and c.sock is not None:
            try:
                c.sock.close()
            except OSError:
                pass

    def _drop(self, why):
        self._close_socket(self.client)
        self.client = None
        self.connected = False
        self.losses += 1
        self.attempts = 0
        wait = self._backoff_ms()
        self.next_try = self.hal.ticks_add(self.hal.ticks_ms(), wait)
        log.warn("mqtt link lost (%s); reconnect in %d ms" % (why, wait))

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
