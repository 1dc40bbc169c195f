from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, SelectField, SelectMultipleField, StringField
from wtforms.validators import DataRequired, Email, Length

from helpdesk.auth.operations import MIN_PASSWORD_LENGTH


class LoginForm(FlaskForm):
    # No format check: a login only looks the address up, and saying "invalid address"
    # instead of "wrong email or password" would tell a prober something.
    email = EmailField(_l("Email"), validators=[DataRequired()])
    password = PasswordField(_l("Password"), validators=[DataRequired()])


class AgentForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=120)])
    email = EmailField(_l("Email"), validators=[DataRequired(), Email(), Length(max=254)])
    password = PasswordField(_l("Initial password"),
                             validators=[DataRequired(), Length(min=MIN_PASSWORD_LENGTH)])
    role = SelectField(_l("Role"), choices=[("agent", _l("Agent")), ("admin", _l("Admin"))])
    teams = SelectMultipleField(_l("Teams"), coerce=int)


class TeamForm(FlaskForm):
    name = StringField(_l("Team name"), validators=[DataRequired(), Length(max=120)])
