"""InfluxDB sink: readings → `reading` points through the v2 write API."""
