# Drains the backlog into data messages at QoS 1; records leave the backlog only after the
# broker's PUBACK. The link decides nothing about what to send; this never touches sockets.
#
# A message that was sent but not acknowledged is retried with the same seq and the same
# records, so boot + seq keep naming one content (the collector counts duplicates by them).

import gc

import log


class Publisher:
    def __init__(self, backlog, uplink, messages, batch):
        self.backlog = backlog
        self.uplink = uplink
        self.messages = messages
        self.batch = batch
        self.seq = 0
        self.inflight = 0          # records in the unacknowledged message, 0 when none
        self.dropped_seen = backlog.dropped
        self.sent = 0              # messages acknowledged since boot
        self.failed = 0            # publishes that lost the link

    def drain(self, limit=0):
        """Send what the backlog holds while the link is up (at most `limit` messages when
        given); the number of messages acknowledged."""
        q = self.backlog
        acked = 0
        while len(q) and self.uplink.connected and not (limit and acked >= limit):
            if self.inflight and q.dropped != self.dropped_seen:
                # the unacknowledged message lost its oldest records to the bound: new content,
                # so it may not reuse the seq that may already have reached the broker
                self.seq = (self.seq + 1) & 0xFFFFFFFF
                self.inflight = 0
            self.dropped_seen = q.dropped
            payload, count = self.messages.build(self.seq, q, self.inflight or self.batch)
            if payload is None:        # only damaged slots: nothing to send, skip them
                log.warn("backlog %d damaged records skipped" % count)
                q.commit(count)
                continue
            self.inflight = count
            if not self.uplink.publish(self.uplink.data_topic, payload, 1):
                self.failed += 1
                log.warn("publish seq=%d failed, %d records kept" % (self.seq, len(q)))
                return acked
            q.commit(count)
            self.inflight = 0
            log.info("publish seq=%d records=%d bytes=%d queued=%d dropped=%d free=%d" % (
                self.seq, count, len(payload), len(q), q.dropped, gc.mem_free()))
            self.seq = (self.seq + 1) & 0xFFFFFFFF
            self.sent += 1
            acked += 1
        return acked
