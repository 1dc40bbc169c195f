"""Article operations on SQLite and PostgreSQL."""

from sqlalchemy import select

from helpdesk.db import db
from knowledgebase.models import Article
from knowledgebase.operations import (
    create_article,
    publish_article,
    unpublish_article,
    update_article,
)


def test_same_chinese_title_twice_gets_distinct_readable_slugs(any_db_app, agent):
    first = create_article(title="退款政策", body_markdown="一", author=agent)
    second = create_article(title="退款政策", body_markdown="二", author=agent)
    assert (first.slug, second.slug) == ("退款政策", "退款政策-2")


def test_title_of_symbols_only_gets_a_fallback_slug(any_db_app, agent):
    assert create_article(title="???", body_markdown="x", author=agent).slug == "article"


def test_article_titled_search_cannot_shadow_the_search_page(any_db_app, agent):
    assert create_article(title="Search", body_markdown="x", author=agent).slug != "search"


def test_editing_rerenders_the_body_and_keeps_the_slug(any_db_app, agent):
    article = create_article(title="Refunds", body_markdown="old", author=agent)
    assert update_article(article, title="Refund policy", body_markdown="**new**")
    assert article.slug == "refunds"
    assert article.body_html == "<p><strong>new</strong></p>\n"


def test_saving_unchanged_text_changes_nothing(any_db_app, agent):
    article = create_article(title="Refunds", body_markdown="text", author=agent)
    before = article.updated_at
    assert not update_article(article, title=" Refunds ", body_markdown="text")
    assert article.updated_at == before


def test_publish_twice_keeps_the_first_publication_time(any_db_app, agent):
    article = create_article(title="Refunds", body_markdown="text", author=agent)
    publish_article(article)
    published_at = article.published_at
    publish_article(article)
    db.session.commit()
    stored = db.session.scalar(select(Article))
    assert stored.is_published and stored.published_at == published_at


def test_unpublish_returns_the_article_to_draft(any_db_app, agent):
    article = create_article(title="Refunds", body_markdown="text", author=agent)
    publish_article(article)
    unpublish_article(article)
    assert (article.status, article.published_at) == ("draft", None)
