"""Loopback ports: find a free one, keep a previous one when it is still free, probe listeners."""

from __future__ import annotations

import socket

HOST = "127.0.0.1"


def free_port(avoid: set[int] = frozenset()) -> int:
    """A port the kernel says is free now (it may be taken again before our daemon binds it)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((HOST, 0))
            port = s.getsockname()[1]
        if port not in avoid:
            return port
    raise OSError(f"no free loopback port outside {sorted(avoid)}")


def is_free(port: int) -> bool:
    """Whether a daemon could bind 127.0.0.1:port now (with SO_REUSEADDR, as daemons do)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((HOST, port))
        except OSError:
            return False
    return True


def pick(previous: int | None, taken: set[int]) -> int:
    """The previous port if it is still free (clients keep their settings), else a new one."""
    if isinstance(previous, int) and previous not in taken and is_free(previous):
        port = previous
    else:
        port = free_port(taken)
    taken.add(port)
    return port


def accepts(port: int, timeout: float = 0.5) -> bool:
    """Whether something accepts TCP connections on 127.0.0.1:port."""
    try:
        with socket.create_connection((HOST, port), timeout=timeout):
            return True
    except OSError:
        return False
