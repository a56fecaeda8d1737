# The MQTT link, and only the link: connect with the station's user and password, a retained
# status with a matching last will, the birth event once per boot, keepalive, and reconnects
# with jittered exponential back-off. What to send is the publisher's business.
#
# The packets themselves (umqtt.simple and our repairs to it, the SUBSCRIBE, reading what
# arrives, PUBACKs) are station/mqtt.py's. What has arrived (PINGRESP, late PUBACKs, commands)
# is read on every service(), so a dead half-open connection is noticed by its missing
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

import log
from station.mqtt import LINK_ERRORS, Client

_INBOX = const(2)            # commands waiting for the main loop; more wait at the broker


class Uplink:
    def __init__(self, cfg, hal, boot, birth):
        """birth: the birth event's own fields as a JSON fragment (station/health.py)."""
        m = cfg["mqtt"]
        st = cfg["station"]
        self.hal = hal
        # the back-off steps only: host, port and user are the client's (server, port, user);
        # the mqtt section's dict (nine keys) is not kept: -224 B
        self.cfg = (m["backoff_min_s"], m["backoff_max_s"])
        self.station = st
        self.fw = cfg["fw"]
        self.boot = boot
        self.birth = birth
        prefix = "quantrac/v1/" + st + "/"
        self.data_topic = (prefix + "data").encode()
        self.event_topic = (prefix + "event").encode()
        self.inbox = []              # (b"cmd" | b"config", payload) from the operator
        self.refused = 0             # commands refused for being too long
        self.held_back = 0           # left unacknowledged (inbox full): redelivered later
        self.keepalive_ms = m["keepalive"] * 1000
        self.client = None           # the MQTT client while connected
        import umqtt.simple  # a local name: no global for one assignment

        umqtt.simple.socket = hal.sockets  # umqtt.simple opens its socket through this
        # one client object for every connect, made here: built anew per connect, its
        # attribute dict (~300 B) had to be found in whatever holes the heap had by then
        self.mqtt = Client(st, m["host"], m["port"], m["user"], m["password"], m["keepalive"])
        # the status topic and the will's payload are kept by the client only (its lw_topic,
        # lw_msg): two names and two dict slots fewer here
        self.mqtt.set_last_will((prefix + "status").encode(),
                                b'{"v":1,"st":"%s","online":false,"boot":"%s"}' % (st, boot),
                                True, 1)
        self.mqtt.set_callback(self.on_message)
        self.connected = False
        self.attempts = 0            # failed connects in a row
        self.next_try = hal.ticks_ms()
        self.birth_sent = False
        self.last_tx = 0
        self.ping_sent = None        # real tick of an unanswered PINGREQ
        self.connects = 0
        self.losses = 0

    def _t(self):
        t = self.hal.epoch()
        return b"null" if t is None else b"%d" % t

    def _backoff_ms(self):
        lo, hi = self.cfg
        ms = min(lo << min(self.attempts, 16), hi) * 1000
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
            if self.client.check_msg():
                self.ping_sent = None
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

    def on_message(self, topic, msg):
        """The client's callback: keep a command or config for the main loop; False when the
        inbox is full and the message must stay with the broker. msg None: too long to take,
        refused (and acknowledged)."""
        if msg is None:
            self.refused += 1
            log.warn("mqtt message on %s too long, refused" % topic.decode())
            return True
        # the topic's leaf after our prefix: cmd, config, or fw, fw/<i> (an update,
        # station/ota.py); no topic kept for each: the prefix is data_topic's
        leaf = topic[len(self.data_topic) - 4:]
        if topic[:len(self.data_topic) - 4] != self.data_topic[:-4] or (
                leaf != b"cmd" and leaf != b"config" and leaf[:2] != b"fw"):
            return True
        if len(self.inbox) >= _INBOX:
            self.held_back += 1
            return False
        self.inbox.append((leaf, msg))
        return True

    def event(self, name, data):
        """Publish an event (QoS 1); data: the event's own members as a JSON fragment."""
        return self.publish(self.event_topic, b'{"v":1,"st":"%s","boot":"%s","ev":"%s","t":%s%s}'
                            % (self.station, self.boot, name, self._t(), data), 1)

    def _connect(self, now):
        hal = self.hal
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
            c.publish(c.lw_topic, b'{"v":1,"st":"%s","online":true,"fw":"%s",'
                      b'"boot":"%s","t":%s}' % (self.station, self.fw, self.boot, self._t()),
                      True, 1)
            if not self.birth_sent:
                c.publish(self.event_topic, b'{"v":1,"st":"%s","boot":"%s","ev":"birth","t":%s,'
                          b'"fw":"%s",%s}' % (self.station, self.boot, self._t(), self.fw,
                                              self.birth), False, 1)
                self.birth_sent = True
            p = self.data_topic[:-4]  # the topics built per connect, not kept (2 names, 128 B)
            c.subscribe(p + b"cmd", p + b"config", p + b"fw")
        except LINK_ERRORS as e:
            self.attempts += 1
            self._close_socket(c)
            self.connected = False
            self.client = None
            wait = self._backoff_ms()
            self.next_try = hal.ticks_add(hal.ticks_ms(), wait)
            log.warn("mqtt connect to %s:%d failed (%r); retry in %d ms" % (
                c.server, c.port, e, wait))
            return
        self.attempts = 0
        self.connects += 1
        log.info("mqtt connected to %s:%d as %s" % (c.server, c.port, c.user))

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
        ok = self.publish(self.mqtt.lw_topic, self.mqtt.lw_msg, 1, True)
        if self.connected:
            try:
                self.client.disconnect()
            except LINK_ERRORS:
                pass
        self.connected = False
        self.client = None
        return ok
