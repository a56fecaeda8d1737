"""The sensor side of the wire and the bench around it: ports, seeded signals, Modbus RTU
slaves, particulate streams, field faults, the fast clock, scenarios and their runner.

`hil.station.SimulatedStation` puts the simulators together with the unix-port firmware for one
registry station; `quantrac hil run` plays the scenarios in hil/scenarios/. See hil/README.md.
"""
