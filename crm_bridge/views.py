"""Console pages of the CRM bridge (admins only): sources, mapping editor, review list."""

from __future__ import annotations

import json

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import login_required
from werkzeug.wrappers import Response

from crm_bridge.adapters import ADAPTERS
from crm_bridge.contract import CrmError
from crm_bridge.forms import MappingForm, SourceForm, SyncNowForm, parsed_json
from crm_bridge.mapping import InvalidMapping
from crm_bridge.models import CrmReviewItem, CrmSource
from crm_bridge.operations import resolve_review_item, save_source
from crm_bridge.queries import recent_runs, source_statuses, unresolved_review_items
from crm_bridge.review import replay, replayable_sources, unresolved_items_of
from crm_bridge.sync import QUEUE, preview
from helpdesk.auth.rules import admin_required
from helpdesk.db import db, utcnow
from helpdesk.jobs import enqueue

bp = Blueprint("crm", __name__, url_prefix="/console/crm", template_folder="templates")
PAGE_SIZE = 100


def _source(source_id: int) -> CrmSource:
    source = db.session.get(CrmSource, source_id)
    if source is None:
        abort(404)
    return source


@bp.get("/sources")
@login_required
@admin_required
def sources() -> str:
    return render_template("crm_bridge/sources.html", statuses=source_statuses(), now=utcnow(),
                           sync_form=SyncNowForm())


def _source_form(source: CrmSource | None) -> SourceForm:
    form = SourceForm(obj=source) if request.method == "GET" else SourceForm()
    form.kind.choices = sorted(ADAPTERS)
    if request.method == "GET":
        form.secrets.data = ""  # never sent to the browser
        form.settings.data = json.dumps(source.settings if source else {}, indent=2,
                                        ensure_ascii=False)
    return form


@bp.route("/sources/new", methods=["GET", "POST"])
@bp.route("/sources/<int:source_id>", methods=["GET", "POST"])
@login_required
@admin_required
def edit_source(source_id: int | None = None) -> str | Response:
    source = _source(source_id) if source_id else None
    form = _source_form(source)
    if form.validate_on_submit():
        source = save_source(source, name=form.name.data or "", kind=form.kind.data or "",
                             settings=parsed_json(form.settings.data),
                             secrets=parsed_json(form.secrets.data) or None,
                             record_url_template=form.record_url_template.data or None,
                             schedule_minutes=form.schedule_minutes.data or 15,
                             sweep_hours=form.sweep_hours.data or 24,
                             enabled=bool(form.enabled.data))
        db.session.commit()
        flash(_("Source saved."), "success")
        return redirect(url_for("crm.edit_source", source_id=source.id))
    return render_template("crm_bridge/source.html", source=source, form=form,
                           runs=recent_runs(source) if source else [],
                           sync_form=SyncNowForm())


@bp.route("/sources/<int:source_id>/mapping", methods=["GET", "POST"])
@login_required
@admin_required
def mapping(source_id: int) -> str | Response:
    """Edit the mapping; "Preview" maps the source's first records without saving."""
    source = _source(source_id)
    form = MappingForm()
    if request.method == "GET":
        form.mapping.data = json.dumps(source.mapping or {"fields": {"email": "email"}},
                                       indent=2, ensure_ascii=False)
    rows, preview_error = None, None
    if form.validate_on_submit():
        if "save" in request.form:
            source.mapping = parsed_json(form.mapping.data)
            db.session.commit()
            flash(_("Mapping saved."), "success")
            return redirect(url_for("crm.mapping", source_id=source.id))
        try:
            rows = preview(source, parsed_json(form.mapping.data))
        except (CrmError, InvalidMapping) as error:
            preview_error = f"{type(error).__name__}: {error}"
    return render_template("crm_bridge/mapping.html", source=source, form=form, rows=rows,
                           preview_error=preview_error)


@bp.post("/sources/<int:source_id>/sync")
@login_required
@admin_required
def sync_now(source_id: int) -> Response:
    source = _source(source_id)
    form = SyncNowForm()
    if not form.validate_on_submit():
        abort(400)
    source.status = "ok"  # an admin asking again clears the failing flag for this attempt
    enqueue("crm_bridge.sync.sync_source", source.id, bool(form.full.data), queue=QUEUE)
    db.session.commit()
    flash(_("Sync queued."), "success")
    return redirect(url_for("crm.edit_source", source_id=source.id))


@bp.get("/review")
@login_required
@admin_required
def review() -> str:
    before_id = request.args.get("before", type=int)
    items = unresolved_review_items(before_id=before_id, limit=PAGE_SIZE)
    next_before = items[-1].id if len(items) == PAGE_SIZE else None
    return render_template("crm_bridge/review.html", items=items, next_before=next_before,
                           sources=replayable_sources())


@bp.post("/review/<int:item_id>/resolve")
@login_required
@admin_required
def resolve(item_id: int) -> Response:
    item = db.session.get(CrmReviewItem, item_id)
    if item is None:
        abort(404)
    resolve_review_item(item)
    db.session.commit()
    flash(_("Marked as resolved."), "success")
    return redirect(url_for("crm.review"))


@bp.post("/review/<int:item_id>/replay")
@login_required
@admin_required
def replay_item(item_id: int) -> Response:
    item = db.session.get(CrmReviewItem, item_id)
    source = replayable_sources().get(item.source) if item is not None else None
    if item is None or source is None:
        abort(404)
    return _replay(source, [item])


@bp.post("/review/sources/<int:source_id>/replay")
@login_required
@admin_required
def replay_source(source_id: int) -> Response:
    source = _source(source_id)
    return _replay(source, unresolved_items_of(source))


def _replay(source: CrmSource, items: list[CrmReviewItem]) -> Response:
    try:
        outcomes = replay(source, items)
    except (CrmError, InvalidMapping) as error:
        db.session.rollback()
        flash(_("Replay failed: %(error)s", error=f"{type(error).__name__}: {error}"), "error")
    else:
        db.session.commit()
        flash(_("Replayed with the current mapping: %(replayed)d applied, %(failing)d still "
                "failing, %(superseded)d replaced by the CRM's current version, %(gone)d no "
                "longer in the CRM.", replayed=outcomes["replayed"],
                failing=outcomes["failing"], superseded=outcomes["superseded"],
                gone=outcomes["gone"]), "success")
    return redirect(url_for("crm.review"))
