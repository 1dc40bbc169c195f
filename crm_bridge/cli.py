"""``flask crm ...`` commands."""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import AppGroup
from sqlalchemy import select

from crm_bridge.contract import CrmError
from crm_bridge.importer import import_profiles
from crm_bridge.mapping import InvalidMapping, load_mapping
from crm_bridge.models import SOURCE_NAME_MAX, CrmSource
from crm_bridge.sources import SourceError
from crm_bridge.sync import Totals, run_sync
from helpdesk.db import db

crm_cli = AppGroup("crm", help="CRM bridge: sync sources, import customer profiles.")


@crm_cli.command("sync")
@click.argument("source_name")
@click.option("--full", is_flag=True, help="Read everything, not only changes since the last "
              "sync, and sweep records the source no longer has.")
@click.option("--dry-run", is_flag=True, help="Report what would change; write nothing.")
def sync_command(source_name: str, full: bool, dry_run: bool) -> None:
    """Sync the CRM source SOURCE_NAME now, showing progress."""
    source = db.session.scalar(select(CrmSource).where(CrmSource.name == source_name))
    if source is None:
        raise click.ClickException(f"no CRM source named {source_name!r}")
    final = Totals()
    try:
        with click.progressbar(run_sync(source.id, full=full, dry_run=dry_run),
                               label=f"Syncing {source_name}",
                               item_show_func=_records_so_far) as pages:
            for totals in pages:
                final = totals
    except (CrmError, InvalidMapping) as error:
        raise click.ClickException(f"{type(error).__name__}: {error}") from error
    verb = "would be " if dry_run else ""
    click.echo(f"{verb}created {final.created}, {verb}updated {final.updated}, "
               f"unchanged {final.unchanged}, {verb}deleted {final.deleted}, "
               f"conflicts {final.conflicts}, review {final.review}")
    for reason in final.review_reasons[:20]:
        click.echo(f"  review: {reason}")
    if final.status not in ("ok", "running"):
        raise click.ClickException(f"{final.status}: {final.error}")


def _records_so_far(totals: Totals | None) -> str | None:
    return f"{totals.records} records" if totals else None


@crm_cli.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--mapping", "mapping_path", required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="JSON field mapping (see crm_bridge/examples/).")
@click.option("--source", "source_name", help="Name recorded on customers and review items "
              "(default: the file name).")
@click.option("--encoding", help="Text encoding of FILE, when detection guesses wrong.")
def import_command(file: Path, mapping_path: Path, source_name: str | None,
                   encoding: str | None) -> None:
    """Upsert customer profiles from a CSV or JSON export FILE."""
    if source_name is not None and len(source_name) > SOURCE_NAME_MAX:
        raise click.BadParameter(f"at most {SOURCE_NAME_MAX} characters", param_hint="--source")
    try:
        mapping = load_mapping(mapping_path)
        summary = import_profiles(file, mapping, source_name or file.name[:SOURCE_NAME_MAX],
                                  encoding=encoding)
    except (InvalidMapping, SourceError) as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"created {summary.created}, updated {summary.updated}, "
               f"unchanged {summary.unchanged}, invalid {summary.invalid}")
    for row in summary.invalid_rows:
        click.echo(f"  row {row.row_number}: {row.reason}")
