"""The email console: mailboxes (health, settings, connection test), blocked senders, mail
set aside (with re-ingest and "block sender"), and the original of any mail we took in,
shown as text or downloaded byte for byte."""

from __future__ import annotations

from email.header import decode_header, make_header
from email.parser import BytesHeaderParser
from email.policy import compat32

from flask import (
    Blueprint,
    abort,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from channels.email.forms import BlockedSenderForm, MailboxForm
from channels.email.imap import check_connection
from channels.email.ingest import replay
from channels.email.models import BlockedSender, Mailbox, RawEmail
from channels.email.operations import (
    InvalidBlockedSender,
    InvalidMailbox,
    block_sender,
    configure_mailbox,
    create_mailbox,
    set_mailbox_active,
    unblock_sender,
    update_mailbox,
)
from channels.email.parse import parse_message
from channels.email.queries import blocked_senders, mailbox_health, recently_set_aside
from channels.email.rawstore import open_raw, stored_size
from helpdesk.auth.rules import admin_required, ticket_for
from helpdesk.db import db

bp = Blueprint("email", __name__, template_folder="templates")

#: "Show original" renders at most this much of a mail; the download has all of it.
ORIGINAL_SHOWN_BYTES = 256 * 1024
SET_ASIDE_PAGE = 50


@bp.get("/console/mailboxes")
@login_required
@admin_required
def mailboxes() -> str:
    return render_template("email/mailboxes.html", health=mailbox_health())


@bp.route("/console/mailboxes/new", methods=["GET", "POST"])
@login_required
@admin_required
def new_mailbox() -> str | Response:
    return _mailbox_form(None)


@bp.route("/console/mailboxes/<int:mailbox_id>", methods=["GET", "POST"])
@login_required
@admin_required
def edit_mailbox(mailbox_id: int) -> str | Response:
    return _mailbox_form(db.get_or_404(Mailbox, mailbox_id))


def _mailbox_form(mailbox: Mailbox | None) -> str | Response:
    """Add or edit a mailbox; "Test connection" tries the submitted settings on an unsaved
    copy (blank secrets: the stored ones) and saves nothing."""
    form = MailboxForm(mailbox)
    tested: str | None = None
    if form.validate_on_submit():
        try:
            if form.test.data:
                candidate = _unsaved_copy(mailbox)
                configure_mailbox(candidate, form.settings())
                tested = check_connection(candidate) or ""
            elif mailbox is None:
                mailbox = create_mailbox(form.settings())
            else:
                update_mailbox(mailbox, form.settings())
        except InvalidMailbox as error:
            getattr(form, error.field, form.name).errors.append(str(error))
        else:
            if tested is None and mailbox is not None:
                db.session.commit()
                flash(_("Mailbox %(name)s saved.", name=mailbox.name), "success")
                return redirect(url_for("email.mailboxes"))
    db.session.rollback()
    return render_template("email/mailbox.html", form=form, mailbox=mailbox, tested=tested)


def _unsaved_copy(mailbox: Mailbox | None) -> Mailbox:
    """A mailbox outside the session carrying ``mailbox``'s stored secrets, for a test."""
    copy = Mailbox(imap_password="", auth_method="password")
    if mailbox is not None:
        for column in Mailbox.__table__.columns:
            setattr(copy, column.key, getattr(mailbox, column.key))
    return copy


@bp.post("/console/mailboxes/<int:mailbox_id>/active")
@login_required
@admin_required
def toggle_mailbox(mailbox_id: int) -> Response:
    mailbox = db.get_or_404(Mailbox, mailbox_id)
    set_mailbox_active(mailbox, not mailbox.active)
    db.session.commit()
    message = (_("Mailbox %(name)s is read again.", name=mailbox.name) if mailbox.active
               else _("Mailbox %(name)s is no longer read.", name=mailbox.name))
    flash(message, "success")
    return redirect(url_for("email.mailboxes"))


@bp.route("/console/mail/blocked-senders", methods=["GET", "POST"])
@login_required
@admin_required
def blocked() -> str | Response:
    form = BlockedSenderForm()
    if form.validate_on_submit():
        try:
            entry = block_sender(form.pattern.data or "", note=form.note.data or "",
                                 by=current_user._get_current_object())
        except InvalidBlockedSender as error:
            form.pattern.errors.append(str(error))
        else:
            db.session.commit()
            flash(_("Mail from %(pattern)s is dropped from now on.", pattern=entry.pattern),
                  "success")
            return redirect(url_for("email.blocked"))
    db.session.rollback()
    return render_template("email/blocked_senders.html", form=form, rows=blocked_senders())


@bp.post("/console/mail/blocked-senders/<int:blocked_id>/remove")
@login_required
@admin_required
def unblock(blocked_id: int) -> Response:
    entry = db.get_or_404(BlockedSender, blocked_id)
    pattern = entry.pattern
    unblock_sender(entry)
    db.session.commit()
    flash(_("Mail from %(pattern)s is accepted again.", pattern=pattern), "success")
    return redirect(url_for("email.blocked"))


@bp.post("/console/mail/<int:raw_email_id>/block-sender")
@login_required
@admin_required
def block_sender_of(raw_email_id: int) -> Response:
    """Block the sender of a mail set aside (its From address, as vetting reads it)."""
    raw_email = db.get_or_404(RawEmail, raw_email_id)
    # The header is at the beginning: a big mail need not be parsed whole for its sender.
    sender = parse_message(_beginning(raw_email)).from_addr
    if not sender:
        flash(_("This mail has no sender address to block."), "error")
        return redirect(url_for("email.set_aside"))
    try:
        block_sender(sender, note=_("from mail set aside"), by=current_user._get_current_object())
    except InvalidBlockedSender as error:
        flash(str(error), "error")
    else:
        db.session.commit()
        flash(_("Mail from %(pattern)s is dropped from now on.", pattern=sender), "success")
    return redirect(url_for("email.set_aside"))


@bp.get("/console/mail/set-aside")
@login_required
@admin_required
def set_aside() -> str:
    """Quarantined and dropped mail with the verdict and the rules that fired."""
    before = request.args.get("before", type=int)
    rows = recently_set_aside(SET_ASIDE_PAGE, before_id=before)
    more = rows[-1].id if len(rows) == SET_ASIDE_PAGE else None
    return render_template("email/set_aside.html", rows=rows, more=more)


@bp.post("/console/mail/<int:raw_email_id>/reingest")
@login_required
@admin_required
def reingest(raw_email_id: int) -> Response:
    raw_email = db.session.get(RawEmail, raw_email_id)
    if raw_email is None:
        abort(404)
    try:
        replay(raw_email)
    except ValueError:
        flash(_("This mail is not set aside any more."), "error")
        return redirect(url_for("email.set_aside"))
    db.session.commit()
    if raw_email.ticket_id:
        flash(_("Ingested again: ticket #%(number)s.", number=raw_email.ticket_id), "success")
    else:
        flash(_("Ingested again: %(status)s (%(reason)s).", status=raw_email.status,
                reason=raw_email.error or "-"), "error")
    return redirect(url_for("email.set_aside"))


@bp.get("/console/mail/<int:raw_email_id>/original")
@login_required
def original(raw_email_id: int) -> str:
    """The mail's headers and source as text (escaped by the template), never rendered."""
    raw_email = _raw_email_for_viewer(raw_email_id)
    # Only the beginning: a mail of tens of megabytes must not become one page.
    shown = _beginning(raw_email)
    headers = [(name, _readable_header(value)) for name, value in
               BytesHeaderParser(policy=compat32).parsebytes(shown).raw_items()]
    source = shown[:ORIGINAL_SHOWN_BYTES].decode("utf-8", errors="replace")
    return render_template("email/original.html", raw_email=raw_email, headers=headers,
                           source=source, truncated=len(shown) > ORIGINAL_SHOWN_BYTES,
                           header_only=raw_email.size > stored_size(raw_email))


def _beginning(raw_email: RawEmail) -> bytes:
    """The first :data:`ORIGINAL_SHOWN_BYTES` of the mail, and one more byte to tell
    whether there is more."""
    with open_raw(raw_email) as file:
        return file.read(ORIGINAL_SHOWN_BYTES + 1)


@bp.get("/console/mail/<int:raw_email_id>.eml")
@login_required
def download(raw_email_id: int) -> Response:
    """The mail byte for byte, as a download (``message/rfc822``, RFC 2046 §5.2.1),
    streamed from wherever it is kept."""
    raw_email = _raw_email_for_viewer(raw_email_id)
    response = send_file(open_raw(raw_email), mimetype="message/rfc822", as_attachment=True,
                         download_name=f"mail-{raw_email.id}.eml", conditional=False,
                         etag=False, max_age=0)
    response.headers["Cache-Control"] = "private, no-store"
    return response


def _raw_email_for_viewer(raw_email_id: int) -> RawEmail:
    """Admins see any mail; an agent only mail on a ticket they may see (404 otherwise)."""
    raw_email = db.session.get(RawEmail, raw_email_id)
    if raw_email is None:
        abort(404)
    if not current_user.is_admin:
        if raw_email.ticket_id is None:
            abort(404)
        ticket_for(current_user, raw_email.ticket_id)
    return raw_email


def _readable_header(value: str) -> str:
    """A header value with RFC 2047 words decoded; raw 8-bit bytes shown as replacement
    characters rather than breaking the page."""
    text = value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    try:
        return str(make_header(decode_header(text)))
    except (LookupError, UnicodeError, ValueError):  # an unknown or lying charset
        return text
