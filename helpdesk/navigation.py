"""Console navigation that outer packages extend without the core knowing them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flask import Flask, current_app

_KEY = "helpdesk.console_links"
_SOURCE_KEY = "helpdesk.source_links"


@dataclass(frozen=True, slots=True)
class ConsoleLink:
    label: str
    endpoint: str
    #: Admin-only links are settings: the bar gathers them under one "Admin" menu, so the
    #: links agents use all day stay in view.
    admin_only: bool = False
    #: A count shown next to the label when above zero (read while the page renders).
    badge: Callable[[], int] | None = None
    #: Place in the bar, lowest first; links of equal order keep their registration order.
    order: int = 100


def register_console_link(app: Flask, label: str, endpoint: str, admin_only: bool = False,
                          badge: Callable[[], int] | None = None, order: int = 100) -> None:
    """Add a link to the console's top bar (``label`` may be a lazy translation)."""
    app.extensions.setdefault(_KEY, []).append(
        ConsoleLink(label, endpoint, admin_only, badge, order))


def console_links() -> list[ConsoleLink]:
    return sorted(current_app.extensions.get(_KEY, []), key=lambda link: link.order)


def register_source_link(app: Flask, link: Callable[[str], str | None]) -> None:
    """Let an outer package link a message's ``source_ref`` (the raw email it came from) to
    a page showing that original; ``link`` answers ``None`` for references not its own."""
    app.extensions.setdefault(_SOURCE_KEY, []).append(link)


def source_link(reference: str | None) -> str | None:
    """The URL showing the original a message came from, if a package knows one."""
    if not reference:
        return None
    for link in current_app.extensions.get(_SOURCE_KEY, []):
        url: str | None = link(reference)
        if url:
            return url
    return None
