"""The technician's side: from a registry entry and a blank ESP32 to a commissioned station.

| module | job |
|---|---|
| `registry_file` | the registry to work from (name or file); add a station, checked by boards |
| `accounts` | the station's MQTT password, the broker's password file and ACL, the TLS listener |
| `tls` | our CA, the broker's server certificate, stations' client certificates |
| `workspace` | a station's files on the laptop: config.json, secrets.json, TLS files, sheets |
| `bundle` | what goes onto the flash: the firmware build plus the station's files |
| `board` | `BoardLink`: a MicroPython board through mpremote's raw-REPL transport |
| `flash` | esptool for the MicroPython image; files copied and verified by sha256 on the board |
| `console` | watch the board's output, or hand over to mpremote's REPL |
| `commission` + `onboard_commission` | read every sensor through the board, log in, publish |
| `sheet` | judge the findings against the registry; the pass/fail sheet, printed and saved |
| `probe` | RS-485 sensors on the laptop's adapter with minimalmodbus: scan, read, set address |
"""
