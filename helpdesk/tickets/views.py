"""The agent console: queues, the ticket page, replies, notes, property changes, downloads."""

from __future__ import annotations

from datetime import datetime

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_required
from werkzeug.datastructures import FileStorage
from werkzeug.wrappers import Response

from helpdesk.auth.models import Agent
from helpdesk.auth.queries import active_agents
from helpdesk.auth.rules import attachment_for, can_view_ticket, ticket_for
from helpdesk.customers.forms import FIELD_LABELS
from helpdesk.customers.queries import customer_360
from helpdesk.db import db, utcnow
from helpdesk.ports import outbound_mail
from helpdesk.sla.policy import ClockReading, read_clock
from helpdesk.surveys.queries import surveys_for_ticket
from helpdesk.teams.models import Team
from helpdesk.teams.queries import all_teams
from helpdesk.tickets import storage
from helpdesk.tickets.content import content_id_key, embed_inline_images
from helpdesk.tickets.forms import (
    PRIORITY_LABELS,
    STATUS_LABELS,
    NoteForm,
    PropertiesForm,
    ReplyForm,
)
from helpdesk.tickets.models import STATUSES, UNRESOLVED_STATUSES, Message, Ticket
from helpdesk.tickets.operations import (
    InvalidChange,
    NewAttachment,
    add_internal_note,
    reply_to_customer,
    update_ticket,
)
from helpdesk.tickets.queries import QUEUES, Cursor, queue_counts, queue_page, ticket_history

bp = Blueprint("tickets", __name__, url_prefix="/console")


@bp.app_context_processor
def _labels() -> dict[str, object]:
    return {"STATUS_LABELS": STATUS_LABELS, "PRIORITY_LABELS": PRIORITY_LABELS}


@bp.get("/")
@login_required
def queue() -> str:
    name = request.args.get("queue", "all")
    if name not in QUEUES:
        name = "all"
    status = request.args.get("status", "unresolved")
    statuses: tuple[str, ...]
    if status in STATUSES:
        statuses = (status,)
    elif status == "any":
        statuses = ()
    else:
        status, statuses = "unresolved", UNRESOLVED_STATUSES
    page = queue_page(current_user, name, statuses,
                      after=Cursor.decode(request.args.get("after")))
    now = utcnow()
    clocks = {ticket.id: _next_clock(ticket, now) for ticket in page.tickets}
    return render_template("tickets/queue.html", page=page, queue=name, status=status,
                           counts=queue_counts(current_user, statuses), clocks=clocks,
                           queues=QUEUES, statuses=STATUSES)


def _next_clock(ticket: Ticket, now: datetime) -> ClockReading:
    """The clock a queue shows: first reply until it is met, then resolution."""
    if ticket.first_replied_at is None:
        return read_clock(ticket.first_reply_due, None, now)
    return read_clock(ticket.resolution_due, ticket.solved_at, now)


def _properties_form(ticket: Ticket) -> PropertiesForm:
    form = PropertiesForm(obj=None, data={
        "status": ticket.status, "priority": ticket.priority,
        "team": ticket.team_id or 0, "assignee": ticket.assignee_id or 0})
    form.team.choices = [(0, _("No team")), *((t.id, t.name) for t in all_teams())]
    form.assignee.choices = [(0, _("Unassigned")), *((a.id, a.name) for a in active_agents())]
    return form


@bp.get("/tickets/<int:ticket_id>")
@login_required
def show(ticket_id: int) -> str:
    ticket = ticket_for(current_user, ticket_id)
    return _render_ticket(ticket, ReplyForm(), NoteForm(), _properties_form(ticket))


def _render_ticket(ticket: Ticket, reply_form: ReplyForm, note_form: NoteForm,
                   properties_form: PropertiesForm) -> str:
    return render_template(
        "tickets/ticket.html", ticket=ticket, reply_form=reply_form, note_form=note_form,
        properties_form=properties_form, history=ticket_history(ticket),
        customer=customer_360(current_user, ticket.customer, exclude_ticket_id=ticket.id),
        FIELD_LABELS=FIELD_LABELS,
        surveys=surveys_for_ticket(ticket),
        recipients=outbound_mail().reply_recipients(ticket.id))


