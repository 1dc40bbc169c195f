"""The public support form: customers open tickets from the web."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from channels.webform.views import bp

    app.register_blueprint(bp)
