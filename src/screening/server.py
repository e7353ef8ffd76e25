"""Run the app under gunicorn (threaded workers), configured from the command line."""

from __future__ import annotations

from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication


class _Gunicorn(BaseApplication):  # type: ignore[misc]
    """gunicorn with an app object built in each worker."""

    def __init__(self, factory: Any, options: dict[str, Any]) -> None:
        self.factory = factory
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        app: Flask = self.factory()
        from screening.fhir.validation import warm_up

        warm_up(app.extensions["screening"].fhir.validator)
        return app


def serve(factory: Any, host: str, port: int, workers: int, threads: int) -> None:
    """Serve until interrupted; each worker process calls `factory()` once."""
    options = {
        "bind": f"{host}:{port}",
        "workers": workers,
        "threads": threads,
        "worker_class": "gthread",
        "accesslog": "-",
        # The path without its query string: searches carry names and identifiers.
        "access_log_format": '%(h)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms',
        "timeout": 60,
    }
    _Gunicorn(factory, options).run()
