"""The `screening` command: db upgrade, and serve answering on a real port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def _screening(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "screening.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_db_upgrade_then_serve(tmp_path: Path) -> None:
    env = {**os.environ, "SCREENING_DATABASE_URL": f"sqlite:///{tmp_path}/cli.db"}
    done = _screening("db", "upgrade", env=env)
    assert done.returncode == 0, done.stderr
    assert "head" in done.stdout
    made = _screening(
        "client", "create", "--name", "ward", "--scope", "system/Patient.cruds", env=env
    )
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    assert token.startswith("scr_") and "shown only now" in made.stderr
    port = _free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "screening.cli",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        response = _wait_for(f"http://127.0.0.1:{port}/fhir/metadata")
        assert response.json()["fhirVersion"] == "4.0.1"
        created = httpx.post(
            f"http://127.0.0.1:{port}/fhir/Patient",
            json={"resourceType": "Patient"},
            headers={"Content-Type": "application/fhir+json", "Authorization": f"Bearer {token}"},
        )
        assert created.status_code == 201
        refused = httpx.post(
            f"http://127.0.0.1:{port}/fhir/Patient",
            json={"resourceType": "Patient"},
            headers={"Content-Type": "application/fhir+json"},
        )
        assert refused.status_code == 401 and "Bearer" in refused.headers["WWW-Authenticate"]
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_user_and_client_commands(tmp_path: Path) -> None:
    env = {**os.environ, "SCREENING_DATABASE_URL": f"sqlite:///{tmp_path}/users.db"}
    assert _screening("db", "upgrade", env=env).returncode == 0
    made = subprocess.run(
        [sys.executable, "-m", "screening.cli", "user", "create", "--username", "Zahra",
         "--role", "centre-staff", "--organization", "herat-centre", "--password-stdin"],
        input="a long enough secret\n", env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    listed = _screening("user", "list", env=env).stdout
    assert "zahra\tcentre-staff centre=herat-centre\tactive" in listed
    no_centre = subprocess.run(
        [sys.executable, "-m", "screening.cli", "user", "create", "--username", "amir",
         "--role", "centre-staff", "--password-stdin"],
        input="a long enough secret\n", env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert no_centre.returncode == 2 and "--organization" in no_centre.stderr
    bad_scope = _screening("client", "create", "--name", "x", "--scope", "patient/*.read", env=env)
    assert bad_scope.returncode == 2 and "system scope" in bad_scope.stderr
    assert _screening("client", "create", "--name", "lab", "--scope", "system/*.read", env=env)
    assert "lab\tsystem/*.rs\tactive" in _screening("client", "list", env=env).stdout
    assert _screening("client", "revoke", "lab", env=env).returncode == 0
    assert "lab\tsystem/*.rs\trevoked" in _screening("client", "list", env=env).stdout


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    env = {**os.environ, "SCREENING_DATABASE_URL": f"sqlite:///{tmp_path}/x.db"}
    assert _screening(env=env).returncode == 2
    assert _screening("nonsense", env=env).returncode == 2


def _wait_for(url: str) -> httpx.Response:
    deadline = time.monotonic() + 60
    while True:
        try:
            return httpx.get(url, timeout=5)
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
