"""A real JupyterLab for the browser tests: started on 127.0.0.1 with a token over a copy of some of the
kit's notebooks and their cassettes (Lab's autosave never touches the repository), fresh user
config/data/runtime dirs, and Debian's Chromium driven by Playwright (no browser is downloaded).

The news prompt is NOT switched off here: the kit's own lab settings (`make lab` copies
binder/lab-settings/overrides.json into the venv) must do that, and the tests check it."""
import contextlib
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

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "build" / "screenshots"
CHROMIUM_FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--no-first-run"]
KEYS = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "AZURE_OPENAI_API_KEY", "AZURE_OPENAI_AD_TOKEN",
        "OPENAI_BASE_URL", "ANTHROPIC_BASE_URL", "AZURE_OPENAI_ENDPOINT", "SLACK_WEBHOOK_URL")
NEWS_PROMPT = "get notified about official Jupyter news"


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


@contextlib.contextmanager
def jupyterlab(tmp, notebooks, log_name):
    """Yield {"url", "token"} of a JupyterLab serving copies of `notebooks` (names under notebooks/)."""
    work = tmp / "kit"
    (work / "notebooks").mkdir(parents=True)
    (work / "cassettes").mkdir()
    for name in notebooks:
        shutil.copy(ROOT / "notebooks" / f"{name}.ipynb", work / "notebooks")
        if (ROOT / "cassettes" / f"{name}.yaml").exists():
            shutil.copy(ROOT / "cassettes" / f"{name}.yaml", work / "cassettes")
    settings = tmp / "lab-settings"
    # Every cell in the DOM (no virtual scrolling), no autosave. (No news setting: see the module doc.)
    write(settings / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings",
          '{"windowingMode": "none"}')
    write(settings / "@jupyterlab" / "docmanager-extension" / "plugin.jupyterlab-settings", '{"autosave": false}')
    token = secrets.token_hex(16)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in KEYS and not k.startswith("GLWORK_")}
    env.update(JUPYTER_CONFIG_DIR=str(tmp / "config"), JUPYTER_DATA_DIR=str(tmp / "data"),
               JUPYTER_RUNTIME_DIR=str(tmp / "runtime"), JUPYTERLAB_SETTINGS_DIR=str(settings),
               JUPYTERLAB_WORKSPACES_DIR=str(tmp / "workspaces"), GLWORK_LEDGER=str(tmp / "ledger.sqlite3"),
               HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    cmd = [str(Path(sys.executable).parent / "jupyter"), "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
           f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={work}"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    SHOTS.mkdir(parents=True, exist_ok=True)
    log = open(ROOT / "build" / log_name, "w")
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
                    pytest.fail(f"JupyterLab did not start (see build/{log_name}); exit code {proc.poll()}")
                time.sleep(0.5)
        yield {"url": url, "token": token, "work": work}
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def open_notebook(page, lab, name):
    from playwright.sync_api import expect
    page.goto(f"{lab['url']}/lab/tree/notebooks/{name}.ipynb?token={lab['token']}")
    page.wait_for_selector(".jp-NotebookPanel .jp-Notebook", timeout=120_000)
    expect(page.locator("#jp-main-statusbar")).to_contain_text("Idle", timeout=120_000)


def run_all(page):
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()


def tracebacks(page):
    """Error outputs and stderr tracebacks shown anywhere in the notebook."""
    errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']",
                          has_text="Traceback")
    return errors.count() + page.locator(".jp-RenderedText[data-mime-type='application/vnd.jupyter.error']").count()


def news_prompt_shown(page):
    return page.get_by_text(NEWS_PROMPT).count() > 0


def shot(page, locator, name):
    locator.scroll_into_view_if_needed()
    page.wait_for_timeout(500)   # let plotly finish drawing
    page.screenshot(path=str(SHOTS / name))
