"""Turning an agent's Markdown into safe HTML, and titles into URL slugs."""

from __future__ import annotations

import re
import unicodedata

from markdown_it import MarkdownIt

from helpdesk.tickets.content import sanitize_html

# Raw HTML off: an article is Markdown, and markup typed into it shows as text. The sanitiser
# still runs on the output as the second lock (links, image sources, anything a plugin emits).
_markdown = MarkdownIt("commonmark", {"html": False}).enable("table")
_NOT_SLUG_CHARS = re.compile(r"[^\w]+")


def render_markdown(text: str) -> str:
    """Sanitised HTML for Markdown ``text``."""
    return sanitize_html(_markdown.render(text))


def slug_from_title(title: str, max_length: int) -> str:
    """A readable URL slug: lower-cased words joined by hyphens, at most ``max_length`` long.

    Letters of every script are kept (``\\w`` is Unicode-aware), so a Chinese title keeps its
    characters -- browsers show them in the address bar and ``url_for`` percent-encodes them.
    NFKC first folds full-width forms (``ＦＡＱ？`` -> ``FAQ?``). May return ``""`` for a title
    of symbols only; the caller picks a fallback.
    """
    text = unicodedata.normalize("NFKC", title).lower()
    return _NOT_SLUG_CHARS.sub("-", text).strip("-_")[:max_length].rstrip("-_")
