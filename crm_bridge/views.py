"""Console pages of the CRM bridge (admins only)."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import login_required
from werkzeug.wrappers import Response

from crm_bridge.models import CrmReviewItem
from crm_bridge.operations import resolve_review_item
from crm_bridge.queries import unresolved_review_items
from helpdesk.auth.rules import admin_required
from helpdesk.db import db

bp = Blueprint("crm", __name__, url_prefix="/console/crm", template_folder="templates")
PAGE_SIZE = 100


@bp.get("/review")
@login_required
@admin_required
def review() -> str:
    before_id = request.args.get("before", type=int)
    items = unresolved_review_items(before_id=before_id, limit=PAGE_SIZE)
    next_before = items[-1].id if len(items) == PAGE_SIZE else None
    return render_template("crm_bridge/review.html", items=items, next_before=next_before)


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
