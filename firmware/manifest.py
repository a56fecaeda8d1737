# What becomes the station's firmware, in MicroPython's manifest vocabulary: `quantrac
# firmware build` compiles these to .mpy (fwtools/fwbuild.py), and the same file can freeze
# them into a custom MicroPython image (bytecode then stays in flash, off the heap).
# main.py stays source: an ESP32 runs main.py at boot, and it is three lines.

module("main.py", compile=False)  # noqa: F821 (manifest functions are given by the builder)
module("slots.py")  # noqa: F821 (the loader: picks the update slot; never in a bundle)
module("log.py")  # noqa: F821
module("config.py")  # noqa: F821 (loaded at boot and for remote config only)
module("defaults.py")  # noqa: F821
package("hal")  # noqa: F821
package("bus")  # noqa: F821
package("devices")  # noqa: F821
package("values")  # noqa: F821
package("station")  # noqa: F821
require("umqtt.simple")  # noqa: F821 (fetched by `quantrac firmware deps`, firmware/deps.json)
