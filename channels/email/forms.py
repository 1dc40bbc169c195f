"""Console forms of the email channel: a mailbox's settings and a blocked sender.

The rules a mailbox must meet are not repeated here: :func:`operations.configure_mailbox`
judges the settings and names the field at fault, which the view puts next to it.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import IntegerField, PasswordField, SelectField, StringField, SubmitField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from channels.email.models import Mailbox
from channels.email.operations import MailboxSettings, OAuthGrant
from helpdesk.db import db
from helpdesk.teams.models import Team
from helpdesk.teams.queries import all_teams

SECURITY_LABELS = {
    "tls": _l("TLS (port 993)"),
    "starttls": _l("STARTTLS (port 143)"),
    "none": _l("None (only for a server on this machine)"),
}
AUTH_LABELS = {"password": _l("Password"), "xoauth2": _l("OAuth 2 (XOAUTH2)")}
_KEEP = _l("Leave blank to keep the current one.")


class MailboxForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=120)])
    address = StringField(_l("Address customers write to"),
                          validators=[DataRequired(), Length(max=254)])
    team = SelectField(_l("Team for new tickets"), coerce=int)
    imap_host = StringField(_l("IMAP server"), validators=[DataRequired(), Length(max=255)])
    imap_security = SelectField(_l("Security"), choices=list(SECURITY_LABELS.items()))
    imap_port = IntegerField(_l("Port"), validators=[Optional(), NumberRange(1, 65535)],
                             description=_l("Blank: 993 with TLS, 143 otherwise."))
    imap_folder = StringField(_l("Folder"), default="INBOX", validators=[Length(max=255)])
    imap_username = StringField(_l("Login"), validators=[DataRequired(), Length(max=255)])
    auth_method = SelectField(_l("Sign-in"), choices=list(AUTH_LABELS.items()))
    password = PasswordField(_l("Password"), validators=[Length(max=255)])
    oauth_token_url = StringField(_l("OAuth token URL"), validators=[Length(max=500)])
    oauth_client_id = StringField(_l("OAuth client id"), validators=[Length(max=255)])
    oauth_client_secret = PasswordField(_l("OAuth client secret"),
                                        validators=[Length(max=500)])
    oauth_refresh_token = PasswordField(_l("OAuth refresh token"))
    save = SubmitField(_l("Save"))
    test = SubmitField(_l("Test connection"))

    def __init__(self, mailbox: Mailbox | None = None, **kwargs: object) -> None:
        super().__init__(obj=mailbox, **kwargs)
        self.team.choices = [(0, _l("No team")), *((team.id, team.name) for team in all_teams())]
        if mailbox is not None and not self.is_submitted():
            self.team.data = mailbox.team_id or 0
        if mailbox is not None:
            # Secrets are never rendered back; blank keeps the stored one.
            for secret in (self.password, self.oauth_client_secret, self.oauth_refresh_token):
                secret.description = _KEEP
                if not self.is_submitted():
                    secret.data = ""

    def settings(self) -> MailboxSettings:
        """The submitted settings, for :func:`operations.configure_mailbox` to judge."""
        security = self.imap_security.data or "tls"
        grant = None
        if self.auth_method.data == "xoauth2":
            grant = OAuthGrant(token_url=self.oauth_token_url.data or "",
                               client_id=self.oauth_client_id.data or "",
                               client_secret=self.oauth_client_secret.data or "",
                               refresh_token=self.oauth_refresh_token.data or "")
        return MailboxSettings(
            name=self.name.data or "", address=self.address.data or "",
            imap_host=self.imap_host.data or "",
            imap_port=self.imap_port.data or (993 if security == "tls" else 143),
            imap_username=self.imap_username.data or "",
            imap_folder=self.imap_folder.data or "INBOX", imap_security=security,
            team=db.session.get(Team, self.team.data) if self.team.data else None,
            auth_method=self.auth_method.data or "password",
            imap_password=self.password.data or "", oauth=grant)


class BlockedSenderForm(FlaskForm):
    pattern = StringField(_l("Address or @domain"),
                          validators=[DataRequired(), Length(max=254)])
    note = StringField(_l("Note"), validators=[Length(max=500)])
    submit = SubmitField(_l("Block"))
