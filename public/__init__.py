"""The public face: a vi/en air and water page, the open-data JSON API and a read-only OGC
SensorThings 1.1 view, all read from InfluxDB with the read-only account (README.md)."""
