from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, StringField
from wtforms.validators import DataRequired, Email, Length, Optional

#: Labels of the profile fields, for forms and provenance lists.
FIELD_LABELS = {
    "name": _l("Name"), "phone": _l("Phone"), "company": _l("Company"), "tier": _l("Tier"),
    "owner": _l("Account owner"), "tags": _l("Tags"), "lifetime_value": _l("Lifetime value"),
}


class ProfileForm(FlaskForm):
    """Every profile field; the page offers (and the view accepts) only helpdesk-owned ones."""

    name = StringField(_l("Name"), validators=[Optional(), Length(max=200)])
    phone = StringField(_l("Phone"), validators=[Optional(), Length(max=40)])
    company = StringField(_l("Company"), validators=[Optional(), Length(max=200)])
    tier = StringField(_l("Tier"), validators=[Optional(), Length(max=40)])
    owner = StringField(_l("Account owner"), validators=[Optional(), Length(max=200)])
    tags = StringField(_l("Tags"), description=_l("Separated by commas."),
                       validators=[Optional(), Length(max=1000)])
    lifetime_value = StringField(_l("Lifetime value"), validators=[Optional(), Length(max=60)])


class ResolveConflictForm(FlaskForm):
    take = HiddenField(validators=[DataRequired()])


class MergeForm(FlaskForm):
    other_email = StringField(_l("Merge this customer into the one with email"),
                              validators=[DataRequired(), Email(check_deliverability=False)])


class UndoMergeForm(FlaskForm):
    pass
