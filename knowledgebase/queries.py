"""Knowledge-base reads."""

from __future__ import annotations

from sqlalchemy import Select, and_, case, or_, select

from helpdesk.db import db
from knowledgebase.models import Article

SEARCH_MAX_TERMS = 5
SEARCH_MAX_TERM_LENGTH = 100


def article_by_id(article_id: int) -> Article | None:
    return db.session.get(Article, article_id)


def published_article(slug: str) -> Article | None:
    """The published article at ``slug``; ``None`` for drafts, so the public cannot see them."""
    return db.session.scalar(
        select(Article).where(Article.slug == slug, Article.status == "published"))


def console_articles(*, before_id: int | None = None, limit: int = 50) -> list[Article]:
    """Every article, newest first (keyset: pass the last id seen as ``before_id``)."""
    return _newest_first(select(Article), before_id, limit)


def published_articles(*, before_id: int | None = None, limit: int = 50) -> list[Article]:
    """Published articles, newest first (keyset: pass the last id seen as ``before_id``)."""
    return _newest_first(select(Article).where(Article.status == "published"), before_id, limit)


def search_published(text: str, *, limit: int = 20) -> list[Article]:
    """Published articles containing every word of ``text`` in their title or body.

    Case-insensitive substring matching, so it works for Chinese, which has no spaces between
    words (``退款`` finds ``退款政策``). Title matches come first. A LIKE scan is fine for
    thousands of articles; full-text indexes (SQLite FTS5, PostgreSQL pg_trgm) are the step
    after that.
    """
    terms = [term[:SEARCH_MAX_TERM_LENGTH] for term in text.split()][:SEARCH_MAX_TERMS]
    if not terms:
        return []
    patterns = [f"%{_escape_like(term)}%" for term in terms]
    title_matches = and_(*(Article.title.ilike(p, escape="\\") for p in patterns))
    query = (select(Article)
             .where(Article.status == "published",
                    *(or_(Article.title.ilike(p, escape="\\"),
                          Article.body_markdown.ilike(p, escape="\\")) for p in patterns))
             .order_by(case((title_matches, 0), else_=1), Article.id.desc())
             .limit(limit))
    return list(db.session.scalars(query))


def slugs_like(base: str) -> set[str]:
    """Slugs in use that are ``base`` or ``base-<something>`` (candidates for a clash)."""
    return set(db.session.scalars(select(Article.slug).where(or_(
        Article.slug == base, Article.slug.like(f"{_escape_like(base)}-%", escape="\\")))))


def _newest_first(query: Select[tuple[Article]], before_id: int | None,
                  limit: int) -> list[Article]:
    if before_id is not None:
        query = query.where(Article.id < before_id)
    return list(db.session.scalars(query.order_by(Article.id.desc()).limit(limit)))


def _escape_like(text: str) -> str:
    """Make ``%`` and ``_`` in user text match themselves in a LIKE pattern."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
