"""SLA writes, called by ticket operations in the same transaction."""

from __future__ import annotations

from helpdesk.db import db
from helpdesk.sla.calendar import ALWAYS_OPEN
from helpdesk.sla.models import SlaPolicy
from helpdesk.sla.policy import choose_policy, compute_deadlines
from helpdesk.sla.queries import policy_targets
from helpdesk.tickets.models import Ticket


def apply_sla(ticket: Ticket) -> str | None:
    """Set the ticket's deadlines from the policy for its priority, counted from creation.

    Returns the policy name (None when no policy covers the priority, which clears the
    deadlines). Idempotent: the result depends only on the ticket's priority and creation time.
    """
    policy = choose_policy(policy_targets(), ticket.priority)
    if policy is None:
        ticket.sla_policy_name = ticket.first_reply_due = ticket.resolution_due = None
        return None
    deadlines = compute_deadlines(policy, ALWAYS_OPEN, ticket.created_at)
    ticket.sla_policy_name = deadlines.policy_name
    ticket.first_reply_due = deadlines.first_reply_due
    ticket.resolution_due = deadlines.resolution_due
    return policy.name


def save_policy(*, name: str, priority: str, first_reply_minutes: int,
                resolution_minutes: int) -> SlaPolicy:
    """Create or update the policy of ``priority``."""
    policy = db.session.query(SlaPolicy).filter_by(priority=priority).one_or_none()
    if policy is None:
        policy = SlaPolicy(priority=priority)
        db.session.add(policy)
    policy.name = name
    policy.first_reply_minutes = first_reply_minutes
    policy.resolution_minutes = resolution_minutes
    db.session.flush()
    return policy
