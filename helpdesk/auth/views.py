"""Login, logout, and the admin pages for agents and teams."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user
from werkzeug.security import check_password_hash
from werkzeug.wrappers import Response

from helpdesk.auth.forms import AgentForm, LoginForm, TeamForm
from helpdesk.auth.operations import AgentEmailTaken, create_agent
from helpdesk.auth.queries import agent_by_email, all_agents
from helpdesk.auth.rules import admin_required
from helpdesk.db import db
from helpdesk.extensions import limiter
from helpdesk.teams.operations import TeamNameTaken, create_team
from helpdesk.teams.queries import all_teams

bp = Blueprint("auth", __name__)

# Compared against when the email is unknown, so a wrong email costs as long as a wrong
# password and response times do not reveal which agents exist.
_DUMMY_HASH = "scrypt:32768:8:1$00000000$" + "0" * 128


def _login_limit() -> str:
    return str(current_app.config["LOGIN_RATE_LIMIT"])


def _safe_next(target: str | None) -> str:
    """Only same-site relative paths: an open redirect would make phishing links trustworthy."""
    if target and target.startswith("/") and not target.startswith("//"):
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc:
            return target
    return url_for("tickets.queue")


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
def login() -> str | Response:
    if current_user.is_authenticated:
        return redirect(url_for("tickets.queue"))
    form = LoginForm()
    if form.validate_on_submit():
        agent = agent_by_email(form.email.data or "")
        password = form.password.data or ""
        if agent is not None and agent.active and agent.check_password(password):
            login_user(agent)
            return redirect(_safe_next(request.args.get("next")))
        if agent is None:
            check_password_hash(_DUMMY_HASH, password)
        form.password.errors.append(_("Wrong email or password."))
    return render_template("auth/login.html", form=form)


@bp.post("/logout")
@login_required
def logout() -> Response:
    logout_user()
    return redirect(url_for("auth.login"))


@bp.route("/console/admin/agents", methods=["GET", "POST"])
@login_required
@admin_required
def agents() -> str | Response:
    form = AgentForm()
    teams = all_teams()
    form.teams.choices = [(team.id, team.name) for team in teams]
    if form.validate_on_submit():
        chosen = [team for team in teams if team.id in (form.teams.data or [])]
        try:
            create_agent(email=form.email.data or "", name=form.name.data or "",
                         password=form.password.data or "", role=form.role.data,
                         teams=chosen)
        except AgentEmailTaken:
            form.email.errors.append(_("An agent with this email already exists."))
        else:
            db.session.commit()
            flash(_("Agent created."), "success")
            return redirect(url_for("auth.agents"))
    return render_template("auth/agents.html", form=form, agents=all_agents())


@bp.route("/console/admin/teams", methods=["GET", "POST"])
@login_required
@admin_required
def teams() -> str | Response:
    form = TeamForm()
    if form.validate_on_submit():
        try:
            create_team(form.name.data or "")
        except TeamNameTaken:
            form.name.errors.append(_("A team with this name already exists."))
        else:
            db.session.commit()
            flash(_("Team created."), "success")
            return redirect(url_for("auth.teams"))
    agents_list = all_agents()
    members = {team.id: [a for a in agents_list if team in a.teams] for team in all_teams()}
    return render_template("auth/teams.html", form=form, teams=all_teams(), members=members)