def _uploaded(file: FileStorage | None) -> list[NewAttachment]:
    if file is None or not file.filename:
        return []
    data = file.read(current_app.config["MAX_ATTACHMENT_BYTES"] + 1)
    if len(data) > current_app.config["MAX_ATTACHMENT_BYTES"]:
        raise InvalidChange(_("The attachment is larger than the limit."))
    return [NewAttachment(filename=file.filename,
                          content_type=file.mimetype or "application/octet-stream", data=data)]


@bp.post("/tickets/<int:ticket_id>/reply")
@login_required
def reply(ticket_id: int) -> str | Response:
    ticket = ticket_for(current_user, ticket_id)
    form = ReplyForm()
    if form.validate_on_submit():
        try:
            reply_to_customer(current_user.as_actor(), current_user, ticket,
                              body_text=form.body.data or "",
                              attachments=_uploaded(form.attachment.data))
            if form.then_status.data:
                update_ticket(current_user.as_actor(), ticket, status=form.then_status.data)
        except InvalidChange as error:
            form.attachment.errors = [str(error)]
        else:
            db.session.commit()
            flash(_("Reply sent."), "success")
            return redirect(url_for("tickets.show", ticket_id=ticket.id))
    db.session.rollback()
    return _render_ticket(ticket, form, NoteForm(), _properties_form(ticket))


@bp.post("/tickets/<int:ticket_id>/note")
@login_required
def note(ticket_id: int) -> str | Response:
    ticket = ticket_for(current_user, ticket_id)
    form = NoteForm()
    if form.validate_on_submit():
        add_internal_note(current_user.as_actor(), current_user, ticket,
                          body_text=form.body.data or "")
        db.session.commit()
        flash(_("Note added."), "success")
        return redirect(url_for("tickets.show", ticket_id=ticket.id))
    return _render_ticket(ticket, ReplyForm(), form, _properties_form(ticket))


@bp.post("/tickets/<int:ticket_id>/properties")
@login_required
def properties(ticket_id: int) -> str | Response:
    ticket = ticket_for(current_user, ticket_id)
    form = _properties_form(ticket)
    form.process(request.form)
    if not form.validate_on_submit():
        return _render_ticket(ticket, ReplyForm(), NoteForm(), form)
    team = db.session.get(Team, form.team.data) if form.team.data else None
    assignee = db.session.get(Agent, form.assignee.data) if form.assignee.data else None
    changed = update_ticket(current_user.as_actor(), ticket, status=form.status.data,
                            priority=form.priority.data, team=team, assignee=assignee)
    db.session.commit()
    if changed:
        flash(_("Ticket updated."), "success")
    if not can_view_ticket(current_user, ticket):
        return redirect(url_for("tickets.queue"))
    return redirect(url_for("tickets.show", ticket_id=ticket.id))


@bp.get("/attachments/<int:attachment_id>")
@login_required
def download(attachment_id: int) -> Response:
    attachment = attachment_for(current_user, attachment_id)
    try:
        path = storage.path_of(attachment.storage_name)
    except ValueError:
        abort(404)
    # Always a download, never rendered: an HTML or SVG attachment must not run in our origin.
    response = send_file(path, mimetype="application/octet-stream", as_attachment=True,
                         download_name=attachment.filename, max_age=0)
    response.headers["Content-Security-Policy"] = "sandbox; default-src 'none'"
    return response


@bp.get("/messages/<int:message_id>/html")
@login_required
def message_html(message_id: int) -> Response:
    """A message's sanitised HTML, for a sandboxed iframe: no scripts, no same-origin access."""
    message = db.session.get(Message, message_id)
    if message is None or not message.body_html or not can_view_ticket(current_user,
                                                                         message.ticket):
        abort(404)
    parts = {content_id_key(part.content_id): part for part in message.attachments
             if part.content_id}
    html = embed_inline_images(
        message.body_html, {key: (part.content_type, part.size) for key, part in parts.items()},
        lambda key: storage.path_of(parts[key].storage_name).read_bytes())
    response = current_app.response_class(html, mimetype="text/html")
    response.headers["Content-Security-Policy"] = "sandbox; default-src 'none'; img-src data:"
    return response
