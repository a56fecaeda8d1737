"""The one back-off every output uses, and the one item result the outbox workers get."""

from __future__ import annotations

from collector.contracts import Outcome, WriteResult
from collector.delivery.backoff import Backoff, retry_after_s


def test_the_back_off_doubles_to_its_cap_and_never_undercuts_retry_after():
    b = Backoff(0.5, 4.0)
    assert [b.delay(n) for n in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert b.delay(1, retry_after=30.0) == 30.0  # the receiver asked for longer
    assert b.delay(10_000) == 4.0  # a long outage does not overflow
    assert retry_after_s({"Retry-After": "7"}) == 7.0 and retry_after_s({}) == 0.0


def test_a_sinks_answer_for_one_item_becomes_one_outcome():
    assert Outcome.of(WriteResult.ok(2), 2, "kept") == Outcome.ok()
    assert Outcome.of(WriteResult(accepted=[0], rejected=[(1, "HTTP 400: bad field")]), 2,
                      "kept") == Outcome.refuse("HTTP 400: bad field")
    kept = Outcome.of(WriteResult(accepted=[0], retry_after=3.0, error="HTTP 503"), 2, "kept")
    assert kept == Outcome.retry("HTTP 503", 3.0) and not kept.delivered
    assert Outcome.of(WriteResult(operator=True), 1, "not delivered") == \
        Outcome.retry("not delivered", None, operator=True)
