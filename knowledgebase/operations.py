"""Knowledge-base writes. They flush; the caller's unit of work commits."""

from __future__ import annotations

from helpdesk.auth.models import Agent
from helpdesk.db import db, utcnow
from knowledgebase.content import render_markdown, slug_from_title
from knowledgebase.models import SLUG_MAX, Article
from knowledgebase.queries import slugs_like

#: Slugs the help centre's own pages use (``/help/search``), so no article may take them.
RESERVED_SLUGS = frozenset({"search"})
# Room left in a slug for a "-<n>" suffix when the base is taken.
_SUFFIX_ROOM = 8


def create_article(*, title: str, body_markdown: str, author: Agent) -> Article:
    """Create a draft article with a slug unique among all articles.

    The slug comes from the title once and then stays, even if the title changes, so links
    people saved keep working. Not idempotent: each call creates an article.
    """
    title = title.strip()
    article = Article(title=title, slug=_unique_slug(title), body_markdown=body_markdown,
                      body_html=render_markdown(body_markdown), status="draft", author=author)
    db.session.add(article)
    db.session.flush()
    return article


def update_article(article: Article, *, title: str, body_markdown: str) -> bool:
    """Change title and body (re-rendering the HTML); returns whether anything changed.

    Idempotent: the same text again changes nothing, not even ``updated_at``.
    """
    title = title.strip()
    if (title, body_markdown) == (article.title, article.body_markdown):
        return False
    article.title = title
    if body_markdown != article.body_markdown:
        article.body_markdown = body_markdown
        article.body_html = render_markdown(body_markdown)
    article.updated_at = utcnow()
    db.session.flush()
    return True


def publish_article(article: Article) -> None:
    """Show the article in the public help centre. Idempotent: publishing twice keeps the time."""
    if article.status != "published":
        article.status = "published"
        article.published_at = utcnow()
        db.session.flush()


def unpublish_article(article: Article) -> None:
    """Take the article back to draft; the public gets 404 for it. Idempotent."""
    if article.status != "draft":
        article.status = "draft"
        article.published_at = None
        db.session.flush()


def _unique_slug(title: str) -> str:
    # A title of symbols only ("???") has no slug of its own; "article-2" etc. still read fine.
    base = slug_from_title(title, SLUG_MAX - _SUFFIX_ROOM) or "article"
    taken = slugs_like(base) | RESERVED_SLUGS
    if base not in taken:
        return base
    return next(f"{base}-{n}" for n in range(2, len(taken) + 3) if f"{base}-{n}" not in taken)
