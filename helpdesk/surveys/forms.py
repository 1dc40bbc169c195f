from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import RadioField, TextAreaField
from wtforms.validators import InputRequired, Length

from helpdesk.surveys.operations import RATINGS

RATING_LABELS = {1: _l("Very unsatisfied"), 2: _l("Unsatisfied"), 3: _l("Neutral"),
                 4: _l("Satisfied"), 5: _l("Very satisfied")}


class SurveyForm(FlaskForm):
    rating = RadioField(_l("How satisfied are you with our help?"), coerce=int,
                        choices=[(r, RATING_LABELS[r]) for r in RATINGS],
                        validators=[InputRequired(_l("Please choose a rating."))])
    comment = TextAreaField(_l("Anything you would like to tell us? (optional)"),
                            validators=[Length(max=5000)])
