"""The request boundary: one session per request, committed once or rolled back."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from screening.api.environment import FhirEnvironment
from screening.config import Config
from screening.db import make_engine, make_session_factory, transaction


@dataclass
class AppState:
    """What the app factory builds once: config, engine, sessions, FHIR definitions."""

    config: Config
    engine: Engine
    sessions: sessionmaker[Session]
    fhir: FhirEnvironment

    @classmethod
    def build(cls, config: Config) -> AppState:
        """Engine and sessions (no connection yet) and the loaded FHIR definitions."""
        engine = make_engine(config.database_url)
        return cls(config, engine, make_session_factory(engine), FhirEnvironment.build(config))


def app_state() -> AppState:
    """The AppState of the running app."""
    state: AppState = current_app.extensions["screening"]
    return state


@contextmanager
def unit_of_work(state: AppState, *, write: bool) -> Iterator[Session]:
    """A session for one request: commit when the block succeeds, roll back otherwise."""
    with transaction(state.sessions, write=write) as session:
        yield session
