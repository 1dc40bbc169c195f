from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    Field,
    IntegerField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, NumberRange, Optional, ValidationError

from helpdesk.auth.models import AVAILABILITY
from helpdesk.auth.schedule import ScheduleError, parse_schedule
from helpdesk.automation.models import AUTOMATION_ACTIONS
from helpdesk.automation.strategies import STRATEGIES
from helpdesk.tickets.models import STATUSES
from helpdesk.tickets.routing import RuleSyntaxError, parse_action, parse_condition, parse_lines

STRATEGY_LABELS = {"round_robin": _l("Round robin"), "least_loaded": _l("Least loaded"),
                   "skills": _l("Skills, then least loaded")}
AVAILABILITY_LABELS = {"online": _l("Online"), "away": _l("Away"), "offline": _l("Offline")}
ACTION_LABELS = {"remind": _l("Remind the customer"), "solve": _l("Solve (with a message)"),
                 "close": _l("Close")}


def _lines_of(parse: Callable[[str], object]) -> Callable[[FlaskForm, Field], None]:
    def validate(form: FlaskForm, field: Field) -> None:
        try:
            parse_lines(field.data or "", parse)
        except RuleSyntaxError as error:
            raise ValidationError(str(error)) from error
    return validate


class RuleForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=120)])
    enabled = BooleanField(_l("Enabled"), default=True)
    on_created = BooleanField(_l("When a ticket is created"), default=True)
    on_updated = BooleanField(_l("When a ticket is updated"))
    conditions = TextAreaField(
        _l("Conditions (all must hold; one per line)"),
        validators=[Length(max=5000), _lines_of(parse_condition)],
        render_kw={"rows": 6, "placeholder": "channel email\nkeyword refund, 退款\ntier VIP"})
    actions = TextAreaField(
        _l("Actions (one per line)"),
        validators=[DataRequired(), Length(max=5000), _lines_of(parse_action)],
        render_kw={"rows": 5, "placeholder": "team Billing\npriority high\nassign strategy"})

    def lines(self, field: Field) -> list[str]:
        return [line.strip() for line in (field.data or "").splitlines() if line.strip()]


class TestRuleForm(FlaskForm):
    class Meta:
        csrf = False  # a read-only GET: shows what the rule would do, changes nothing

    ticket = IntegerField(_l("Test against ticket #"), validators=[Optional()])


class AutomationForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=120)])
    enabled = BooleanField(_l("Enabled"), default=True)
    status = SelectField(_l("Tickets in status"), choices=[(s, s) for s in STATUSES])
    after_hours = IntegerField(_l("After hours without activity"),
                               validators=[DataRequired(), NumberRange(min=1, max=24 * 365)])
    action = SelectField(_l("Then"), choices=[(a, ACTION_LABELS[a]) for a in AUTOMATION_ACTIONS])
    message = TextAreaField(_l("Message to the customer ({ticket} and {helpdesk} are filled in)"),
                            validators=[Length(max=5000)], render_kw={"rows": 5})


class TeamAssignmentForm(FlaskForm):
    strategy = SelectField(_l("Strategy"), choices=[(s, STRATEGY_LABELS[s]) for s in STRATEGIES])
    auto_assign = BooleanField(_l("Assign new tickets automatically"))


def _valid_schedule(form: FlaskForm, field: Field) -> None:
    if (field.data or "").strip():
        try:
            parse_schedule(field.data)
        except ScheduleError as error:
            raise ValidationError(str(error)) from error


class AvailabilityForm(FlaskForm):
    capacity = IntegerField(_l("Capacity (open tickets; empty: no limit)"),
                            validators=[Optional(), NumberRange(min=0, max=10_000)])
    skills = StringField(_l("Skills (comma-separated)"), validators=[Length(max=500)])
    languages = StringField(_l("Languages (e.g. en, zh)"), validators=[Length(max=200)])
    shift = StringField(_l("Shift"), validators=[Length(max=500), _valid_schedule],
                        render_kw={"placeholder": "Asia/Shanghai; mon-fri 09:00-18:00"})

    @staticmethod
    def split(raw: Any) -> list[str]:
        return [item.strip() for item in str(raw or "").replace("，", ",").split(",")
                if item.strip()]


class StatusForm(FlaskForm):
    status = SelectField(_l("My status"), choices=[(s, AVAILABILITY_LABELS[s])
                                                   for s in AVAILABILITY])
