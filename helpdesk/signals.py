"""Signals the core sends, for optional reactions by outer packages (CRM push, KB suggestions).

Every signal is sent *inside* the unit of work, before commit, with the ticket (or customer)
as sender. A subscriber that does outside work must register it with
``helpdesk.db.after_commit`` so a rollback cancels it.
"""

from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

#: sender: Ticket; kwargs: actor
ticket_created = _signals.signal("ticket-created")
#: sender: Ticket; kwargs: message, actor
ticket_message_added = _signals.signal("ticket-message-added")
#: sender: Ticket; kwargs: actor, old_status
ticket_solved = _signals.signal("ticket-solved")
#: sender: SurveyResponse's Ticket; kwargs: rating, comment
survey_answered = _signals.signal("survey-answered")
#: sender: Customer; kwargs: fields (names of the changed profile fields), source
customer_profile_changed = _signals.signal("customer-profile-changed")
