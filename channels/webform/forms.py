from __future__ import annotations

from flask import current_app
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import EmailField, StringField, TextAreaField, ValidationError
from wtforms.validators import DataRequired, Email, Length


class SupportRequestForm(FlaskForm):
    name = StringField(_l("Your name"), validators=[DataRequired(), Length(max=200)])
    email = EmailField(_l("Your email"), validators=[
        DataRequired(), Email(_l("Please enter a valid email address.")), Length(max=254)])
    subject = StringField(_l("Subject"), validators=[DataRequired(), Length(max=300)])
    message = TextAreaField(_l("How can we help?"), validators=[
        DataRequired(_l("Please describe your request.")), Length(max=50_000)])
    attachment = FileField(_l("Attachment (optional)"))

    def validate_attachment(self, field: FileField) -> None:
        upload = field.data
        if upload is None or not getattr(upload, "filename", ""):
            return
        limit = current_app.config["MAX_ATTACHMENT_BYTES"]
        upload.stream.seek(0, 2)
        size = upload.stream.tell()
        upload.stream.seek(0)
        if size > limit:
            raise ValidationError(
                _l("The file is too large (at most %(mb)s MB).", mb=limit // (1024 * 1024)))
