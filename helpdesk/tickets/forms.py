from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import SelectField, TextAreaField
from wtforms.validators import DataRequired, Length

from helpdesk.tickets.models import PRIORITIES, STATUSES

STATUS_LABELS = {
    "new": _l("New"), "open": _l("Open"), "pending": _l("Pending"),
    "on-hold": _l("On hold"), "solved": _l("Solved"), "closed": _l("Closed"),
}
PRIORITY_LABELS = {"low": _l("Low"), "normal": _l("Normal"), "high": _l("High"),
                   "urgent": _l("Urgent")}


class ReplyForm(FlaskForm):
    body = TextAreaField(_l("Reply to customer"),
                         validators=[DataRequired(), Length(max=100_000)])
    attachment = FileField(_l("Attachment"))
    then_status = SelectField(_l("Then set status"), choices=[
        ("", _l("Keep status")), *((s, STATUS_LABELS[s]) for s in STATUSES)], default="")


class NoteForm(FlaskForm):
    body = TextAreaField(_l("Internal note"), validators=[DataRequired(), Length(max=100_000)])


class PropertiesForm(FlaskForm):
    status = SelectField(_l("Status"), choices=[(s, STATUS_LABELS[s]) for s in STATUSES])
    priority = SelectField(_l("Priority"), choices=[(p, PRIORITY_LABELS[p]) for p in PRIORITIES])
    team = SelectField(_l("Team"), coerce=int)
    assignee = SelectField(_l("Assignee"), coerce=int)
