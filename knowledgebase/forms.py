from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import StringField, TextAreaField
from wtforms.validators import DataRequired, Length

from knowledgebase.models import TITLE_MAX

BODY_MAX = 100_000


class ArticleForm(FlaskForm):
    title = StringField(_l("Title"), validators=[DataRequired(), Length(max=TITLE_MAX)])
    body_markdown = TextAreaField(_l("Body (Markdown)"),
                                  validators=[DataRequired(), Length(max=BODY_MAX)])
