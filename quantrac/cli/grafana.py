"""`quantrac grafana …`: build the operations-room dashboards from code, check every panel's
query against the run folder's InfluxDB, push them into a running Grafana."""

from __future__ import annotations

from pathlib import Path

import click

from quantrac_common import paths

LANG_CHOICES = ("vi", "en", "all")


def _langs(lang: str) -> tuple[str, ...]:
    from grafana.labels import LANGS

    return LANGS if lang == "all" else (lang,)


@click.group()
def grafana() -> None:
    """Build and push the operations-room dashboards."""


@grafana.command()
@click.option("--lang", type=click.Choice(LANG_CHOICES), default="all", show_default=True,
              help="vi: grafana/dashboards/; en: grafana/dashboards/en/; all: both.")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Write under this folder instead of grafana/.")
@click.option("--check", "check_only", is_flag=True,
              help="Write nothing; exit 1 when a generated file differs from the one on disk.")
def build(lang: str, out: str | None, check_only: bool) -> None:
    """Generate the dashboards (grafana-foundation-sdk) and the provisioning files."""
    from grafana import build as b
    from grafana.validate import DashboardInvalid, validate

    langs = _langs(lang)
    try:
        for one in langs:
            for doc in b.dashboards(one):
                validate(doc)
    except DashboardInvalid as e:
        raise click.ClickException(f"generated dashboard is not valid: {e}") from e
    root = Path(out) if out else b.HERE
    if check_only:
        stale = b.differences(root, langs)
        for rel in stale:
            click.echo(f"differs: {root / rel}")
        if stale:
            raise click.exceptions.Exit(1)
        click.echo(f"up to date: {len(b.outputs(langs))} files under {root}")
        return
    changed = b.write(root, langs)
    for rel in changed:
        click.echo(f"wrote {root / rel}")
    click.echo(f"{len(changed)} changed, {len(b.outputs(langs)) - len(changed)} unchanged")


@grafana.command()
@click.option("--run-dir", type=click.Path(file_okay=False), default=None,
              help="Run folder whose services.env names the InfluxDB (default .run/).")
@click.option("--lang", type=click.Choice(LANG_CHOICES), default="vi", show_default=True)
@click.option("--time-from", default=None, help="Instead of each dashboard's own range: now-2d.")
def check(run_dir: str | None, lang: str, time_from: str | None) -> None:
    """Run every panel query of every dashboard against InfluxDB (read-only user), with the
    variables substituted as Grafana does; exit 1 when one finds nothing or fails."""
    from collector.services import ServicesError, load_env
    from grafana import build as b
    from grafana import check as c
    from grafana.provisioning import min_interval_s

    try:
        env = dict(load_env(paths.run_dir(run_dir)))
    except ServicesError as e:
        raise click.ClickException(str(e)) from e
    bad = 0
    for one in _langs(lang):
        for doc in b.dashboards(one):
            try:
                results = c.check(doc, env, min_interval_s(), time_from)
            except c.CheckError as e:
                click.echo(f"FAIL {doc['uid']}: {e}")
                bad += 1
                continue
            for r in results:
                mark = "ok  " if r.ok else "FAIL"
                bad += not r.ok
                detail = r.error or f"{r.rows} rows"
                click.echo(f"{mark} {r.dashboard} | {r.where} [{r.ref}]: {detail}")
    if bad:
        raise click.ClickException(f"{bad} queries found nothing or failed")


@grafana.command()
@click.option("--url", envvar="QUANTRAC_GRAFANA_URL", required=True,
              help="Grafana's URL, e.g. http://127.0.0.1:3000 (or QUANTRAC_GRAFANA_URL).")
@click.option("--token", envvar="QUANTRAC_GRAFANA_TOKEN", default="",
              help="Service-account token, Editor role (better: QUANTRAC_GRAFANA_TOKEN).")
@click.option("--folder", default=None, help="Folder title (default: Quan trắc).")
@click.option("--lang", type=click.Choice(LANG_CHOICES), default="all", show_default=True)
@click.option("--dry-run", is_flag=True, help="Send nothing; list what would be pushed.")
def push(url: str, token: str, folder: str | None, lang: str, dry_run: bool) -> None:
    """Create or update the dashboards in Grafana (same uid: updated in place; unchanged
    dashboards are not written)."""
    from grafana import build as b
    from grafana.provisioning import FOLDER
    from grafana.push import PushError
    from grafana.push import push as do_push

    docs = [doc for one in _langs(lang) for doc in b.dashboards(one)]
    try:
        outcomes, folder_state = do_push(docs, url, token, folder or FOLDER, dry_run)
    except PushError as e:
        raise click.ClickException(str(e)) from e
    click.echo(f"folder {folder or FOLDER!r}: {folder_state}")
    for o in outcomes:
        click.echo(f"{o.action:10} {o.uid}  {o.title}")
    counts = {a: sum(o.action == a for o in outcomes) for a in dict.fromkeys(
        o.action for o in outcomes)}
    click.echo(", ".join(f"{n} {a}" for a, n in counts.items()) + (" (dry run: nothing sent)"
                                                                   if dry_run else ""))
