"""Mobility screening and rehabilitation referrals on FHIR R4."""

from __future__ import annotations

from typing import TYPE_CHECKING

from screening.config import Config
from screening.paths import data_dir

if TYPE_CHECKING:  # Flask is imported when an app is built, not by the command line tools
    from flask import Flask


def create_app(config: Config | None = None) -> Flask:
    """Build the app: config, shared state, blueprints. No queries, no migrations."""
    from flask import Flask

    config = config or Config.from_env()
    app = Flask(__name__, template_folder=str(data_dir("templates")))
    app.config.update(
        SECRET_KEY=config.secret_key,
        MAX_CONTENT_LENGTH=config.max_body_bytes + 1024,
        TESTING=config.testing,
    )
    from screening.api.views import bp as fhir_bp
    from screening.boundary import AppState

    app.extensions["screening"] = AppState.build(config)
    app.register_blueprint(fhir_bp)
    from screening.web import init_app as init_pages

    init_pages(app)
    return app
