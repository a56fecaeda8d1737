"""Daemons we start: launch in their own session, know them again by pid + command line, stop them.

A pid alone is not proof: after a reboot or a crash the number may belong to anything. A process
counts as ours only while /proc/<pid>/cmdline equals the argv we started it with and its working
directory is the folder we started it in (inside our run folder), so `down` can never signal a
stranger.

Started as root, the daemons run as the unprivileged system account `DAEMON_ACCOUNT` (made by
scripts/setup), which owns their folders: with the TLS listener on 0.0.0.0 a root broker would
face the network. They are started inside their folder with relative paths, so the account
needs no right on the folders above the run folder.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import pwd
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from collector.services.state import ServicesError

DAEMON_ACCOUNT = "quantrac"
READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0
POLL_S = 0.05

# Popen objects of the children this interpreter started: kept so they are reaped (no zombies,
# no "still running" warnings) and so a child that died is seen as gone at once.
_children: dict[int, subprocess.Popen] = {}


class StartFailed(ServicesError):
    """A daemon exited or never became ready; the message ends with its log's tail."""

    def __init__(self, message: str, log_text: str) -> None:
        super().__init__(message)
        self.log_text = log_text


def daemon_user() -> str:
    """Who the daemons run as: the services account when we are root, else ourselves."""
    if os.geteuid() != 0:
        return getpass.getuser()
    try:
        pwd.getpwnam(DAEMON_ACCOUNT)
    except KeyError:
        raise ServicesError(
            f"started as root, the services run as the system account {DAEMON_ACCOUNT!r}, "
            "which does not exist: run scripts/setup (or `useradd --system --no-create-home "
            f"--shell /usr/sbin/nologin {DAEMON_ACCOUNT}`)") from None
    return DAEMON_ACCOUNT


def hand_over(folder: Path, only: tuple[Path, ...] = ()) -> None:
    """Give a daemon's folder (and all in it) to the account it runs as, when that is not us.
    `only`: once the folder is the account's, just these paths (what we wrote since), so a
    database of years is not walked at every start."""
    user = daemon_user()
    if user == getpass.getuser():
        return
    account = pwd.getpwnam(user)
    folder.chmod(0o700)  # its config, accounts and data are the daemon's alone
    if only and folder.stat().st_uid == account.pw_uid:
        for path in only:
            os.lchown(path, account.pw_uid, account.pw_gid)
        return
    for root, dirs, files in os.walk(folder):
        for name in (root, *(os.path.join(root, n) for n in dirs + files)):
            st = os.lstat(name)
            if (st.st_uid, st.st_gid) != (account.pw_uid, account.pw_gid):
                os.lchown(name, account.pw_uid, account.pw_gid)


def _cwd(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        return None


def cmdline(pid: int) -> list[str] | None:
    """The argv of a live process; None when there is none (or it is a zombie, whose is empty)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return raw.rstrip(b"\0").decode(errors="replace").split("\0") if raw else None


def running(pid: object, argv: object, cwd: object = None) -> bool:
    """Whether `pid` is alive and still the process we started with `argv` (in `cwd`)."""
    if not isinstance(pid, int) or pid <= 0 or not isinstance(argv, list):
        return False
    child = _children.get(pid)
    if child is not None:
        # Our own child: its exit status is the truth. Its /proc cmdline is briefly empty after
        # Popen returns (the kernel closes the exec error pipe before it sets up the new
        # program's arguments), which on a loaded machine read as "exited while starting".
        if child.poll() is None:
            return True
        del _children[pid]
        return False
    return cmdline(pid) == argv and (cwd is None or _cwd(pid) == str(cwd))


def start(argv: list[str], log: Path, cwd: Path, env: dict[str, str] | None = None,
          unprivileged: bool = False) -> int:
    """Start a daemon in its own session (a Ctrl-C in the starting terminal does not reach it);
    `unprivileged`: as `daemon_user()` (Popen changes user after it entered `cwd`)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    as_user: dict = {}
    if unprivileged and (user := daemon_user()) != getpass.getuser():
        account = pwd.getpwnam(user)
        as_user = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}
        env = {**(env if env is not None else os.environ), "HOME": str(cwd), "USER": user,
               "LOGNAME": user}
    with open(log, "ab") as out:
        try:
            child = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                                     stderr=subprocess.STDOUT, cwd=cwd, env=env,
                                     start_new_session=True, close_fds=True, **as_user)
        except OSError as e:
            raise ServicesError(f"cannot run {argv[0]}: {e}") from None
    _children[child.pid] = child
    return child.pid


def log_size(log: Path) -> int:
    try:
        return log.stat().st_size
    except OSError:
        return 0


def log_tail(log: Path, since: int = 0, lines: int = 20) -> str:
    """The last lines the daemon wrote to `log` after byte offset `since`."""
    try:
        with open(log, "rb") as f:
            f.seek(since)
            text = f.read().decode(errors="replace")
    except OSError:
        return f"(no log at {log})"
    tail = text.splitlines()[-lines:]
    return "\n".join(tail) if tail else f"(nothing in {log})"


def wait_ready(name: str, pid: int, argv: list[str], log: Path, ready: Callable[[], bool],
               since: int = 0, timeout: float = READY_TIMEOUT_S) -> None:
    """Wait until `ready()`; if the daemon exits or the time runs out, stop it and raise."""
    deadline = time.monotonic() + timeout
    while True:
        if ready():
            return
        if not running(pid, argv):
            stop(pid, argv)  # reaps it, and stops it should the check above ever be wrong
            why = "exited while starting"
            break
        if time.monotonic() > deadline:
            stop(pid, argv)
            why = f"not ready after {timeout:.0f} s (stopped it)"
            break
        time.sleep(POLL_S)
    text = log_tail(log, since)
    raise StartFailed(f"{name} {why}; command: {' '.join(argv)}\n"
                      f"last lines of {log}:\n{text}", text)


def _signal(pid: int, sig: int) -> None:
    try:
        # A session leader's group holds any helpers it forked; signal them together.
        if os.getpgid(pid) == pid:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _reap(pid: int) -> None:
    # Only our own Popen children: waiting on any other pid could steal a stranger's status.
    child = _children.pop(pid, None)
    if child is not None:
        # Its cmdline empties while it is still exiting; wait, or it stays a zombie.
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(STOP_TIMEOUT_S)


def stop(pid: object, argv: object, timeout: float = STOP_TIMEOUT_S, cwd: object = None) -> bool:
    """SIGTERM (then SIGKILL after `timeout`) a process we started; False if it was not running."""
    if not isinstance(pid, int):
        return False
    if not running(pid, argv, cwd):
        _reap(pid)
        return False
    _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    killed = False
    while running(pid, argv, cwd):
        if time.monotonic() > deadline:
            if killed:
                raise ServicesError(f"pid {pid} ({argv[0]}) survived SIGKILL for {timeout:.0f} s")
            _signal(pid, signal.SIGKILL)
            killed, deadline = True, time.monotonic() + timeout
        time.sleep(POLL_S)
    _reap(pid)
    return True
