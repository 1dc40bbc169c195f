"""Reports for agents: customer satisfaction."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask_login import login_required

from helpdesk.surveys.queries import csat_summary, recent_answers

bp = Blueprint("reports", __name__, url_prefix="/console/reports")


@bp.get("/csat")
@login_required
def csat() -> str:
    return render_template("reports/csat.html", summary=csat_summary(), answers=recent_answers())
