"""`quantrac public serve`: the public page, open-data API and SensorThings view."""

from __future__ import annotations

import os
from pathlib import Path

import click


@click.group()
def public() -> None:
    """The public air and water page, open-data JSON API and SensorThings view."""


@public.command()
@click.option("--listen", default="127.0.0.1:8021", show_default=True,
              help="HOST:PORT to serve on (put the department's web server in front).")
@click.option("--run-dir", type=click.Path(path_type=Path), default=None,
              help="Run folder with services.env and review.jsonl (default .run or "
                   "QUANTRAC_RUN_DIR).")
def serve(listen: str, run_dir: Path | None) -> None:
    """Serve `/` (page), `/api/v1/` (JSON, CSV) and `/sta/v1.1/` (SensorThings), read-only."""
    from collector import services
    from public.serve import parse_listen, server

    try:
        host, port = parse_listen(listen)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--listen") from None
    run = run_dir or Path(os.environ.get("QUANTRAC_RUN_DIR", ".run"))
    try:
        env = services.load_env(run)
    except (OSError, ValueError, RuntimeError) as e:
        raise click.ClickException(f"{run}: {e}") from None
    click.echo(f"public page on http://{host}:{port}/ (API /api/v1/, SensorThings /sta/v1.1/)")
    server(env, run, host, port).run()
