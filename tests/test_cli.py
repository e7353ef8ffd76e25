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
            headers={"Content-Type": "application/fhir+json"},
        )
        assert created.status_code == 201
    finally:
        server.terminate()
        server.wait(timeout=30)


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
