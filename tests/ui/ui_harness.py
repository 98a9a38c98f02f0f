"""The dashboard's browser tests: a store filled by the quickstart story, a real ``inprod serve``
on a loopback port, and Chromium driven by Playwright.

A module with its own name (not ``conftest``) so tests can import it unambiguously. Screenshots go
to ``test-artifacts/ui/`` (ignored by git).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from inprod.store import Store

HERE = Path(__file__).parent
ROOT = HERE.parents[1]
E2E = HERE.parent / "e2e"
SHOTS = ROOT / "test-artifacts" / "ui"
INPROD = Path(sys.executable).with_name("inprod")
CHROMIUM = os.environ.get("INPROD_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
STORY_TIMEOUT_S = 300


def run_story(home: Path) -> Store:
    """The quickstart's whole story (data, runs, a champion, served requests, review, a canary
    rolled back, drift and alerts) into a fresh SQLite store under ``home``."""
    home.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("INPROD_")}
    env["INPROD_HOME"] = str(home)
    result = subprocess.run(
        [str(INPROD), "quickstart", "--images", "300", "--requests", "200"],
        cwd=home,
        env=env,
        capture_output=True,
        text=True,
        timeout=STORY_TIMEOUT_S,
    )
    assert result.returncode == 0, f"quickstart failed:\n{result.stdout}\n{result.stderr}"
    return Store(f"sqlite:///{home / 'store.db'}", str(home / "artifacts"))


def shot(page: object, name: str) -> Path:
    """Save a full-page screenshot as a test artifact."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)  # type: ignore[attr-defined]
    return path


CANVAS_INK_JS = """
(el) => {
  const canvas = el.querySelector('canvas');
  if (!canvas || !canvas.width || !canvas.height) return 0;
  const ctx = canvas.getContext('2d');
  const data = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
  let ink = 0;
  for (let i = 3; i < data.length; i += 4) if (data[i] > 0) ink++;
  return ink;
}
"""


def chart_ink(locator: object) -> int:
    """How many pixels a chart's canvas has drawn (0: empty or missing)."""
    return locator.evaluate(CANVAS_INK_JS)  # type: ignore[attr-defined]
