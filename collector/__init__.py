"""The collector: broker → validated, flagged, durable readings → InfluxDB, alerts, integrations."""
