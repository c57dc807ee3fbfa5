"""Screenshots of the chat page as a person sees it, for the README.

    make run &                                    # the whole stack on the bundled corpus
    .venv/bin/python docs/make_screenshots.py [--url http://127.0.0.1:7860/]

Drives Debian's chromium (apt-get install -y chromium) through Playwright: asks a bundled
example and an out-of-scope question, and saves docs/chat-wide.png (1400x900) and
docs/chat-narrow.png (390 px wide).
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", default="http://127.0.0.1:7860/")
    ap.add_argument("--question", default="Which files can I upload?")
    args = ap.parse_args()
    chromium = shutil.which("chromium")
    if not chromium:
        raise SystemExit("chromium is not installed: apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    from pipeline.chat import ANSWERED_JS

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=chromium,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"],
        )
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(args.url)
        page.get_by_role("button", name="Send").wait_for(timeout=60_000)
        for question in (args.question, "What is the capital of Australia?"):
            before = page.locator(".message.user, [data-testid='user']").count()
            page.get_by_placeholder("Ask something about your documents").fill(question)
            page.get_by_role("button", name="Send").click()
            page.wait_for_function(
                ANSWERED_JS,
                arg=before,
                timeout=180_000,
            )
            if question == args.question:
                page.screenshot(path=str(HERE / "chat-wide.png"))
        page.set_viewport_size({"width": 390, "height": 844})
        page.wait_for_timeout(1500)  # let the chat re-lay itself out at the new width
        page.screenshot(path=str(HERE / "chat-narrow.png"), full_page=True)
        browser.close()
    print(f"wrote {HERE / 'chat-wide.png'} and {HERE / 'chat-narrow.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
