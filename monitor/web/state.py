"""What the views reach through the app: the process's `MonitorState`, the request's session, CSRF.

The app (app.py) fills these in; the blueprints read them from here, so that no blueprint
imports the module that registers it.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, current_app, g
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from ..settings import Settings

LANGUAGES = ("da", "en")
csrf = CSRFProtect()


@dataclass
class MonitorState:
    """What the app holds for the life of the process."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]


def state(app: Flask | None = None) -> MonitorState:
    """The `MonitorState` of `app` (default: the current app)."""
    found = (app or current_app).extensions["monitor"]
    assert isinstance(found, MonitorState), "the app was not made by create_app"
    return found


def db_session() -> Session:
    """The request's session, opened on first use and closed at the end of the request."""
    if "db_session" not in g:
        g.db_session = state().sessions()
    session: Session = g.db_session
    return session
