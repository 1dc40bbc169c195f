"""``flask crm ...`` commands."""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import AppGroup

from crm_bridge.importer import import_profiles
from crm_bridge.mapping import InvalidMapping, load_mapping
from crm_bridge.models import SOURCE_NAME_MAX
from crm_bridge.sources import SourceError

crm_cli = AppGroup("crm", help="CRM bridge: import customer profiles.")


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
