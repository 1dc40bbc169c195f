"""Admin forms for calendars and policies. Each text area is checked by the pure parser of
its part, and a parse error is shown next to that field."""

from __future__ import annotations

import json
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    Field,
    FloatField,
    IntegerField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, NumberRange, Optional, ValidationError

from helpdesk.sla.calendar import CalendarError, parse_dates, parse_weekly_hours, zone_named
from helpdesk.sla.policy import (
    PolicyError,
    parse_conditions,
    parse_escalations,
    parse_pauses,
    parse_targets,
)


def _parsed_by(parser: Any) -> Any:
    def check(form: FlaskForm, field: Field) -> None:
        try:
            parser(field.data or "")
        except (CalendarError, PolicyError) as error:
            raise ValidationError(str(error)) from error
    return check


def _json_parsed_by(parser: Any) -> Any:
    def check(form: FlaskForm, field: Field) -> None:
        try:
            parser(json.loads(field.data or "null"))
        except json.JSONDecodeError as error:
            raise ValidationError(_l("Not valid JSON: %(error)s", error=error.msg)) from error
        except PolicyError as error:
            raise ValidationError(str(error)) from error
    return check


class CalendarForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=120)])
    timezone = StringField(_l("Timezone (IANA, e.g. Asia/Shanghai)"),
                           validators=[DataRequired(), _parsed_by(zone_named)])
    weekly_hours = TextAreaField(
        _l("Weekly hours (one line per day or range: mon-fri 09:00-12:00 13:00-18:00)"),
        validators=[DataRequired(), _parsed_by(parse_weekly_hours)])
    holiday_country = StringField(_l("Public holidays: country code (CN, US, GB, ...)"),
                                  validators=[Optional(), Length(max=8)])
    holiday_subdivision = StringField(_l("Subdivision (state, province)"),
                                      validators=[Optional(), Length(max=16)])
    closed_dates = TextAreaField(_l("Closed dates (one per line, 2026-12-24)"),
                                 validators=[_parsed_by(parse_dates)])
    extra_working_days = TextAreaField(_l("Extra working days (make-up workdays, 调休)"),
                                       validators=[_parsed_by(parse_dates)])


class PolicyForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=120)])
    position = IntegerField(_l("Order (lower is tried first)"), default=0,
                            validators=[NumberRange(min=0)])
    active = BooleanField(_l("Active"), default=True)
    calendar = SelectField(_l("Business calendar"), coerce=int, default=0)
    conditions = TextAreaField(_l("Conditions (JSON)"), default="{}",
                               validators=[_json_parsed_by(parse_conditions)])
    targets = TextAreaField(_l("Targets by priority (JSON, minutes)"),
                            validators=[DataRequired(), _json_parsed_by(parse_targets)])
    pauses = TextAreaField(_l("Status categories that pause each clock (JSON)"), default="{}",
                           validators=[_json_parsed_by(parse_pauses)])
    warn_share = FloatField(_l("Warn at this share of a target (e.g. 0.75)"), default=0.75,
                            validators=[Optional(), NumberRange(min=0.01, max=0.99)])
    escalations = TextAreaField(_l("Breach levels (JSON)"), default="[]",
                                validators=[_json_parsed_by(parse_escalations)])
    days = IntegerField(_l("Dry run over the last N days"), default=30,
                        validators=[Optional(), NumberRange(min=1, max=365)])


class TeamLeadForm(FlaskForm):
    team = SelectField(_l("Team"), coerce=int)
    agent = SelectField(_l("Team lead"), coerce=int)
