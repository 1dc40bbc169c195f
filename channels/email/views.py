"""The admins' mailbox health page: is mail coming in, and what was set aside."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask_login import login_required

from channels.email.queries import mailbox_health, recently_set_aside
from helpdesk.auth.rules import admin_required

bp = Blueprint("email", __name__, template_folder="templates")


@bp.get("/console/mailboxes")
@login_required
@admin_required
def mailboxes() -> str:
    return render_template("email/mailboxes.html", health=mailbox_health(),
                           set_aside=recently_set_aside())
