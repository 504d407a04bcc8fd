"""Refresh docs/screenshots/ from the example project, as a reader of the docs would see it.

Runs ``scripts/run-example.sh`` in a scratch folder (SQLite and the filesystem broker, a port of its own) for a
minute so that runs pile up, photographs the admin in headless Chromium (scripts/install-browser.sh), then stops
the example with one SIGINT. Needs the package installed in the virtualenv running this script:

    .venv/bin/python scripts/take-screenshots.py
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOTS = ROOT / "docs" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
PORT = os.environ.get("EXAMPLE_PORT", "8765")
HISTORY_SECONDS = float(os.environ.get("SCREENSHOT_HISTORY_SECONDS", "75"))


def start_example(var_dir: Path) -> subprocess.Popen[bytes]:
    env = {key: value for key, value in os.environ.items() if key not in {"DJANGO_SETTINGS_MODULE", "PYTHONPATH"}}
    env.update(
        EXAMPLE_VAR_DIR=str(var_dir),
        EXAMPLE_PORT=PORT,
        BEAT_STORE_VENV=str(Path(sys.executable).parent.parent),
        BEAT_STORE_EXAMPLE_SKIP_INSTALL="1",
    )
    log = (var_dir.parent / "example.log").open("wb")
    return subprocess.Popen(
        ["bash", "scripts/run-example.sh"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def wait_for_admin(deadline: float) -> None:
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{PORT}/admin/login/", timeout=2)
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


def photograph(page: Any) -> None:
    shoot = lambda name: page.screenshot(path=str(SCREENSHOTS / name), full_page=True)  # noqa: E731
    page.goto("/admin/beat_store/schedule/")
    shoot("schedule-list.png")
    page.goto("/admin/beat_store/execution/")
    shoot("execution-list.png")
    page.goto("/admin/beat_store/schedule/")
    page.click("#result_list a:text-is('slow-every-20-seconds')")
    page.wait_for_selector("svg.beat-store-chart")
    page.locator(".beat-store-history").scroll_into_view_if_needed()
    shoot("schedule-change-chart.png")
    page.goto("/admin/beat_store/schedule/add/")
    page.fill("#id_name", "weekday report")
    page.fill("#id_task", "demo.tasks.quick")
    page.select_option("#id_trigger-kind", "cron")
    page.fill("#id_trigger-cron_expression", "0 9 * * mon-fri")
    page.wait_for_selector(".beat-store-fire-times li")
    shoot("schedule-form-preview.png")
    page.fill("#id_trigger-cron_expression", "61 9 * * mon-fri")
    page.click("input[name=_save]")
    page.wait_for_selector(".errornote")
    shoot("schedule-form-error.png")


def main() -> int:
    from playwright.sync_api import sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="beat_store-screenshots-") as scratch:
        example = start_example(Path(scratch) / "var")
        try:
            wait_for_admin(time.monotonic() + 120)
            time.sleep(HISTORY_SECONDS)  # let beat and the worker write some history
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"], headless=True)
                context = browser.new_context(
                    viewport={"width": 1400, "height": 900}, base_url=f"http://127.0.0.1:{PORT}"
                )
                context.set_default_timeout(20_000)
                page = context.new_page()
                page.goto("/admin/login/?next=/admin/")
                page.fill("#id_username", "admin")
                page.fill("#id_password", "admin")
                page.click("input[type=submit]")
                page.wait_for_selector("#site-name")
                photograph(page)
                browser.close()
        finally:
            os.killpg(example.pid, signal.SIGINT)
            example.wait(90)
    print(f"Screenshots written to {SCREENSHOTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
