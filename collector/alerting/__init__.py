"""Alert rules as data, evaluated by pure functions (`engine`), rendered into texts, payloads
and points (`messages`); `outputs` delivers them in the background."""
