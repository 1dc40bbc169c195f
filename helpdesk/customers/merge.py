"""Merging two customers into one, and undoing it.

Everything that points at a customer -- tickets, messages, survey invitations, identities,
conflicts, and rows of outer packages the core does not know -- is found through the foreign
keys in the schema, re-pointed to the winner, and listed in the ``CustomerMerge`` audit record
so an admin can move exactly those rows back.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, Table, select, update

from helpdesk.actors import Actor
from helpdesk.customers.models import PROFILE_FIELDS, Customer, CustomerMerge
from helpdesk.db import db, utcnow

#: Columns that name a customer but are about the merge itself, so they never move.
_FIXED_COLUMNS = {("customer_merge", "winner_id"), ("customer_merge", "loser_id"),
                  ("customer", "merged_into_id")}


class InvalidMerge(ValueError):
    pass


def _customer_references() -> list[tuple[Table, Column[Any]]]:
    references = []
    for table in db.metadata.sorted_tables:
        for column in table.columns:
            if (table.name, column.name) in _FIXED_COLUMNS:
                continue
            if any(fk.column.table.name == "customer" for fk in column.foreign_keys):
                references.append((table, column))
    return references


def merge_customers(actor: Actor, winner: Customer, loser: Customer) -> CustomerMerge:
    """Move everything of ``loser`` to ``winner``; fill the winner's blank profile fields.

    The loser stays as a row (``merged_into_id`` set) so its primary email still leads to
    the winner and the merge can be undone. Flushes, never commits.
    """
    if winner.id == loser.id:
        raise InvalidMerge("a customer cannot be merged into itself")
    if loser.merged_into_id is not None or winner.merged_into_id is not None:
        raise InvalidMerge("one of the customers is already merged")
    moved: dict[str, list[Any]] = {}
    for table, column in _customer_references():
        key_column = next(iter(table.primary_key.columns))
        ids = list(db.session.scalars(select(key_column).where(column == loser.id)))
        if ids:
            db.session.execute(update(table).where(key_column.in_(ids)).values(
                {column.name: winner.id}))
            moved[f"{table.name}.{column.name}"] = ids
    winner_before: dict[str, Any] = {}
    for name in PROFILE_FIELDS:
        if getattr(winner, name) in (None, "", []) and getattr(loser, name) not in (None, "", []):
            winner_before[name] = getattr(winner, name)
            setattr(winner, name, getattr(loser, name))
    loser.merged_into_id = winner.id
    record = CustomerMerge(winner_id=winner.id, loser_id=loser.id, actor_name=actor.name,
                           moved=moved, winner_before=winner_before)
    db.session.add(record)
    db.session.flush()
    db.session.expire_all()  # relationships loaded before the bulk updates are stale
    return record


def undo_merge(actor: Actor, record: CustomerMerge) -> None:
    """Move back exactly the rows the merge moved and restore the winner's filled fields."""
    if record.undone_at is not None:
        raise InvalidMerge("this merge was already undone")
    tables = {table.name: table for table in db.metadata.sorted_tables}
    for qualified, ids in record.moved.items():
        table_name, column_name = qualified.split(".")
        table = tables[table_name]
        key_column = next(iter(table.primary_key.columns))
        db.session.execute(update(table).where(key_column.in_(ids)).values(
            {column_name: record.loser_id}))
    winner = db.session.get(Customer, record.winner_id)
    loser = db.session.get(Customer, record.loser_id)
    assert winner is not None and loser is not None
    for name, value in record.winner_before.items():
        setattr(winner, name, value)
    loser.merged_into_id = None
    record.undone_at = utcnow()
    record.undone_by = actor.name
    db.session.flush()
    db.session.expire_all()
