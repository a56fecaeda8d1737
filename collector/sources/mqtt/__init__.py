"""MQTT source: the broker's station topics → envelopes, acknowledged after storage."""
