"""What the pages answer when the FHIR door refuses: unknown or hidden records are 404
(the same as for ids that never existed), other refusals 403; ids from URLs checked."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

from flask import abort

from screening.fhir.outcome import Forbidden, Gone, NotFound

SAFE_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")


@contextmanager
def refusals() -> Iterator[None]:
    """Unknown, deleted or hidden records as 404; refusals as 403."""
    try:
        yield
    except (NotFound, Gone):
        abort(404)
    except Forbidden:
        abort(403)


def checked_id(value: str) -> str:
    """A well-formed FHIR id from a URL, or 404."""
    if not SAFE_ID.match(value):
        abort(404)
    return value
