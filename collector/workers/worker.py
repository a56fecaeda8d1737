"""One worker of several, started by the supervisor:

    python -m collector.workers.worker --index I --count N --run-dir DIR [--config FILE]

It runs the whole collector for its slice of the stations (slicing.py): its own session,
subscriptions, spool, state, dead letters and outboxes under `<data_dir>/worker-<I>/`, its log
in `<run_dir>/collector/worker-<I>.log`. Exit status 2: a setting is wrong (restarting will not
help); 1: it failed.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from collector import config
from collector.workers.run import run_collector, setup_logging
from collector.workers.slicing import slice_of, worker_settings

CONFIG_EXIT = 2


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m collector.workers.worker")
    ap.add_argument("--index", type=int, required=True)
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--run-dir", required=True)
    ap.add_argument("--config", default=None)
    ap.add_argument("--log-level", default="INFO")
    a = ap.parse_args(argv)
    folder = Path(a.run_dir)
    handlers = setup_logging(a.log_level.upper(), folder / "collector" / f"worker-{a.index}.log")
    log = logging.getLogger("quantrac.collector")
    try:
        base = config.load(folder, a.config)
        s = slice_of(base.collector.registry, a.index, a.count)
        settings = worker_settings(base, s)
    except (config.ConfigError, ValueError) as e:
        log.error("worker %d: %s", a.index, e)
        return CONFIG_EXIT
    try:
        run_collector(settings, s)
    except SystemExit as e:
        return int(e.code or 0)
    except Exception:
        log.exception("worker %d failed", a.index)
        return 1
    finally:
        for handler in handlers:
            logging.getLogger().removeHandler(handler)
            handler.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
