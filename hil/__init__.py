"""The sensor side of the wire: ports, seeded signals, Modbus RTU slaves, particulate streams.

`hil.station.SimulatedStation` puts them together with the unix-port firmware for one registry
station. See hil/README.md.
"""
