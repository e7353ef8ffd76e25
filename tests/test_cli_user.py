"""`screening user create --registration --profession`: what a letter prints of the user."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import create_engine, text


def _create(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "screening.cli", "user", "create", "--password-stdin", *args],
        input="a long enough secret\n",
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _accounts(url: str) -> dict[str, tuple[str, str]]:
    """username: (registration, profession) of every account."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT username, registration, profession FROM user_account"))
            return {name: (registration, profession) for name, registration, profession in rows}
    finally:
        engine.dispose()


def test_user_create_with_registration_and_profession(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/users.db"
    env = {**os.environ, "SCREENING_DATABASE_URL": url}
    upgraded = subprocess.run(
        [sys.executable, "-m", "screening.cli", "db", "upgrade"],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert upgraded.returncode == 0, upgraded.stderr
    made = _create(
        env, "--username", "farid", "--role", "clinician",
        "--registration", "MoPH-PT-10482", "--profession", "physiotherapist",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert _create(env, "--username", "omid", "--role", "auditor").returncode == 0

    unknown = _create(env, "--username", "amir", "--role", "clinician", "--profession", "surgeon")
    assert unknown.returncode == 2
    assert "Unknown profession 'surgeon'; professions: physiotherapist," in unknown.stderr
    control = _create(env, "--username", "amir", "--role", "clinician", "--registration", "A\tB")
    assert control.returncode == 2 and "control characters" in control.stderr
    long = _create(env, "--username", "amir", "--role", "clinician", "--registration", "9" * 65)
    assert long.returncode == 2 and "at most 64 characters" in long.stderr
    assert _accounts(url) == {  # the refused accounts were not created
        "farid": ("MoPH-PT-10482", "physiotherapist"),
        "omid": ("", ""),
    }
    listed = subprocess.run(
        [sys.executable, "-m", "screening.cli", "user", "list"],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    assert "farid\tclinician\tactive\tphysiotherapist MoPH-PT-10482\n" in listed.stdout
    assert "omid\tauditor\tactive\n" in listed.stdout
