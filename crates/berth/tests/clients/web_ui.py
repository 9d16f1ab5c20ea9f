"""The web UI in a real browser: Debian's Chromium driven by Playwright (no browser download).

Usage: web_ui.py BASE_URL LOGIN PASSWORD ENVIRONMENT REPOSITORY [SCREENSHOT_DIR]

Signs in, finds the environment in the list, opens its page and its terminal, types a command
and reads its output, checks the terminal follows the window's size, and sets a secret
BROWSER_SECRET for REPOSITORY (sealed by the page). With SCREENSHOT_DIR, saves the main pages
there. Exits non-zero (with Playwright's message) when anything is missing.
"""

import re
import sys

from playwright.sync_api import expect, sync_playwright

base, login, password, name, repository = sys.argv[1:6]
shots = sys.argv[6] if len(sys.argv) > 6 else None


def shot(page, file):
    if shots:
        page.screenshot(path=f"{shots}/{file}", full_page=True)


with sync_playwright() as p:
    browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
    page = browser.new_page(viewport={"width": 1100, "height": 700})
    page.set_default_timeout(20_000)

    # Signed out: sent to sign in, then back.
    page.goto(base + "/")
    expect(page).to_have_url(re.compile(r"/login\?next=%2F$"))
    shot(page, "sign-in.png")
    page.get_by_label("Username").fill(login)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("Incorrect username or password.")
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text(f"Signed in as {login}")).to_be_visible()

    # The environment in the list, its page, its terminal.
    link = page.get_by_role("link", name=name)
    expect(link).to_be_visible()
    shot(page, "environments.png")
    link.click()
    expect(page.locator("#state")).to_contain_text("Available")
    expect(page.locator("#log")).to_contain_text("codespace is Available")
    shot(page, "environment.png")
    page.get_by_role("link", name="Open a terminal").click()
    expect(page.locator("#terminal")).to_have_attribute("data-state", "open")
    page.locator("#terminal").click()
    page.keyboard.type("echo from-the-browser-$((6*7))\n")
    rows = page.locator(".xterm-rows")
    expect(rows).to_contain_text("from-the-browser-42")

    # The terminal follows the window: a smaller window, fewer columns inside.
    page.keyboard.type("clear; stty size\n")
    expect(rows).to_contain_text(re.compile(r"\b\d+ \d+\b"))
    before = re.search(r"\b(\d+) (\d+)\b", rows.inner_text()).group(2)
    page.set_viewport_size({"width": 700, "height": 600})
    page.wait_for_timeout(500)
    page.keyboard.type("clear; stty size\n")
    expect(rows).not_to_contain_text(re.compile(rf"\b\d+ {before}\b"))
    expect(rows).to_contain_text(re.compile(r"\b\d+ \d+\b"))
    page.set_viewport_size({"width": 1100, "height": 700})
    page.wait_for_timeout(300)
    page.keyboard.type("clear; echo ready for a screenshot\n")
    expect(rows).to_contain_text("ready for a screenshot")
    shot(page, "terminal.png")

    # A secret, sealed in the page: the value never leaves it in the clear.
    page.goto(base + "/settings/secrets")
    page.get_by_label("Name", exact=True).fill("BROWSER_SECRET")
    page.get_by_label("Value", exact=True).fill("sealed-in-the-browser")
    page.get_by_label(repository).check()
    with page.expect_request(lambda r: r.method == "POST") as posted:
        page.get_by_role("button", name="Save secret").click()
    assert "sealed-in-the-browser" not in (posted.value.post_data or ""), "plaintext was sent"
    expect(page.get_by_role("status")).to_have_text("The secret is saved.")
    expect(page.get_by_role("cell", name="BROWSER_SECRET", exact=True)).to_be_visible()
    shot(page, "secrets.png")

    # The image's package: its Codespaces access, and its visibility.
    page.goto(base + f"/packages/{login}")
    page.get_by_role("link", name=f"{login}/other").click()
    expect(page.get_by_role("cell", name=f"repository {repository}", exact=True)).to_be_visible()
    page.get_by_label("Public (anyone, anonymously)").check()
    page.get_by_role("button", name="Change visibility").click()
    expect(page.get_by_role("alert")).to_contain_text("making a package public is final")
    page.get_by_label("Public (anyone, anonymously)").check()
    page.get_by_label("I understand a public package cannot be made private or internal again").check()
    page.get_by_role("button", name="Change visibility").click()
    expect(page.get_by_role("status")).to_have_text("The visibility is changed.")
    shot(page, "package.png")

    page.goto(base + "/settings")
    expect(page.get_by_role("heading", name="Personal access tokens")).to_be_visible()
    shot(page, "account.png")
    browser.close()
print("web UI checked")
