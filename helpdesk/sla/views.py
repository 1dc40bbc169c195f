"""SLA console pages: settings (calendars, policies with dry run, team leads) and the
compliance report."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import login_required
from werkzeug.wrappers import Response

from helpdesk.auth.queries import active_agents
from helpdesk.auth.rules import admin_required
from helpdesk.db import db, utcnow
from helpdesk.sla.calendar import (
    CalendarError,
    format_dates,
    format_weekly_hours,
    parse_dates,
    parse_weekly_hours,
    zone_named,
)
from helpdesk.sla.forms import CalendarForm, PolicyForm, TeamLeadForm
from helpdesk.sla.models import SlaCalendar, SlaPolicy, SlaTeamLead
from helpdesk.sla.operations import save_calendar, save_policy, set_team_lead
from helpdesk.sla.queries import (
    DIMENSIONS,
    TicketPanel,
    all_calendars,
    calendar_of,
    compliance,
    dry_run,
    policy_of,
    policy_rows,
    reply_by,
    ticket_panel,
)
from helpdesk.teams.queries import all_teams
from helpdesk.tickets.models import Ticket

bp = Blueprint("sla", __name__, url_prefix="/console/sla")


@dataclass(frozen=True, slots=True)
class ReplyBy:
    iso: str
    text: str


@bp.get("/report")
@login_required
def report() -> str:
    dimension = request.args.get("by", "team")
    if dimension not in DIMENSIONS:
        dimension = "team"
    days = request.args.get("days", 30, type=int) or 30
    now = utcnow()
    rows = compliance(dimension, now - timedelta(days=min(max(days, 1), 366)), now)
    return render_template("sla/report.html", rows=rows, dimension=dimension, days=days,
                           dimensions=DIMENSIONS)


@bp.route("/settings", methods=["GET", "POST"])
@login_required
@admin_required
def settings() -> str | Response:
    form = TeamLeadForm()
    form.team.choices = [(team.id, team.name) for team in all_teams()]
    form.agent.choices = [(0, _("Nobody")), *((a.id, a.name) for a in active_agents())]
    if form.validate_on_submit():
        set_team_lead(form.team.data, form.agent.data or None)
        db.session.commit()
        flash(_("Team lead saved."), "success")
        return redirect(url_for("sla.settings"))
    leads = {row.team_id: row.agent_id for row in db.session.query(SlaTeamLead)}
    return render_template("sla/settings.html", policies=policy_rows(),
                           calendars=all_calendars(), lead_form=form, leads=leads,
                           agents=dict(form.agent.choices), teams=all_teams())


@bp.route("/calendars/new", methods=["GET", "POST"], endpoint="new_calendar")
@bp.route("/calendars/<int:calendar_id>", methods=["GET", "POST"])
@login_required
@admin_required
def calendar(calendar_id: int | None = None) -> str | Response:
    row = db.get_or_404(SlaCalendar, calendar_id) if calendar_id else None
    form = CalendarForm(data=None if row is None or request.method == "POST" else {
        "name": row.name, "timezone": row.timezone,
        "weekly_hours": format_weekly_hours(calendar_of(row).weekly_hours),
        "holiday_country": row.holiday_country, "holiday_subdivision": row.holiday_subdivision,
        "closed_dates": "\n".join(row.closed_dates),
        "extra_working_days": "\n".join(row.extra_working_days)})
    if form.validate_on_submit():
        save_calendar(
            row, name=form.name.data or "", timezone=form.timezone.data or "UTC",
            weekly_hours=[[list(r) for r in day]
                          for day in parse_weekly_hours(form.weekly_hours.data or "")],
            holiday_country=(form.holiday_country.data or "").upper(),
            holiday_subdivision=form.holiday_subdivision.data,
            closed_dates=format_dates(parse_dates(form.closed_dates.data or "")).split(),
            extra_working_days=format_dates(
                parse_dates(form.extra_working_days.data or "")).split())
        db.session.commit()
        flash(_("Calendar saved."), "success")
        return redirect(url_for("sla.settings"))
    return render_template("sla/calendar.html", form=form, row=row)


@bp.route("/policies/new", methods=["GET", "POST"], endpoint="new_policy")
@bp.route("/policies/<int:policy_id>", methods=["GET", "POST"])
@login_required
@admin_required
def policy(policy_id: int | None = None) -> str | Response:
    """Edit a policy; "Dry run" replays the draft over recent tickets without saving."""
    row = db.get_or_404(SlaPolicy, policy_id) if policy_id else None
    form = PolicyForm(data=None if row is None or request.method == "POST" else {
        "name": row.name, "position": row.position, "active": row.active,
        "calendar": row.calendar_id or 0, "warn_share": row.warn_share,
        **{key: json.dumps(getattr(row, key), ensure_ascii=False, indent=1)
           for key in ("conditions", "targets", "pauses", "escalations")}})
    form.calendar.choices = [(0, _("None: calendar hours")),
                             *((c.id, c.name) for c in all_calendars())]
    result = None
    if form.validate_on_submit():
        draft = _draft(row, form)
        if "dry_run" in request.form:
            result = dry_run(policy_of(draft), form.days.data or 30, utcnow())
        else:
            save_policy(row, name=draft.name, position=draft.position, active=draft.active,
                        calendar_id=draft.calendar_id, conditions=draft.conditions,
                        targets=draft.targets, pauses=draft.pauses,
                        warn_share=draft.warn_share, escalations=draft.escalations)
            db.session.commit()
            flash(_("Policy saved; open tickets are being re-measured."), "success")
            return redirect(url_for("sla.settings"))
    return render_template("sla/policy.html", form=form, row=row, result=result)


def _draft(row: SlaPolicy | None, form: PolicyForm) -> SlaPolicy:
    """A transient row with the form's values (never added to the session)."""
    return SlaPolicy(
        id=row.id if row else None, name=form.name.data, position=form.position.data or 0,
        active=form.active.data, calendar_id=form.calendar.data or None,
        calendar=db.session.get(SlaCalendar, form.calendar.data) if form.calendar.data else None,
        conditions=json.loads(form.conditions.data or "{}"),
        targets=json.loads(form.targets.data or "{}"),
        pauses=json.loads(form.pauses.data or "{}"), warn_share=form.warn_share.data,
        escalations=json.loads(form.escalations.data or "[]"))


@bp.app_template_global("sla_reply_by")
def reply_by_for_customer(ticket_id: int, timezone: str | None = None) -> ReplyBy | None:
    """The first-reply deadline in the customer's timezone (their CRM profile's, else the
    one given, else the policy calendar's): for the acknowledgement and the portal."""
    found = reply_by(ticket_id)
    if found is None:
        return None
    due, calendar_zone = found
    try:
        zone = zone_named(timezone or calendar_zone)
    except CalendarError:
        zone = zone_named(calendar_zone)
    local = due.astimezone(zone)
    return ReplyBy(due.isoformat(), f"{local:%Y-%m-%d %H:%M} ({zone.key})")


@bp.app_template_global("sla_panel")
def sla_panel(ticket: Ticket) -> TicketPanel:
    return ticket_panel(ticket, utcnow())
