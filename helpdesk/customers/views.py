"""Customer pages: the profile with provenance, identities, tickets, conflicts and merges."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from helpdesk.auth.rules import can_merge_customers, customer_for
from helpdesk.customers.forms import (
    FIELD_LABELS,
    MergeForm,
    ProfileForm,
    ResolveConflictForm,
    UndoMergeForm,
)
from helpdesk.customers.merge import InvalidMerge, merge_customers, undo_merge
from helpdesk.customers.models import PROFILE_FIELDS, Customer, CustomerMerge, ProfileConflict
from helpdesk.customers.operations import (
    InvalidProfileChange,
    customer_by_email,
    edit_profile,
    resolve_conflict,
)
from helpdesk.customers.queries import (
    customer_360,
    identities_of,
    merges_of,
    open_conflicts,
)
from helpdesk.db import db

bp = Blueprint("customers", __name__, url_prefix="/console/customers")


def _render(customer: Customer, profile_form: ProfileForm | None = None,
            merge_form: MergeForm | None = None) -> str:
    editable = [name for name in PROFILE_FIELDS if customer.field_owner(name) == "helpdesk"]
    if profile_form is None:
        profile_form = ProfileForm(data={
            name: ", ".join(customer.tags or []) if name == "tags" else getattr(customer, name)
            for name in editable})
    return render_template(
        "customers/customer.html", customer=customer,
        view=customer_360(current_user, customer, limit=20), identities=identities_of(customer),
        conflicts=open_conflicts(customer), merges=merges_of(customer), editable=editable,
        profile_form=profile_form, merge_form=merge_form or MergeForm(),
        resolve_form=ResolveConflictForm(), undo_form=UndoMergeForm(),
        can_merge=can_merge_customers(current_user), FIELD_LABELS=FIELD_LABELS)


@bp.get("/<int:customer_id>")
@login_required
def show(customer_id: int) -> str:
    return _render(customer_for(current_user, customer_id))


@bp.post("/<int:customer_id>/profile")
@login_required
def edit(customer_id: int) -> str | Response:
    customer = customer_for(current_user, customer_id)
    form = ProfileForm()
    if form.validate_on_submit():
        changes: dict[str, Any] = {}
        for name in PROFILE_FIELDS:
            if customer.field_owner(name) != "helpdesk":
                continue  # CRM-owned: never taken from a form, whatever was posted
            value = (form[name].data or "").strip()
            changes[name] = ([tag.strip() for tag in value.split(",") if tag.strip()]
                             if name == "tags" else value or None)
        if changes.get("name") is None and "name" in changes:
            changes["name"] = ""
        try:
            edit_profile(current_user.as_actor(), customer, changes)
        except InvalidProfileChange as error:  # pragma: no cover - filtered above
            flash(str(error), "error")
        else:
            db.session.commit()
            flash(_("Profile saved."), "success")
            return redirect(url_for("customers.show", customer_id=customer.id))
    db.session.rollback()
    return _render(customer, profile_form=form)


@bp.get("/conflicts")
@login_required
def conflicts() -> str:
    return render_template("customers/conflicts.html", conflicts=open_conflicts(),
                           resolve_form=ResolveConflictForm(), FIELD_LABELS=FIELD_LABELS)


@bp.post("/conflicts/<int:conflict_id>/resolve")
@login_required
def resolve(conflict_id: int) -> Response:
    conflict = db.session.get(ProfileConflict, conflict_id)
    if conflict is None:
        abort(404)
    customer = customer_for(current_user, conflict.customer_id)
    form = ResolveConflictForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        resolve_conflict(current_user.as_actor(), conflict, form.take.data or "")
    except InvalidProfileChange as error:
        db.session.rollback()
        flash(str(error), "error")
    else:
        db.session.commit()
        flash(_("Conflict resolved."), "success")
    return redirect(url_for("customers.show", customer_id=customer.id))


@bp.post("/<int:customer_id>/merge")
@login_required
def merge(customer_id: int) -> str | Response:
    if not can_merge_customers(current_user):
        abort(403)
    loser = customer_for(current_user, customer_id)
    form = MergeForm()
    if form.validate_on_submit():
        winner = customer_by_email(form.other_email.data or "")
        if winner is None:
            form.other_email.errors = [_("No customer has this email.")]
        else:
            try:
                merge_customers(current_user.as_actor(), winner, loser)
            except InvalidMerge as error:
                form.other_email.errors = [str(error)]
            else:
                db.session.commit()
                flash(_("Customers merged. The merge can be undone from this page."), "success")
                return redirect(url_for("customers.show", customer_id=winner.id))
    db.session.rollback()
    return _render(loser, merge_form=form)


@bp.post("/merges/<int:merge_id>/undo")
@login_required
def undo(merge_id: int) -> Response:
    if not can_merge_customers(current_user):
        abort(403)
    record = db.session.get(CustomerMerge, merge_id)
    if record is None or not UndoMergeForm().validate_on_submit():
        abort(404)
    try:
        undo_merge(current_user.as_actor(), record)
    except InvalidMerge as error:
        db.session.rollback()
        flash(str(error), "error")
    else:
        db.session.commit()
        flash(_("Merge undone."), "success")
    return redirect(url_for("customers.show", customer_id=record.loser_id))
