"""Knowledge base: articles agents write in the console and the public help centre."""

from __future__ import annotations

from flask import Flask
from flask_babel import lazy_gettext as _l

from helpdesk.navigation import register_console_link


def init_app(app: Flask) -> None:
    from knowledgebase import models  # noqa: F401  (registers the table)
    from knowledgebase.views import console, public

    app.register_blueprint(console)
    app.register_blueprint(public)
    register_console_link(app, _l("Knowledge base"), "kb.articles")
