"""Agent console for articles (``/console/kb``) and the public help centre (``/help``)."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.wrappers import Response

from helpdesk.db import db
from helpdesk.extensions import login_manager
from knowledgebase.forms import ArticleForm
from knowledgebase.models import Article
from knowledgebase.operations import (
    create_article,
    publish_article,
    unpublish_article,
    update_article,
)
from knowledgebase.queries import (
    article_by_id,
    console_articles,
    published_article,
    published_articles,
    search_published,
)

PAGE_SIZE = 50

console = Blueprint("kb", __name__, url_prefix="/console/kb", template_folder="templates")
public = Blueprint("help", __name__, url_prefix="/help", template_folder="templates")


@console.before_request
def require_agent() -> Response | None:
    # One check for the whole blueprint, so a new console page cannot forget it.
    if not current_user.is_authenticated:
        response: Response = login_manager.unauthorized()
        return response
    return None


def _article_or_404(article_id: int) -> Article:
    article = article_by_id(article_id)
    if article is None:
        abort(404)
    return article


def _next_before(items: list[Article]) -> int | None:
    return items[-1].id if len(items) == PAGE_SIZE else None


@console.get("/")
def articles() -> str:
    items = console_articles(before_id=request.args.get("before", type=int), limit=PAGE_SIZE)
    return render_template("knowledgebase/console_list.html", articles=items,
                           next_before=_next_before(items))


@console.route("/new", methods=["GET", "POST"])
def new_article() -> str | Response:
    form = ArticleForm()
    if form.validate_on_submit():
        article = create_article(title=form.title.data or "",
                                 body_markdown=form.body_markdown.data or "", author=current_user)
        db.session.commit()
        flash(_("Draft saved."), "success")
        return redirect(url_for("kb.edit_article", article_id=article.id))
    return render_template("knowledgebase/console_edit.html", form=form, article=None)


@console.route("/<int:article_id>/edit", methods=["GET", "POST"])
def edit_article(article_id: int) -> str | Response:
    article = _article_or_404(article_id)
    form = ArticleForm(obj=article)
    if form.validate_on_submit():
        if update_article(article, title=form.title.data or "",
                          body_markdown=form.body_markdown.data or ""):
            db.session.commit()
            flash(_("Article saved."), "success")
        return redirect(url_for("kb.edit_article", article_id=article.id))
    return render_template("knowledgebase/console_edit.html", form=form, article=article)


@console.post("/<int:article_id>/publish")
def publish(article_id: int) -> Response:
    publish_article(_article_or_404(article_id))
    db.session.commit()
    flash(_("Published in the help centre."), "success")
    return redirect(url_for("kb.edit_article", article_id=article_id))


@console.post("/<int:article_id>/unpublish")
def unpublish(article_id: int) -> Response:
    unpublish_article(_article_or_404(article_id))
    db.session.commit()
    flash(_("Moved back to draft; the public no longer sees it."), "success")
    return redirect(url_for("kb.edit_article", article_id=article_id))


@public.get("")
def index() -> str:
    items = published_articles(before_id=request.args.get("before", type=int), limit=PAGE_SIZE)
    return render_template("knowledgebase/help_index.html", articles=items,
                           next_before=_next_before(items))


@public.get("/search")
def search() -> str:
    text = request.args.get("q", "").strip()
    return render_template("knowledgebase/help_search.html", q=text,
                           articles=search_published(text))


@public.get("/<slug>")
def article(slug: str) -> str:
    found = published_article(slug)
    if found is None:
        abort(404)
    return render_template("knowledgebase/help_article.html", article=found)
