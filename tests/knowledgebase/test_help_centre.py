"""The agent console for articles and the public help centre, through HTTP."""

from urllib.parse import quote

import pytest
from sqlalchemy import func, select

from helpdesk.db import db
from knowledgebase.models import Article
from knowledgebase.operations import create_article, publish_article
from tests.conftest import csrf_token, login, post_form


def _published(agent, title, body="Body"):
    article = create_article(title=title, body_markdown=body, author=agent)
    publish_article(article)
    db.session.commit()
    return article


def _write_article(client, title, body):
    return post_form(client, "/console/kb/new", "/console/kb/new",
                     {"title": title, "body_markdown": body})


def test_agent_writes_and_publishes_an_article_that_the_public_then_reads(app, client, agent):
    login(client, agent.email)
    response = _write_article(client, "Reset your password", "Use the **Forgot** link.")
    article = db.session.scalar(select(Article))
    assert response.status_code == 302 and article.status == "draft"
    edit_url = f"/console/kb/{article.id}/edit"
    post_form(client, edit_url, f"/console/kb/{article.id}/publish", {})

    public = app.test_client()
    assert "Reset your password" in public.get("/help").text
    page = public.get("/help/reset-your-password")
    assert page.status_code == 200 and "<strong>Forgot</strong>" in page.text


def test_draft_is_hidden_from_the_public(app, client, agent):
    create_article(title="Secret plans", body_markdown="Unreleased", author=agent)
    db.session.commit()
    assert client.get("/help/secret-plans").status_code == 404
    assert "Secret plans" not in client.get("/help").text
    assert "Secret plans" not in client.get("/help/search?q=Unreleased").text


def test_unpublished_article_is_gone_from_the_public(app, client, agent):
    article = _published(agent, "Old offer")
    login(client, agent.email)
    post_form(client, f"/console/kb/{article.id}/edit", f"/console/kb/{article.id}/unpublish", {})
    assert app.test_client().get("/help/old-offer").status_code == 404


def test_search_finds_a_chinese_word_inside_the_body(app, client, agent):
    _published(agent, "售后说明", "我们的退款政策：七天内无理由退货。")
    _published(agent, "发票", "电子发票在订单完成后开具。")
    page = client.get("/help/search?q=" + quote("退款"))
    assert "售后说明" in page.text and "发票" not in page.text
    assert f'href="/help/{quote("售后说明")}"' in page.text
    assert client.get(f"/help/{quote('售后说明')}").status_code == 200


def test_search_ignores_case(app, client, agent):
    _published(agent, "Refund policy")
    assert "Refund policy" in client.get("/help/search?q=REFUND").text


def test_search_treats_like_wildcards_as_plain_characters(app, client, agent):
    _published(agent, "100% refund")
    _published(agent, "1000 days")
    _published(agent, "reset_token expired")
    _published(agent, "reset token expired")
    assert "1000 days" not in client.get("/help/search?q=" + quote("100%")).text
    found = client.get("/help/search?q=reset_token").text
    assert "reset_token expired" in found and "reset token expired" not in found


def test_search_words_must_all_match_and_title_matches_come_first(app, client, agent):
    # The title match is older, so newest-first order alone would list it second.
    _published(agent, "Refund on delivery", "Details")
    _published(agent, "Shipping times", "Refund on late delivery")
    _published(agent, "Refund by card", "Card only")
    page = client.get("/help/search?q=refund+delivery").text
    assert "Refund by card" not in page
    assert page.index("Refund on delivery") < page.index("Shipping times")


def test_search_term_is_escaped_in_the_results_page(app, client):
    page = client.get("/help/search?q=" + quote("<script>alert(1)</script>"))
    assert "<script>alert(1)</script>" not in page.text


def test_script_in_markdown_never_reaches_the_public_page(app, client, agent):
    login(client, agent.email)
    _write_article(client, "Tricky", '<script>alert("kb")</script>\n\n[x](javascript:alert(1))')
    article = db.session.scalar(select(Article))
    publish_article(article)
    db.session.commit()
    page = app.test_client().get("/help/tricky").text
    assert '<script>alert("kb")</script>' not in page
    assert 'href="javascript' not in page


def test_missing_title_is_reported_next_to_the_field(app, client, agent):
    login(client, agent.email)
    response = _write_article(client, "", "Body")
    assert response.status_code == 200
    assert 'id="title-error"' in response.text
    assert db.session.scalar(select(func.count(Article.id))) == 0


def test_form_post_without_csrf_token_is_refused(app, client, agent):
    login(client, agent.email)
    response = client.post("/console/kb/new", data={"title": "X", "body_markdown": "Y"})
    assert response.status_code == 400
    assert db.session.scalar(select(func.count(Article.id))) == 0


def test_console_lists_drafts_and_published_articles(app, client, agent):
    create_article(title="Draft one", body_markdown="x", author=agent)
    _published(agent, "Public one")
    login(client, agent.email)
    page = client.get("/console/kb/").text
    assert "Draft one" in page and "Public one" in page


@pytest.mark.parametrize(("method", "path"), [
    ("get", "/console/kb/"),
    ("get", "/console/kb/new"),
    ("post", "/console/kb/new"),
    ("get", "/console/kb/{id}/edit"),
    ("post", "/console/kb/{id}/edit"),
    ("post", "/console/kb/{id}/publish"),
    ("post", "/console/kb/{id}/unpublish"),
])
def test_console_pages_require_login(app, client, agent, method, path):
    article = create_article(title="Internal", body_markdown="x", author=agent)
    db.session.commit()
    # A valid CSRF token, so the login check (not the CSRF check) is what refuses the POST.
    data = {"csrf_token": csrf_token(client.get("/login").text)} if method == "post" else None
    response = getattr(client, method)(path.format(id=article.id), data=data)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")
    db.session.refresh(article)
    assert article.status == "draft"
