"""Console pages: routing rules, time-based automations, assignment settings, my status."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select
from werkzeug.wrappers import Response

from helpdesk.auth.models import Agent
from helpdesk.auth.operations import set_agent_availability, set_agent_status
from helpdesk.auth.queries import all_agents
from helpdesk.auth.rules import admin_required, ticket_for
from helpdesk.automation.assignment import team_assignment, teams_with_settings
from helpdesk.automation.forms import (
    ACTION_LABELS,
    STRATEGY_LABELS,
    AutomationForm,
    AvailabilityForm,
    RuleForm,
    StatusForm,
    TeamAssignmentForm,
    TestRuleForm,
)
from helpdesk.automation.models import RoutingRule, TimeAutomation
from helpdesk.automation.operations import move_rule, rule_from_row, save_rule, ticket_facts
from helpdesk.automation.timed import save_automation
from helpdesk.db import db
from helpdesk.teams.models import Team
from helpdesk.tickets.routing import check_rule

bp = Blueprint("automation", __name__, url_prefix="/console")


def _rule(rule_id: int) -> RoutingRule:
    rule = db.session.get(RoutingRule, rule_id)
    if rule is None:
        abort(404)
    return rule


@bp.route("/admin/routing", methods=["GET", "POST"])
@login_required
@admin_required
def rules() -> str | Response:
    form = RuleForm()
    if form.validate_on_submit():
        _save_rule(None, form)
        flash(_("Rule created."), "success")
        return redirect(url_for("automation.rules"))
    rows = db.session.scalars(select(RoutingRule).order_by(RoutingRule.position,
                                                           RoutingRule.id))
    return render_template("automation/rules.html", rules=list(rows), form=form)


def _save_rule(rule: RoutingRule | None, form: RuleForm) -> RoutingRule:
    saved = save_rule(rule, name=form.name.data or "", enabled=form.enabled.data,
                      on_created=form.on_created.data, on_updated=form.on_updated.data,
                      conditions=form.lines(form.conditions), actions=form.lines(form.actions))
    db.session.commit()
    return saved


@bp.route("/admin/routing/<int:rule_id>", methods=["GET", "POST"])
@login_required
@admin_required
def edit_rule(rule_id: int) -> str | Response:
    rule = _rule(rule_id)
    form = RuleForm(obj=None, data={
        "name": rule.name, "enabled": rule.enabled, "on_created": rule.on_created,
        "on_updated": rule.on_updated, "conditions": "\n".join(rule.conditions),
        "actions": "\n".join(rule.actions)})
    if request.method == "POST":
        form.process(request.form)
        if form.validate_on_submit():
            _save_rule(rule, form)
            flash(_("Rule saved."), "success")
            return redirect(url_for("automation.edit_rule", rule_id=rule.id))
    test_form = TestRuleForm(request.args)
    checks = None
    tested = None
    if test_form.ticket.data:
        tested = ticket_for(current_user, test_form.ticket.data)
        checks = check_rule(rule_from_row(rule), ticket_facts(tested))
    return render_template("automation/rule.html", rule=rule, form=form, test_form=test_form,
                           tested=tested, checks=checks)


@bp.post("/admin/routing/<int:rule_id>/move")
@login_required
@admin_required
def move(rule_id: int) -> Response:
    move_rule(_rule(rule_id), -1 if request.form.get("direction") == "up" else 1)
    db.session.commit()
    return redirect(url_for("automation.rules"))


@bp.post("/admin/routing/<int:rule_id>/toggle")
@login_required
@admin_required
def toggle(rule_id: int) -> Response:
    rule = _rule(rule_id)
    rule.enabled = not rule.enabled
    db.session.commit()
    flash(_("Rule enabled.") if rule.enabled else _("Rule disabled."), "success")
    return redirect(url_for("automation.rules"))


@bp.route("/admin/automations", methods=["GET", "POST"])
@bp.route("/admin/automations/<int:automation_id>", methods=["GET", "POST"])
@login_required
@admin_required
def automations(automation_id: int | None = None) -> str | Response:
    automation = None
    if automation_id is not None:
        automation = db.session.get(TimeAutomation, automation_id)
        if automation is None:
            abort(404)
    form = AutomationForm(obj=automation)
    if form.validate_on_submit():
        save_automation(automation, name=form.name.data or "", enabled=form.enabled.data,
                        status=form.status.data or "", after_hours=form.after_hours.data or 0,
                        action=form.action.data or "", message=form.message.data or "")
        db.session.commit()
        flash(_("Automation saved."), "success")
        return redirect(url_for("automation.automations"))
    rows = db.session.scalars(select(TimeAutomation).order_by(TimeAutomation.id))
    return render_template("automation/automations.html", automations=list(rows), form=form,
                           editing=automation, action_labels=ACTION_LABELS)


@bp.get("/admin/assignment")
@login_required
@admin_required
def assignment() -> str:
    teams = [(team, settings, TeamAssignmentForm(
        prefix=f"team{team.id}", strategy=settings.strategy if settings else "round_robin",
        auto_assign=settings.auto_assign if settings else False))
        for team, settings in teams_with_settings()]
    return render_template("automation/assignment.html", teams=teams, agents=all_agents(),
                           strategy_labels=STRATEGY_LABELS)


@bp.post("/admin/assignment/teams/<int:team_id>")
@login_required
@admin_required
def team_settings(team_id: int) -> Response:
    if db.session.get(Team, team_id) is None:
        abort(404)
    form = TeamAssignmentForm(prefix=f"team{team_id}")
    if form.validate_on_submit():
        settings = team_assignment(team_id)
        settings.strategy = form.strategy.data or "round_robin"
        settings.auto_assign = form.auto_assign.data
        db.session.commit()
        flash(_("Assignment settings saved."), "success")
    return redirect(url_for("automation.assignment"))


@bp.route("/admin/agents/<int:agent_id>/availability", methods=["GET", "POST"])
@login_required
@admin_required
def availability(agent_id: int) -> str | Response:
    agent = db.session.get(Agent, agent_id)
    if agent is None:
        abort(404)
    form = AvailabilityForm(data={
        "capacity": agent.capacity, "skills": ", ".join(agent.skills),
        "languages": ", ".join(agent.languages), "shift": agent.shift})
    if request.method == "POST":
        form.process(request.form)
        if form.validate_on_submit():
            set_agent_availability(agent, capacity=form.capacity.data,
                                   skills=form.split(form.skills.data),
                                   languages=form.split(form.languages.data),
                                   shift=form.shift.data or "")
            db.session.commit()
            flash(_("Availability saved."), "success")
            return redirect(url_for("automation.assignment"))
    return render_template("automation/availability.html", agent=agent, form=form)


@bp.route("/status", methods=["GET", "POST"])
@login_required
def my_status() -> str | Response:
    form = StatusForm(status=current_user.status)
    if form.validate_on_submit():
        set_agent_status(current_user, form.status.data or "offline")
        db.session.commit()
        flash(_("Status saved."), "success")
        return redirect(url_for("automation.my_status"))
    return render_template("automation/status.html", form=form)
