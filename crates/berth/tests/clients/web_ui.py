"""The web UI in a real browser: Debian's Chromium driven by Playwright (no browser download).

Usage: web_ui.py BASE_URL LOGIN PASSWORD ENVIRONMENT REPOSITORY [SCREENSHOT_DIR]

As LOGIN, who owns REPOSITORY (with a dev container) and the running ENVIRONMENT of it, and
whose image is the package LOGIN/other:
- signs in (with the keyboard alone), after a wrong password;
- creates an environment from the page, follows its log, types a command in its terminal and
  reads the output, checks the terminal follows the window's size, and deletes it;
- sets a secret BROWSER_SECRET for REPOSITORY, sealed by the page;
- changes the package's Codespaces access and its visibility;
- creates a token, uses it, revokes it; adds an SSH key;
- then visits every page a link leads to and checks each: the secret's value is nowhere in it,
  every field has a label, text keeps a contrast of 4.5:1 (3:1 when large) in the light and the
  dark scheme, and nothing runs off a 360-pixel-wide screen.
With SCREENSHOT_DIR, saves the main pages there. Exits non-zero (with Playwright's message or
what a check found) when anything is missing.
"""

import os
import re
import subprocess
import sys
import tempfile

from playwright.sync_api import expect, sync_playwright

base, login, password, name, repository = sys.argv[1:6]
shots = sys.argv[6] if len(sys.argv) > 6 else None
SECRET = "sealed-in-the-browser"

# The fields that have no label, by their HTML.
UNLABELLED = """() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
  .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))
  .map(e => e.outerHTML)"""

# Text whose contrast with what is behind it is under WCAG's AA: 4.5:1, or 3:1 for large text.
LOW_CONTRAST = """() => {
  const rgba = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const behind = (e) => {
    for (; e; e = e.parentElement) {
      const c = rgba(getComputedStyle(e).backgroundColor);
      if (c.length === 3 || (c.length === 4 && c[3] > 0)) return c;
    }
    return rgba(getComputedStyle(document.documentElement).backgroundColor).length ? [255, 255, 255] : [255, 255, 255];
  };
  const low = [];
  for (const e of document.querySelectorAll('body *')) {
    if (e.closest('.terminal, .visually-hidden, script, style, noscript')) continue;
    const own = [...e.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    if (!own || !e.getClientRects().length) continue;
    const s = getComputedStyle(e);
    const fg = rgba(s.color), bg = behind(e);
    const [a, b] = [lum(fg), lum(bg)].sort((x, y) => y - x);
    const ratio = (a + 0.05) / (b + 0.05);
    const size = parseFloat(s.fontSize), bold = Number(s.fontWeight) >= 700;
    const need = size >= 24 || (bold && size >= 18.66) ? 3 : 4.5;
    if (ratio < need) low.push(`${e.tagName} "${e.textContent.trim().slice(0, 40)}" ${ratio.toFixed(2)}:1`);
  }
  return low;
}"""

# The innermost elements that reach past the window's right edge (outside scrolling boxes).
OFF_SCREEN = """() => [...document.querySelectorAll('body *')]
  .filter(e => !e.closest('.scroll') && e.getBoundingClientRect().right > window.innerWidth + 1)
  .filter(e => ![...e.children].some(c => c.getBoundingClientRect().right > window.innerWidth + 1))
  .map(e => `${e.tagName}.${e.className} "${e.textContent.trim().slice(0, 40)}"`)"""


def shot(page, file):
    if shots:
        page.screenshot(path=f"{shots}/{file}", full_page=True)


def audit(page):
    """The checks every page passes, on the page the browser shows."""
    where = page.url
    assert SECRET not in page.content(), f"{where} shows the secret's value"
    unlabelled = page.evaluate(UNLABELLED)
    assert not unlabelled, f"{where}: fields without a label: {unlabelled}"
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        low = page.evaluate(LOW_CONTRAST)
        assert not low, f"{where} ({scheme}): low contrast: {low}"
    page.emulate_media(color_scheme="light")
    size = page.viewport_size
    page.set_viewport_size({"width": 360, "height": 640})
    wide = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    if wide > 1:
        off = page.evaluate(OFF_SCREEN)
        raise AssertionError(f"{where} runs {wide}px off a 360px-wide screen: {off}")
    page.set_viewport_size(size)


def crawl(page):
    """Visits every page of this site a link leads to, from the home page; audits each."""
    seen, queue = set(), ["/"]
    while queue:
        path = queue.pop(0)
        if path in seen:
            continue
        seen.add(path)
        response = page.goto(base + path)
        assert response.status < 400, f"{path}: {response.status}"
        audit(page)
        for href in page.eval_on_selector_all("a[href^='/']", "as => as.map(a => a.getAttribute('href'))"):
            href = href.split("#")[0]
            if href.startswith("/assets/") or href.endswith("/terminal"):
                continue
            if href not in seen:
                queue.append(href)
    assert len(seen) >= 7, f"only {sorted(seen)} were reached"
    return seen


