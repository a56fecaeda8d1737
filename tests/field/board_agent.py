# The interpreter of the emulated board (tests/field/emulated_board.py). MicroPython code: it
# runs inside the unix port with the board's "flash" folder as its working directory.
#
# It reads jobs from stdin ("<mode> <length>\n" + source; mode exec | single | file), runs
# each in one persistent __main__ namespace (as a board's REPL does, until a soft reset
# replaces this process), writes the program's output to stdout as it comes, then DONE +
# the length of the error text + the text (empty when the job raised nothing).

import io
import sys

sys.path[:] = ["", "lib"]  # a board imports from its flash root, then /lib
DONE = b"\x1e\x1dQT-DONE "
ns = {"__name__": "__main__"}
stdin = sys.stdin.buffer
stdout = sys.stdout.buffer


def read_job():
    line = stdin.readline()
    if not line:
        return None, None
    mode, n = line.split()
    n = int(n)
    src = b""
    while len(src) < n:
        chunk = stdin.read(n - len(src))
        if not chunk:
            return None, None
        src += chunk
    return mode.decode(), src.decode()


def run(mode, src):
    try:
        if mode == "file":
            with open(src) as f:
                code = compile(f.read(), src, "exec")
        else:
            code = compile(src, "<stdin>", mode)
        exec(code, ns)
    except SystemExit:
        pass
    except BaseException as e:  # KeyboardInterrupt included: the REPL prints it and goes on
        buf = io.StringIO()
        sys.print_exception(e, buf)
        return buf.getvalue()
    return ""


def main():
    while True:
        try:
            mode, src = read_job()
        except KeyboardInterrupt:  # a Ctrl-C that came after the job it was meant for
            continue
        if mode is None:
            return
        err = b""
        try:  # noqa: SIM105 (MicroPython has no contextlib.suppress)
            err = run(mode, src).encode()
        except KeyboardInterrupt:  # arrived as the job ended: it had nothing left to stop
            pass
        done = DONE + str(len(err)).encode() + b"\n" + err
        while done:
            try:
                n = stdout.write(done)
            except KeyboardInterrupt:
                continue
            done = done[n:] if n else b""


main()
