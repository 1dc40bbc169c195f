from __future__ import annotations

import json
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import URL, DataRequired, Length, NumberRange, Optional, ValidationError

from crm_bridge.mapping import InvalidMapping, parse_mapping
from crm_bridge.models import SOURCE_NAME_MAX


def _json_object(form: FlaskForm, field: TextAreaField) -> None:
    if not (field.data or "").strip():
        return
    try:
        value = json.loads(field.data or "")
    except ValueError as error:
        raise ValidationError(_l("Not valid JSON: %(error)s", error=str(error))) from error
    if not isinstance(value, dict):
        raise ValidationError(_l("Give a JSON object: {...}"))


def parsed_json(text: str | None) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(text) if text and text.strip() else {}
    return value


class SourceForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=SOURCE_NAME_MAX)])
    kind = SelectField(_l("Kind"), validators=[DataRequired()])
    settings = TextAreaField(_l("Settings (JSON)"), validators=[_json_object],
                             description=_l("Where and what to read; no passwords here."))
    secrets = TextAreaField(
        _l("Secrets (JSON)"), validators=[_json_object],
        description=_l("Tokens, passwords, webhook_secret. Never shown again; "
                       "leave empty to keep the stored ones."))
    record_url_template = StringField(
        _l("Record link"), validators=[Optional(), URL(require_tld=False), Length(max=500)],
        description=_l("e.g. https://crm.example.com/contacts/{external_id}"))
    schedule_minutes = IntegerField(_l("Sync every (minutes)"), default=15,
                                    validators=[NumberRange(min=1, max=10080)])
    sweep_hours = IntegerField(_l("Look for deleted records every (hours)"), default=24,
                               validators=[NumberRange(min=1, max=8760)])
    enabled = BooleanField(_l("Enabled"), default=True)

    def validate_record_url_template(self, field: StringField) -> None:
        if field.data and not field.data.startswith(("https://", "http://")):
            raise ValidationError(_l("Only http and https links."))


class MappingForm(FlaskForm):
    mapping = TextAreaField(_l("Mapping (JSON)"), validators=[DataRequired(), _json_object])

    def validate_mapping(self, field: TextAreaField) -> None:
        try:
            parse_mapping(parsed_json(field.data))
        except (InvalidMapping, ValueError) as error:
            raise ValidationError(str(error)) from error


class SyncNowForm(FlaskForm):
    full = BooleanField(_l("Full sync"))
