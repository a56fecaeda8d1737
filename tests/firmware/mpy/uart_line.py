# Opens one UART through the unix-port HAL, as station/boot.py does, and closes it again:
#   uart_line.py PATH BAUD BITS PARITY STOP
# Prints "opened <char_us> <hal.unix_line still loaded?>" or "refused <message>"; the CPython
# side reads the tty's settings back with its own termios.

import sys

from hal.unix import Uart

path, baud, bits, parity, stop = sys.argv[1:6]
cfg = {"path": path, "baud": int(baud), "bits": int(bits), "parity": parity, "stop": int(stop)}
try:
    u = Uart("rs485", cfg)
except ValueError as e:
    print("refused", e)
else:
    print("opened", u.char_us, "hal.unix_line" in sys.modules)
    u.close()
