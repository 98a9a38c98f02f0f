"""The dashboard screenshots in docs/img/, taken on the benchmark store (30 days of traffic).

Run: .venv/bin/python benchmarks/ui/screenshots.py   (builds the store first if page_times.py
has not; needs Chromium at /usr/bin/chromium)
"""

from __future__ import annotations

from page_times import DATA, ROOT, build, serve
from playwright.sync_api import sync_playwright

OUT = ROOT / "docs" / "img"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip
SHOTS = {
    "dashboard-overview.png": "/ui/",
    "dashboard-endpoint.png": "/ui/endpoints/phone-inspector?window=24h",
    "dashboard-review.png": "/ui/review?endpoint=phone-inspector",
    # the quickstart's retraining request (sweep, gate, re-scored window): the store's first, in a
    # store built since retraining joined the story (page_times.py --rebuild)
    "dashboard-retraining.png": "/ui/retraining/1",
}


def main() -> None:
    home = DATA / "p1000000-d30"
    if not (home / "built.json").exists():
        build(home, 1_000_000, 30).close()
    OUT.mkdir(parents=True, exist_ok=True)
    process, url = serve(home)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            for name, path in SHOTS.items():
                page.goto(url + path)
                page.wait_for_load_state("networkidle")
                page.screenshot(path=str(OUT / name), full_page=True)
                print("wrote", OUT / name)
            browser.close()
    finally:
        process.terminate()
        process.wait(30)


if __name__ == "__main__":
    main()
