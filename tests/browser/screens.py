"""Screenshots of the pages for people to look at, e.g. both languages side by side.

Nothing is saved unless `SCREENING_SCREENSHOTS` names a folder:

    SCREENING_SCREENSHOTS=/tmp/shots python -m pytest tests/browser

Each call saves one full-page PNG named after the test's own name for it and the viewport,
e.g. `home-fa-1024x768.png`; a later run overwrites it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.sync_api import Page

ENV = "SCREENING_SCREENSHOTS"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def screenshot_dir() -> Path | None:
    """The folder screenshots go to, or None when they are not wanted."""
    folder = os.environ.get(ENV, "").strip()
    return Path(folder) if folder else None


def shoot(page: Page, name: str) -> Path | None:
    """Save a full-page PNG of `page` as `<name>-<width>x<height>.png` in the screenshot
    folder (made if missing); returns its path, or None when screenshots are off."""
    folder = screenshot_dir()
    if folder is None:
        return None
    folder.mkdir(parents=True, exist_ok=True)
    size = page.viewport_size
    suffix = f"-{size['width']}x{size['height']}" if size else ""
    stem = _UNSAFE.sub("-", name).strip("-") or "page"
    path = folder / f"{stem}{suffix}.png"
    page.screenshot(path=str(path), full_page=True, animations="disabled")
    return path