with sync_playwright() as p:
    browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
    page = browser.new_page(viewport={"width": 1100, "height": 700})
    page.set_default_timeout(20_000)

    # Signed out: sent to sign in, then back; the second time with the keyboard alone.
    page.goto(base + "/")
    expect(page).to_have_url(re.compile(r"/login\?next=%2F$"))
    audit(page)
    shot(page, "sign-in.png")
    page.get_by_label("Username").fill(login)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("Incorrect username or password.")
    page.get_by_label("Password").focus()
    page.keyboard.press("Control+A")
    page.keyboard.type(password)
    page.keyboard.press("Enter")
    expect(page.get_by_text(f"Signed in as {login}")).to_be_visible()

    # The environment made before is in the list; one more is made here, from the page.
    expect(page.get_by_role("link", name=name)).to_be_visible()
    page.get_by_label("Repository (OWNER/NAME)").fill(repository)
    page.get_by_role("button", name="Create", exact=True).click()
    expect(page).to_have_url(re.compile(r"/environments/[a-z0-9-]+$"))
    made = page.url.rsplit("/", 1)[1]
    assert made != name
    expect(page.locator("#log")).to_contain_text("codespace is Available", timeout=120_000)
    # When the log ends, the page reloads itself to show the new state.
    expect(page.locator("#state")).to_contain_text("Available")
    shot(page, "environment.png")

    # Its terminal: a command typed, its output read; the window resized.
    page.get_by_role("link", name="Open a terminal").click()
    expect(page.locator("#terminal")).to_have_attribute("data-state", "open")
    page.locator("#terminal").click()
    page.keyboard.type("echo from-the-browser-$((6*7))\n")
    rows = page.locator(".xterm-rows")
    expect(rows).to_contain_text("from-the-browser-42")
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

    # Deleted from its page, it leaves the list.
    page.goto(base + f"/environments/{made}")
    page.get_by_role("button", name="Delete").click()
    expect(page).to_have_url(re.compile(r"/(\?.*)?$"))
    expect(page.get_by_role("link", name=made)).to_have_count(0)
    shot(page, "environments.png")

    # A secret, sealed in the page: the value never leaves it in the clear.
    page.goto(base + "/settings/secrets")
    page.get_by_label("Name", exact=True).fill("BROWSER_SECRET")
    page.get_by_label("Value", exact=True).fill(SECRET)
    page.get_by_label(repository).check()
    with page.expect_request(lambda r: r.method == "POST") as posted:
        page.get_by_role("button", name="Save secret").click()
    assert SECRET not in (posted.value.post_data or ""), "plaintext was sent"
    expect(page.get_by_role("status")).to_have_text("The secret is saved.")
    expect(page.get_by_role("cell", name="BROWSER_SECRET", exact=True)).to_be_visible()
    shot(page, "secrets.png")

    # The image's package: its Codespaces access (taken away and given back), its visibility.
    page.goto(base + f"/packages/{login}")
    page.get_by_role("link", name=f"{login}/other").click()
    granted = page.get_by_role("cell", name=f"repository {repository}", exact=True)
    expect(granted).to_be_visible()
    page.get_by_role("button", name=f"Remove the grant to repository {repository}").click()
    expect(page.get_by_role("status")).to_be_visible()
    expect(granted).to_have_count(0)
    page.get_by_label("Grant to").select_option("repository")
    page.get_by_label("Repository (OWNER/REPO), user login or team slug").fill(repository)
    page.get_by_role("button", name="Grant", exact=True).click()
    expect(granted).to_be_visible()
    page.get_by_label("Public (anyone, anonymously)").check()
    page.get_by_role("button", name="Change visibility").click()
    expect(page.get_by_role("alert")).to_contain_text("making a package public is final")
    page.get_by_label("Public (anyone, anonymously)").check()
    page.get_by_label("I understand a public package cannot be made private or internal again").check()
    page.get_by_role("button", name="Change visibility").click()
    expect(page.get_by_role("status")).to_have_text("The visibility is changed.")
    shot(page, "package.png")

    # A token: made with a scope, shown once, working; revoked, no longer.
    page.goto(base + "/settings")
    page.get_by_label("Note").fill("from the browser")
    page.get_by_label("repo", exact=True).check()
    page.get_by_role("button", name="Create token").click()
    token = page.locator("code.secret").inner_text()
    me = page.request.get(base + "/api/v3/user", headers={"Authorization": f"Bearer {token}"})
    assert me.status == 200 and me.json()["login"] == login, me.text()
    page.get_by_role("button", name="Revoke the token from the browser").click()
    expect(page.get_by_role("status")).to_have_text("The token is revoked.")
    gone = page.request.get(base + "/api/v3/user", headers={"Authorization": f"Bearer {token}"})
    assert gone.status == 401, gone.status

    # An SSH key.
    with tempfile.TemporaryDirectory() as keys:
        key = os.path.join(keys, "key")
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "browser", "-f", key], check=True)
        public = open(key + ".pub").read()
    page.get_by_label("Title").fill("laptop")
    page.get_by_label("Public key").fill(public)
    page.get_by_role("button", name="Add key").click()
    expect(page.get_by_role("status")).to_have_text("The key is added.")
    expect(page.get_by_role("cell", name="laptop", exact=True)).to_be_visible()
    shot(page, "account.png")

    # Every page: no secret value, labels, contrast, narrow screens.
    pages = crawl(page)
    browser.close()
print(f"web UI checked; {len(pages)} pages audited")
