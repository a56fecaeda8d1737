"""Alert rules as data, evaluated by pure functions (`engine`), rendered into texts, payloads
and points (`messages`); collector/delivery/alert_outputs.py delivers them in the background."""
