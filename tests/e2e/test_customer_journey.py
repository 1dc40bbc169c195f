"""One customer's whole story, through the real product process and a real browser.

Web form -> acknowledgement mail -> agent reply by mail -> the customer answers by email
(IMAP) -> the answer lands on the same ticket -> solved -> survey mail -> the customer rates
-> the rating shows on the ticket and in the satisfaction report.

Set ``HELPDESK_SCREENSHOT=1`` to also write ``docs/screenshot-console.png`` (the README's
picture of the ticket page).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from playwright.sync_api import BrowserContext, FilePayload, Page, expect

from tests.e2e.conftest import ADMIN_NAME, REPO_ROOT, Helpdesk
from tests.services import ReceivedMessage

CUSTOMER_NAME = "Mei Lin"
CUSTOMER_EMAIL = "mei.lin@customer.example"
SUBJECT = "Invoice PDF will not open"
FIRST_MESSAGE = "Hello, the invoice PDF for March shows an error when I open it."
ATTACHMENT_NAME = "error-message.txt"
ATTACHMENT = b"Adobe Reader: There was an error opening this document (code 14).\n"
REPLY_TEXT = "Sorry about that, Mei! Could you tell us which PDF reader you use?"
EMAIL_ANSWER = "I use Firefox's built-in viewer, version 128."
SURVEY_COMMENT = "Quick and friendly, thank you!"

#: Longest wait for the poller (every second) to fetch and ingest the customer's email.
INGEST_TIMEOUT = 30.0
SCREENSHOT = REPO_ROOT / "docs" / "screenshot-console.png"


def plain_text(mail: ReceivedMessage) -> str:
    body = mail.message.get_body(("plain",))
    assert body is not None, f"mail {mail.message['Subject']!r} has no text/plain part"
    return str(body.get_content())


def header(mail: ReceivedMessage, name: str) -> str:
    value = mail.message[name]
    assert value is not None, f"mail {mail.message['Subject']!r} has no {name} header"
    return str(value).strip()


def test_customer_journey_from_web_form_to_satisfaction_report(
        helpdesk: Helpdesk, new_browser_context: Callable[..., BrowserContext]) -> None:
    # 1. The customer asks for help on the web form, with a file attached.
    customer = new_browser_context().new_page()
    customer.goto(helpdesk.url("/support"))
    customer.get_by_label("Your name").fill(CUSTOMER_NAME)
    customer.get_by_label("Your email").fill(CUSTOMER_EMAIL)
    customer.get_by_label("Subject").fill(SUBJECT)
    customer.get_by_label("How can we help?").fill(FIRST_MESSAGE)
    customer.get_by_label("Attachment (optional)").set_input_files(
        FilePayload(name=ATTACHMENT_NAME, mimeType="text/plain", buffer=ATTACHMENT))
    customer.get_by_role("button", name="Send request").click()

    expect(customer).to_have_url(re.compile(r"/support/submitted/\d+$"))
    reference = customer.locator("#ticket-reference")
    expect(reference).to_have_text(re.compile(r"^#\d+$"))
    ticket_id = int(reference.inner_text().removeprefix("#"))
    customer.context.close()

    acknowledgement = helpdesk.wait_for_mail(
        lambda mail: str(mail.message["Subject"]) == f"[#{ticket_id}] {SUBJECT}",
        "acknowledgement")
    assert acknowledgement.rcpt_tos == (CUSTOMER_EMAIL,)
    assert f"#{ticket_id}" in plain_text(acknowledgement)

    # 2. An agent logs in, finds the ticket in the queue, reads it and replies.
    agent = new_browser_context(viewport={"width": 1280, "height": 900}).new_page()
    agent.goto(helpdesk.url("/login"))
    agent.get_by_label("Email").fill(helpdesk.admin_email)
    agent.get_by_label("Password").fill(helpdesk.admin_password)
    agent.get_by_role("button", name="Log in").click()
    expect(agent).to_have_url(helpdesk.url("/console/"))
    expect(agent.locator(".who")).to_contain_text(ADMIN_NAME)

    row = agent.locator("table.tickets-table tbody tr").filter(has_text=SUBJECT)
    expect(row).to_have_count(1)
    expect(row.locator("td.ref")).to_have_text(str(ticket_id))
    expect(row).to_contain_text(CUSTOMER_NAME)
    row.get_by_role("link", name=SUBJECT).click()

    ticket_url = helpdesk.url(f"/console/tickets/{ticket_id}")
    expect(agent).to_have_url(ticket_url)
    expect(agent.locator("h1")).to_contain_text(SUBJECT)
    thread = agent.locator("ol.thread")
    first = thread.locator("li.msg").first
    expect(first).to_contain_text(FIRST_MESSAGE)
    expect(first).to_contain_text(CUSTOMER_EMAIL)
    attachment = first.get_by_role("link", name=re.compile(re.escape(ATTACHMENT_NAME)))
    expect(attachment).to_be_visible()
    download = agent.context.request.get(helpdesk.url(attachment.get_attribute("href") or ""))
    assert download.ok, download.status
    assert download.body() == ATTACHMENT

    reply_form = agent.locator(f"form[action$='/tickets/{ticket_id}/reply']")
    reply_form.get_by_label("Reply to customer").fill(REPLY_TEXT)
    reply_form.get_by_role("button", name="Send reply").click()
    expect(agent).to_have_url(ticket_url)
    expect(agent.locator(".flash.success")).to_have_text("Reply sent.")
    expect(thread.locator("li.msg.reply")).to_contain_text(REPLY_TEXT)

    reply = helpdesk.wait_for_mail(
        lambda mail: str(mail.message["Subject"]) == f"Re: [#{ticket_id}] {SUBJECT}",
        "agent reply")
    assert reply.rcpt_tos == (CUSTOMER_EMAIL,)
    assert REPLY_TEXT in plain_text(reply)
    reply_id = header(reply, "Message-ID")
    in_reply_to = header(reply, "In-Reply-To")
    references = header(reply, "References").split()
    assert in_reply_to in references
    assert reply_id not in references
    # The reply threads with the acknowledgement already in the customer's mailbox: they
    # share a Message-ID in their ancestry (RFC 5322 §3.6.4).
    acknowledgement_thread = {header(acknowledgement, "Message-ID"),
                              *str(acknowledgement.message["References"] or "").split()}
    assert acknowledgement_thread & set(references), (references, acknowledgement_thread)
    local, domain = helpdesk.support_address.split("@")
    assert re.fullmatch(rf"{re.escape(local)}\+t{ticket_id}\.[0-9a-f]{{16}}@{re.escape(domain)}",
                        header(reply, "Reply-To"))

    # 3. The customer answers by email. The subject was edited (no "[#n]" tag), so only the
    #    threading headers can tie the answer to the ticket.
    answer = EmailMessage()
    answer["From"] = f"{CUSTOMER_NAME} <{CUSTOMER_EMAIL}>"
    answer["To"] = helpdesk.support_address
    answer["Subject"] = f"Re: {SUBJECT} (more details)"
    answer["Date"] = format_datetime(datetime.now(UTC))
    answer["Message-ID"] = make_msgid(domain="customer.example")
    answer["In-Reply-To"] = reply_id
    answer["References"] = " ".join([*references, reply_id])
    answer.set_content(f"{EMAIL_ANSWER}\n\nOn Monday, {helpdesk.support_address} wrote:\n"
                       f"> {REPLY_TEXT}\n")
    helpdesk.deliver_to_inbox(answer.as_bytes())

    answered = thread.locator("li.msg.customer").filter(has_text=EMAIL_ANSWER)
    deadline = time.monotonic() + INGEST_TIMEOUT
    while answered.count() == 0:
        assert time.monotonic() < deadline, (
            f"the emailed answer did not appear on ticket #{ticket_id} within "
            f"{INGEST_TIMEOUT:g}s; the agent's queue shows:\n{queue_rows(agent, helpdesk)}")
        agent.wait_for_timeout(500)
        agent.goto(ticket_url)
    expect(answered).to_contain_text(CUSTOMER_EMAIL)
    expect(thread.locator("li.msg")).to_have_count(3)
    # ... and no second ticket was opened for it.
    agent.goto(helpdesk.url("/console/?queue=all&status=any"))
    expect(agent.locator("table.tickets-table tbody tr")).to_have_count(1)
    agent.goto(ticket_url)

    # 4. The agent marks the ticket solved; the survey invitation goes out.
    properties = agent.locator(f"form[action$='/tickets/{ticket_id}/properties']")
    # By name: the reply form's "Then set status" select has the same id ("status"), so the
    # sidebar's "Status" label points at that one instead.
    properties.locator("select[name=status]").select_option("solved")
    properties.get_by_role("button", name="Update").click()
    expect(agent.locator(".flash.success")).to_have_text("Ticket updated.")
    expect(agent.locator(".meta .status")).to_have_text("Solved")

    survey_mail = helpdesk.wait_for_mail(lambda mail: "/survey/" in plain_text(mail),
                                         "survey invitation")
    assert survey_mail.rcpt_tos == (CUSTOMER_EMAIL,)
    found = re.findall(rf"({re.escape(helpdesk.base_url)}/survey/[A-Za-z0-9._-]+\?rating=(\d))",
                       plain_text(survey_mail))
    links = {int(rating): link for link, rating in found}
    assert sorted(links) == [1, 2, 3, 4, 5], plain_text(survey_mail)

    # 5. The customer clicks "4" in the mail, then settles on 5 stars on the page.
    survey = new_browser_context().new_page()
    survey.goto(links[4])
    expect(survey.get_by_role("heading", name="How did we do?")).to_be_visible()
    expect(survey.get_by_label("Satisfied", exact=True)).to_be_checked()
    survey.get_by_label("Very satisfied", exact=True).check()
    survey.get_by_label("Anything you would like to tell us?").fill(SURVEY_COMMENT)
    survey.get_by_role("button", name="Send").click()
    expect(survey.get_by_role("heading", name="Thank you for your feedback!")).to_be_visible()
    survey.context.close()

    # 6. The agent sees the rating on the ticket and in the satisfaction report.
    agent.goto(ticket_url)
    satisfaction = agent.locator("#satisfaction")
    expect(satisfaction).to_contain_text("5/5")
    expect(satisfaction).to_contain_text(SURVEY_COMMENT)
    if os.environ.get("HELPDESK_SCREENSHOT") == "1":
        SCREENSHOT.parent.mkdir(exist_ok=True)
        agent.screenshot(path=str(SCREENSHOT), full_page=True)

    agent.get_by_role("navigation").get_by_role("link", name="Satisfaction").click()
    expect(agent).to_have_url(helpdesk.url("/console/reports/csat"))
    expect(agent.locator("#csat-average")).to_have_text("5.0")
    expect(agent.locator("#csat-percent")).to_have_text("100.0%")
    answer_row = agent.locator("tr").filter(
        has=agent.get_by_role("link", name=f"#{ticket_id}", exact=True))
    expect(answer_row).to_contain_text("5/5")
    expect(answer_row).to_contain_text(SURVEY_COMMENT)

    # Nothing else went out (no acknowledgement for the emailed answer, no duplicates), and
    # no background job failed along the way.
    assert len(helpdesk.smtp.messages) == 3, [m.message["Subject"] for m in helpdesk.smtp.messages]
    assert "Traceback" not in helpdesk.stderr(), helpdesk.stderr()


def queue_rows(page: Page, helpdesk: Helpdesk) -> str:
    page.goto(helpdesk.url("/console/?queue=all&status=any"))
    return page.locator("table.tickets-table tbody").inner_text()
