"""Reports for agents (satisfaction, operations) and admins (jobs that failed for good)."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import login_required
from sqlalchemy import select
from werkzeug.wrappers import Response

from helpdesk.auth.rules import admin_required
from helpdesk.db import db, utcnow
from helpdesk.jobs import JobFailure
from helpdesk.reports.queries import AGE_BUCKETS, METRICS, backlog_ageing, time_percentiles
from helpdesk.reports.sql import PERIODS
from helpdesk.surveys.queries import csat_summary, recent_answers

bp = Blueprint("reports", __name__, url_prefix="/console/reports")


@bp.get("/csat")
@login_required
def csat() -> str:
    return render_template("reports/csat.html", summary=csat_summary(), answers=recent_answers())


@bp.get("/operations")
@login_required
def operations() -> str:
    period = request.args.get("period", "month")
    if period not in PERIODS:
        period = "month"
    days = request.args.get("days", 90, type=int) or 90
    days = max(1, min(days, 730))
    now = utcnow()
    since = now - timedelta(days=days)
    return render_template(
        "reports/operations.html", period=period, periods=PERIODS, days=days,
        percentiles={metric: time_percentiles(metric, period, since) for metric in METRICS},
        backlog=backlog_ageing(now), buckets=[label for label, _ in AGE_BUCKETS])


@bp.get("/failed-jobs")
@login_required
@admin_required
def failed_jobs() -> str:
    failures = db.session.scalars(select(JobFailure).order_by(JobFailure.id.desc()).limit(200))
    return render_template("reports/failed_jobs.html", failures=list(failures))


@bp.post("/failed-jobs/<int:failure_id>/dismiss")
@login_required
@admin_required
def dismiss_failed_job(failure_id: int) -> Response:
    failure = db.session.get(JobFailure, failure_id)
    if failure is not None:
        db.session.delete(failure)
        db.session.commit()
        flash(_("Dismissed."), "success")
    return redirect(url_for("reports.failed_jobs"))
