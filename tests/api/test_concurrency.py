"""Many clients updating one resource at once never lose an update."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from flask import Flask
from werkzeug.serving import make_server

from conftest import api_token

CLIENTS = 8
UPDATES = 10


@pytest.fixture
def auth(app: Flask) -> dict[str, str]:
    """The Authorization header of an API client with every scope."""
    return {"Authorization": f"Bearer {api_token(app)}"}


@pytest.fixture
def server(app: Flask) -> Iterator[str]:
    srv = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_port}/fhir"
    srv.shutdown()
    thread.join()


def _put(http: httpx.Client, marker: str, if_match: str | None) -> int:
    body = {"resourceType": "Patient", "id": "shared", "name": [{"family": marker}]}
    headers = {"Content-Type": "application/fhir+json"}
    if if_match:
        headers["If-Match"] = if_match
    return http.put("/Patient/shared", json=body, headers=headers).status_code


def _history_markers(http: httpx.Client) -> list[str]:
    history = http.get("/Patient/shared/_history", params={"_count": "500"}).json()
    return [e["resource"]["name"][0]["family"] for e in history["entry"]]


def test_blind_updates_all_land_as_versions(server: str, auth: dict[str, str]) -> None:
    with httpx.Client(base_url=server, timeout=60, headers=auth) as http:
        assert _put(http, "start", None) == 201

        def client(n: int) -> list[int]:
            return [_put(http, f"c{n}-u{i}", None) for i in range(UPDATES)]

        with ThreadPoolExecutor(CLIENTS) as pool:
            statuses = [s for result in pool.map(client, range(CLIENTS)) for s in result]
        landed = statuses.count(200)
        assert set(statuses) <= {200, 409}
        final = http.get("/Patient/shared").json()
        assert int(final["meta"]["versionId"]) == 1 + landed
        markers = _history_markers(http)
        assert len(markers) == len(set(markers)) == 1 + landed


def test_conditional_updates_land_or_get_412(server: str, auth: dict[str, str]) -> None:
    with httpx.Client(base_url=server, timeout=60, headers=auth) as http:
        assert _put(http, "start", None) == 201
        outcome: Counter[int] = Counter()
        won: list[str] = []
        lock = threading.Lock()

        def client(n: int) -> None:
            for i in range(UPDATES):
                etag = http.get("/Patient/shared").headers["ETag"]
                status = _put(http, f"c{n}-u{i}", etag)
                with lock:
                    outcome[status] += 1
                    if status == 200:
                        won.append(f"c{n}-u{i}")

        with ThreadPoolExecutor(CLIENTS) as pool:
            list(pool.map(client, range(CLIENTS)))
        assert set(outcome) <= {200, 409, 412}
        assert outcome[200] >= 1
        final = http.get("/Patient/shared").json()
        assert int(final["meta"]["versionId"]) == 1 + outcome[200]
        assert sorted(_history_markers(http)[:-1]) == sorted(won)
