"""An admin sets up mail in the browser, against the real product process and Dovecot:
adds a second mailbox (a failed connection test first, then a working one), sees its mail
become a ticket, blocks a spam domain and finds the spam set aside with the rule named."""

from __future__ import annotations

import secrets
from collections.abc import Callable

from playwright.sync_api import BrowserContext, Locator, Page, expect

from tests.e2e.conftest import Helpdesk
from tests.email.conftest import customer_mail

SALES_ADDRESS = "sales@acme.test"
#: Longest wait for the watcher to pick up the new mailbox and ingest its mail.
INGEST_TIMEOUT_SECONDS = 30


def _log_in(page: Page, helpdesk: Helpdesk) -> None:
    page.goto(helpdesk.url("/login"))
    page.get_by_label("Email").fill(helpdesk.admin_email)
    page.get_by_label("Password").fill(helpdesk.admin_password)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("link", name="Tickets")).to_be_visible()


def test_admin_adds_a_mailbox_and_blocks_a_spam_domain_in_the_browser(
        helpdesk: Helpdesk, new_browser_context: Callable[..., BrowserContext]) -> None:
    sales_password = secrets.token_hex(8)
    helpdesk.dovecot.add_user("sales", sales_password)
    admin = new_browser_context().new_page()
    _log_in(admin, helpdesk)

    # 1. The mailbox list (settings sit in the bar's Admin menu): the one added with the
    #    CLI, with a link to edit it.
    expect(admin.get_by_role("link", name="Mailboxes")).to_be_hidden()
    admin.get_by_text("Admin", exact=True).click()
    admin.get_by_role("link", name="Mailboxes").click()
    support_row = admin.locator("tr", has_text=helpdesk.support_address)
    expect(support_row.get_by_role("link", name="Edit")).to_be_visible()

    # 2. A second mailbox, first with a mistyped password: the test says so, nothing saved.
    admin.get_by_role("link", name="Add mailbox").click()
    admin.get_by_label("Name").fill("sales")
    admin.get_by_label("Address customers write to").fill(SALES_ADDRESS)
    admin.get_by_label("IMAP server").fill(helpdesk.dovecot.host)
    admin.get_by_label("Security").select_option("none")
    admin.get_by_label("Port").fill(str(helpdesk.dovecot.port))
    admin.get_by_label("Login").fill("sales")
    admin.get_by_label("Password", exact=True).fill("mistyped")
    admin.get_by_role("button", name="Test connection").click()
    expect(admin.locator(".connection-test")).to_contain_text("Connection failed")

    # Secrets are not sent back to the browser: the password is typed again.
    expect(admin.get_by_label("Password", exact=True)).to_have_value("")
    admin.get_by_label("Password", exact=True).fill(sales_password)
    admin.get_by_role("button", name="Test connection").click()
    expect(admin.locator(".connection-test")).to_contain_text("Connection works")
    admin.get_by_label("Password", exact=True).fill(sales_password)
    admin.get_by_role("button", name="Save").click()
    expect(admin.get_by_role("status")).to_contain_text("Mailbox sales saved.")
    expect(admin.locator("tr", has_text=SALES_ADDRESS)).to_be_visible()

    # 3. Mail to the new mailbox becomes a ticket without anyone restarting anything.
    helpdesk.dovecot.append("sales", sales_password, customer_mail(
        subject="Quote for 40 seats", to=SALES_ADDRESS, sender="buyer@customer.example"))
    admin.goto(helpdesk.url("/console/"))
    ticket_link = admin.get_by_role("link", name="Quote for 40 seats")
    _reload_until(admin, ticket_link)
    expect(ticket_link).to_be_visible()

    # 4. A spam domain is blocked; its next mail is set aside with the rule that fired.
    admin.goto(helpdesk.url("/console/mailboxes"))
    admin.get_by_role("link", name="Blocked senders").click()
    admin.get_by_label("Address or @domain").fill("spam.example")
    admin.get_by_role("button", name="Block").click()
    expect(admin.locator("#pattern-error")).to_contain_text("@example.com")
    admin.get_by_label("Address or @domain").fill("@spam.example")
    admin.get_by_label("Note").fill("prize mail")
    admin.get_by_role("button", name="Block").click()
    blocked_row = admin.locator("table.blocked-senders tr", has_text="@spam.example")
    expect(blocked_row).to_contain_text("Ada Agent")

    helpdesk.deliver_to_inbox(customer_mail(subject="You won", sender="prize@spam.example",
                                            to=helpdesk.support_address))
    admin.get_by_role("link", name="Mail set aside (quarantined or dropped)").click()
    spam_row = admin.locator("table.set-aside tr", has_text="prize@spam.example")
    _reload_until(admin, spam_row)
    expect(spam_row).to_contain_text("blocked-sender")


def _reload_until(page: Page, locator: Locator) -> None:
    """Reload ``page`` until ``locator`` shows (the page does not update itself), for up to
    :data:`INGEST_TIMEOUT_SECONDS`; the caller's ``expect`` reports a miss."""
    for _ in range(INGEST_TIMEOUT_SECONDS):
        if locator.count():
            return
        page.wait_for_timeout(1000)
        page.reload()
