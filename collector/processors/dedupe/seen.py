"""Which (boot, seq) pairs each station's messages have already carried, in bounded memory.

A boot's sequence numbers are kept as sorted, merged ranges ([0, 41] after 42 messages in
order), so a station that counts up costs one range per boot whatever its traffic. Bounds: the
`boots` most recently seen boots per station, `ranges` ranges per boot (the lowest numbers go
first), and boots not seen for `forget_s` seconds are forgotten. Forgetting only means a very
old copy would be stored again, which InfluxDB turns into an overwrite.
"""

from __future__ import annotations

import bisect
from typing import Any

STATE_VERSION = 1


class SeenSet:
    def __init__(self, boots: int = 8, ranges: int = 256, forget_s: float = 30 * 86400) -> None:
        self.boots, self.ranges, self.forget_s = boots, ranges, forget_s
        # station → boot → [last seen (epoch s), [(lo, hi), ...] sorted, disjoint, non-adjacent]
        self._seen: dict[str, dict[str, list[Any]]] = {}

    def __contains__(self, key: tuple[str, str, int]) -> bool:
        station, boot, seq = key
        entry = self._seen.get(station, {}).get(boot)
        if entry is None:
            return False
        spans = entry[1]
        i = bisect.bisect_right(spans, (seq, float("inf")))
        return i > 0 and spans[i - 1][0] <= seq <= spans[i - 1][1]

    def add(self, key: tuple[str, str, int], now: float) -> None:
        station, boot, seq = key
        boots = self._seen.setdefault(station, {})
        entry = boots.get(boot)
        if entry is None:
            entry = boots[boot] = [now, []]
            self._trim_boots(boots, now)
        entry[0] = max(entry[0], now)
        spans: list[tuple[int, int]] = entry[1]
        i = bisect.bisect_right(spans, (seq, float("inf")))
        if i > 0 and spans[i - 1][0] <= seq <= spans[i - 1][1]:
            return
        joins_left = i > 0 and spans[i - 1][1] == seq - 1
        joins_right = i < len(spans) and spans[i][0] == seq + 1
        if joins_left and joins_right:
            spans[i - 1:i + 1] = [(spans[i - 1][0], spans[i][1])]
        elif joins_left:
            spans[i - 1] = (spans[i - 1][0], seq)
        elif joins_right:
            spans[i] = (seq, spans[i][1])
        else:
            spans.insert(i, (seq, seq))
        del spans[:-self.ranges]

    def _trim_boots(self, boots: dict[str, list[Any]], now: float) -> None:
        for boot in [b for b, e in boots.items() if now - e[0] > self.forget_s]:
            del boots[boot]
        while len(boots) > self.boots:
            del boots[min(boots, key=lambda b: boots[b][0])]

    def state(self) -> dict[str, Any]:
        return {"v": STATE_VERSION,
                "stations": {st: {boot: {"t": e[0], "r": [list(s) for s in e[1]]}
                                  for boot, e in boots.items()}
                             for st, boots in self._seen.items()}}

    def restore(self, state: dict[str, Any]) -> int:
        """Load a saved state; returns how many boots were kept. Raises ValueError when the
        layout is not one this version wrote."""
        if not isinstance(state, dict) or state.get("v") != STATE_VERSION:
            raise ValueError("unknown layout")
        kept = 0
        for station, boots in state.get("stations", {}).items():
            for boot, e in boots.items():
                spans = sorted((int(lo), int(hi)) for lo, hi in e["r"])
                self._seen.setdefault(station, {})[str(boot)] = [float(e["t"]),
                                                                  spans[-self.ranges:]]
                kept += 1
        return kept
