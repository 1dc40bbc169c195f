"""Demo data for a first look: teams, agents, SLA policies, customers and a few tickets."""

from __future__ import annotations

import secrets

from sqlalchemy import select

from helpdesk.actors import SYSTEM
from helpdesk.auth.models import Agent
from helpdesk.auth.operations import create_agent
from helpdesk.customers.operations import find_or_create_customer, upsert_profile
from helpdesk.db import db
from helpdesk.sla.operations import save_policy
from helpdesk.teams.operations import create_team
from helpdesk.tickets.operations import add_internal_note, open_ticket, reply_to_customer

ADMIN_EMAIL = "admin@example.com"

# The same targets a migration gives every new installation; tests that build the schema
# with ``create_all`` load them with :func:`load_default_policies`.
DEFAULT_POLICIES = (
    # priority, name, first reply (min), resolution (min)
    ("urgent", "Urgent", 60, 8 * 60),
    ("high", "High", 4 * 60, 24 * 60),
    ("normal", "Normal", 8 * 60, 3 * 24 * 60),
    ("low", "Low", 24 * 60, 7 * 24 * 60),
)


def load_default_policies() -> None:
    """One "Standard" policy for every ticket, in calendar hours, with the targets above."""
    save_policy(None, name="Standard", position=0, targets={
        priority: {"first_reply": {"minutes": first_reply, "business_hours": False},
                   "resolution": {"minutes": resolution, "business_hours": False}}
        for priority, _, first_reply, resolution in DEFAULT_POLICIES})


def load_demo_data() -> tuple[str, str] | None:
    """Load the demo once; return the admin's (email, password), or None if already loaded."""
    if db.session.scalar(select(Agent.id).limit(1)) is not None:
        return None
    password = secrets.token_urlsafe(9)
    support = create_team("Support")
    billing = create_team("Billing")
    create_agent(email=ADMIN_EMAIL, name="Ada Admin", password=password, role="admin",
                 teams=[support, billing])
    agent = create_agent(email="li.wei@example.com", name="李伟 Li Wei",
                         password=secrets.token_urlsafe(12), teams=[support])
    acme, _ = upsert_profile("grace@acme.example", {
        "name": "Grace Hopper", "company": "Acme Corp", "tier": "VIP", "owner": "Sam Sales",
        "phone": "+1 555 0100", "tags": ["enterprise", "renewal-q4"]}, source="demo")
    zhang, _ = upsert_profile("zhang.min@example.cn", {
        "name": "张敏", "company": "上海云帆科技有限公司", "tier": "VIP", "owner": "王芳",
        "tags": ["A类客户"]}, source="demo")
    bob = find_or_create_customer("bob@example.org", "Bob Smith")

    first = open_ticket(SYSTEM, customer=acme, subject="Cannot export invoices to PDF",
                        body_text="Since this morning the export button does nothing.\n"
                                  "We need the invoices for our month-end close.",
                        channel="email", priority="high", team=billing, acknowledge=False)
    second = open_ticket(SYSTEM, customer=zhang, subject="发票抬头需要修改",
                         body_text="您好，我们公司名称变更了，请帮忙修改发票抬头。谢谢！",
                         channel="web", team=support, acknowledge=False)
    open_ticket(SYSTEM, customer=bob, subject="How do I reset my password?",
                body_text="I forgot my password and the reset mail never arrives.",
                channel="web", priority="low", acknowledge=False)
    add_internal_note(agent.as_actor(), agent, first,
                      body_text="Looks like the PDF worker queue is stuck; checking.")
    reply_to_customer(agent.as_actor(), agent, second,
                      body_text="张女士您好，请提供新的营业执照扫描件，我们会尽快处理。")
    return ADMIN_EMAIL, password
