"""The playground in a real JupyterLab, driven by Playwright in Debian's headless Chromium.

Starts JupyterLab on 127.0.0.1 with a token (on a copy of the playground and its cassette, so Lab's
autosave never touches the repository), runs every cell, then:
  - types a question into the chat box and presses Enter: a streamed reply appears (in replay mode
    typed questions go to the embedded local model, so it answers offline);
  - checks the three dashboards redrew after that call;
  - moves the RAG tuner's top_k slider with the keyboard: the table changes to that many rows.
Screenshots land in build/screenshots/. No browser is downloaded: Chromium is Debian's package
(`make e2e` installs it), Playwright only drives it.
"""
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

try:
    from playwright.sync_api import expect
except ImportError:   # reported by the test itself
    expect = None

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "build" / "screenshots"
CHROMIUM_FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--no-first-run"]
KEYS = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "AZURE_OPENAI_API_KEY", "AZURE_OPENAI_AD_TOKEN",
        "OPENAI_BASE_URL", "ANTHROPIC_BASE_URL", "AZURE_OPENAI_ENDPOINT", "SLACK_WEBHOOK_URL")
QUESTION = "What is a carbon offset? One sentence."
RUN_ALL_S = 900        # MiniLM load, the cache, 149 chunks embedded, on a busy 2-core machine
REPLY_S = 600          # the local model loads, then answers (the first time ~30-60 s)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(2400)]


