"""The public survey page, reached from the signed link in the invitation email."""

from __future__ import annotations

from flask import Blueprint, abort, render_template, request
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from helpdesk.db import db
from helpdesk.extensions import limiter
from helpdesk.surveys.forms import SurveyForm
from helpdesk.surveys.operations import InvalidSurveyLink, answer_survey, invitation_from_token

bp = Blueprint("surveys", __name__)


@bp.route("/survey/<token>", methods=["GET", "POST"])
@limiter.limit("30 per minute")
def answer(token: str) -> str | Response:
    try:
        invitation = invitation_from_token(token)
    except InvalidSurveyLink:
        return render_template("surveys/invalid.html"), 404  # type: ignore[return-value]
    form = SurveyForm()
    if request.method == "GET" and not form.rating.data:
        preselected = request.args.get("rating", type=int)
        if preselected in dict(form.rating.choices):
            form.rating.data = preselected
    if form.validate_on_submit():
        if form.rating.data is None:
            abort(400)
        answer_survey(invitation, form.rating.data, form.comment.data or "")
        db.session.commit()
        return render_template("surveys/thanks.html", message=_("Thank you for your feedback!"))
    return render_template("surveys/answer.html", form=form, invitation=invitation)
