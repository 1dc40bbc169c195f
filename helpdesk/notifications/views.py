"""The agent's notifications (the console's bell)."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, url_for
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from helpdesk.db import db
from helpdesk.notifications.operations import mark_read
from helpdesk.notifications.queries import recent_notifications, unread_count

bp = Blueprint("notifications", __name__, url_prefix="/console/notifications")


def unread_badge() -> int:
    """The signed-in agent's unread notifications, for the console bar."""
    if not current_user or not current_user.is_authenticated:
        return 0
    return unread_count(current_user.id)


@bp.get("/")
@login_required
def inbox() -> str:
    return render_template("notifications/inbox.html",
                           notifications=recent_notifications(current_user.id))


@bp.post("/read")
@login_required
def read_all() -> Response:
    mark_read(current_user.id)
    db.session.commit()
    return redirect(url_for("notifications.inbox"))