def chromium():
    path = os.environ.get("GLWORK_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        pytest.fail("Debian's chromium is not installed: `make e2e` installs it (apt-get install chromium); "
                    "or point GLWORK_CHROMIUM at a Chromium binary. Playwright's own browser download is not used.")
    return path


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """JupyterLab on 127.0.0.1 with a token, fresh config/data/runtime dirs, over a copy of the kit's notebook."""
    tmp = tmp_path_factory.mktemp("lab")
    work = tmp / "kit"
    (work / "notebooks").mkdir(parents=True)
    (work / "cassettes").mkdir()
    shutil.copy(ROOT / "notebooks" / "playground.ipynb", work / "notebooks")
    shutil.copy(ROOT / "cassettes" / "playground.yaml", work / "cassettes")
    settings = tmp / "lab-settings"
    # Every cell in the DOM (no virtual scrolling), no news pop-up, no autosave.
    write(settings / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings",
          '{"windowingMode": "none"}')
    write(settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings",
          '{"fetchNews": "false", "checkForUpdates": false}')
    write(settings / "@jupyterlab" / "docmanager-extension" / "plugin.jupyterlab-settings", '{"autosave": false}')
    token = secrets.token_hex(16)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in KEYS and not k.startswith("GLWORK_")}
    env.update(JUPYTER_CONFIG_DIR=str(tmp / "config"), JUPYTER_DATA_DIR=str(tmp / "data"),
               JUPYTER_RUNTIME_DIR=str(tmp / "runtime"), JUPYTERLAB_SETTINGS_DIR=str(settings),
               JUPYTERLAB_WORKSPACES_DIR=str(tmp / "workspaces"), GLWORK_LEDGER=str(tmp / "ledger.sqlite3"),
               HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    cmd = [str(Path(sys.executable).parent / "jupyter"), "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
           f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={work}", "--LabApp.news_url=None",
           "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    SHOTS.mkdir(parents=True, exist_ok=True)
    log = open(ROOT / "build" / "e2e-jupyterlab.log", "w")
    proc = subprocess.Popen(cmd, cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 120
        while True:
            try:
                urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2).read()
                break
            except OSError:
                if proc.poll() is not None or time.time() > deadline:
                    pytest.fail(f"JupyterLab did not start (see build/e2e-jupyterlab.log); exit code {proc.poll()}")
                time.sleep(0.5)
        yield {"url": url, "token": token}
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def updates(page):
    """The dashboards' redraw counters, top to bottom."""
    texts = page.locator(".glw-dashboard .glw-updates").all_text_contents()
    return [int(re.search(r"\d+", t).group()) for t in texts]


# Each dashboard's chart as drawn by plotly in the page: a subplot title, and marks for the calls so far.
DRAWN = [("Hits and misses (cumulative)", ".scatterlayer .points path", 3),
         ("Cost per day", ".barlayer .point", 3),
         ("Latency of successful attempts", ".scatterlayer .points path", 2)]


def expect_drawn(page):
    for n, (title, marks, least) in enumerate(DRAWN):
        dash = page.locator(".glw-dashboard").nth(n)
        dash.scroll_into_view_if_needed()
        expect(dash.locator(".js-plotly-plot .annotation-text", has_text=title)).to_be_visible(timeout=30_000)
        page.wait_for_function("([n, sel, least]) => document.querySelectorAll('.glw-dashboard')[n]"
                               ".querySelectorAll(sel).length >= least", arg=[n, marks, least], timeout=30_000)


def shot(page, locator, name):
    locator.scroll_into_view_if_needed()
    page.wait_for_timeout(500)   # let plotly finish drawing
    page.screenshot(path=str(SHOTS / name))


def test_playground_in_jupyterlab(lab):
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("Playwright is not installed: `make e2e` installs it (pip install playwright; no browser download).")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=CHROMIUM_FLAGS, headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 1100})
        console = []
        page.on("console", lambda m: console.append(f"{m.type}: {m.text}") if m.type == "error" else None)
        try:
            page.goto(f"{lab['url']}/lab/tree/notebooks/playground.ipynb?token={lab['token']}")
            page.wait_for_selector(".jp-NotebookPanel .jp-Notebook", timeout=120_000)
            expect(page.locator("#jp-main-statusbar")).to_contain_text("Idle", timeout=120_000)

            # Run ▸ Run All Cells, and wait for the last cell's output.
            page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
            page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
            expect(page.locator(".jp-OutputArea-output", has_text="calls in the ledger:")).to_be_visible(
                timeout=RUN_ALL_S * 1000)
            expect(page.locator(".glw-rag-table")).to_be_visible()
            assert page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']",
                                has_text="Traceback").count() == 0
            shot(page, page.locator(".glw-chat"), "01-run-all-chat.png")

            # The chat: type, Enter, a reply streams in under the recorded ones.
            footers = page.locator(".glw-chat .glw-footer")
            before_footers = footers.count()
            assert before_footers == 2          # the two recorded replies (a miss, then a cache hit)
            before_updates = updates(page)
            box = page.locator(".glw-chat-input input")
            box.scroll_into_view_if_needed()
            box.fill(QUESTION)
            box.press("Enter")
            expect(page.locator(".glw-chat", has_text=QUESTION)).to_be_visible(timeout=30_000)
            page.wait_for_function(
                "n => document.querySelectorAll('.glw-chat .glw-footer').length > n"
                " || document.querySelector('.glw-chat .glw-error-box') !== null",
                arg=before_footers, timeout=REPLY_S * 1000)
            assert page.locator(".glw-chat .glw-error-box").count() == 0, \
                page.locator(".glw-chat .glw-error-box").first.text_content()
            reply = page.locator(".glw-chat .glw-reply").last.text_content().strip()
            assert len(reply) > 5, f"empty reply: {reply!r}"
            assert "answered by openai / " in footers.last.text_content()
            shot(page, page.locator(".glw-chat"), "02-chat-reply.png")

            # The dashboards redrew after that call (cache lookup, ledger row, provider request).
            page.wait_for_function(
                "before => { const now = [...document.querySelectorAll('.glw-dashboard .glw-updates')]"
                ".map(e => parseInt(e.textContent.match(/\\d+/)[0]));"
                " return now.length === before.length && now.every((n, i) => n > before[i]); }",
                arg=before_updates, timeout=60_000)
            assert len(before_updates) == 3
            expect_drawn(page)
            for n, name in enumerate(("cache", "cost", "health")):
                shot(page, page.locator(".glw-dashboard").nth(n), f"03-{name}-dashboard-after-chat.png")

            # The tuner: top_k 4 -> 2 with the keyboard on the slider; the table follows.
            rows = page.locator(".glw-rag-table tbody tr")
            assert rows.count() == 4
            before_table = page.locator(".glw-rag-table").inner_html()
            handle = page.locator(".glw-top-k .noUi-handle")
            handle.scroll_into_view_if_needed()
            handle.focus()
            handle.press("ArrowLeft")
            handle.press("ArrowLeft")
            expect(rows).to_have_count(2, timeout=60_000)
            assert page.locator(".glw-rag-table").inner_html() != before_table
            expect(page.locator(".glw-rag-status")).to_contain_text("2 chunks")
            shot(page, page.locator(".glw-rag-tuner"), "04-tuner-top-k-2.png")
        except Exception:
            page.screenshot(path=str(SHOTS / "failure.png"))
            print("browser console errors:", *console[-20:], sep="\n  ")
            raise
        finally:
            browser.close()
