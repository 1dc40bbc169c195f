"""The public support form. One POST makes one ticket, or nothing and an error per field."""

from __future__ import annotations

from flask import Blueprint, current_app, redirect, render_template, session, url_for
from werkzeug.wrappers import Response

from channels.webform.forms import SupportRequestForm
from helpdesk.customers.operations import find_or_create_customer
from helpdesk.db import db
from helpdesk.extensions import limiter
from helpdesk.tickets.operations import NewAttachment, open_ticket

bp = Blueprint("webform", __name__, template_folder="templates")


def _form_limit() -> str:
    return str(current_app.config["FORM_RATE_LIMIT"])


@bp.route("/support", methods=["GET", "POST"])
@limiter.limit(_form_limit, methods=["POST"])
def support() -> str | Response:
    form = SupportRequestForm()
    if form.validate_on_submit():
        customer = find_or_create_customer(form.email.data or "", form.name.data or "")
        attachments = []
        upload = form.attachment.data
        if upload is not None and upload.filename:
            attachments.append(NewAttachment(
                filename=upload.filename,
                content_type=upload.mimetype or "application/octet-stream",
                data=upload.read()))
        ticket = open_ticket(customer.as_actor(), customer=customer,
                             subject=form.subject.data or "", body_text=form.message.data or "",
                             channel="web", attachments=attachments, origin="support-form")
        db.session.commit()
        # Only the browser that submitted may see the confirmation: the reference is not a
        # password, but ticket ids are sequential and the page names the customer's address.
        session["submitted_ticket"] = ticket.id
        return redirect(url_for("webform.submitted", ticket_id=ticket.id))
    # Answers before tickets: offer the help centre's search when the knowledge base is
    # installed (the two packages know each other only by endpoint name).
    help_search = url_for("help.search") if "help.search" in current_app.view_functions else None
    return render_template("webform/support.html", form=form, help_search=help_search)


@bp.get("/support/submitted/<int:ticket_id>")
def submitted(ticket_id: int) -> str | Response:
    if session.get("submitted_ticket") != ticket_id:
        return redirect(url_for("webform.support"))
    return render_template("webform/submitted.html", reference=f"#{ticket_id}",
                           ticket_id=ticket_id)
