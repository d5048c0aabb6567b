"""`glwork record`: re-run notebooks in record mode, keep only clean cassettes, refresh outputs."""
import contextlib
import json
import os
import re
import shutil
import tempfile
from pathlib import Path

from .. import config
from ..errors import ConfigurationError
from .cassettes import check_clean

_CALL = re.compile(r"glwork\.notebook\(\s*[\"']([\w\-/]+)[\"']")


def notebooks_dir():
    for base in [Path.cwd(), *Path.cwd().parents]:
        if (base / "notebooks").is_dir() and (base / "cassettes").is_dir():
            return base / "notebooks"
    raise ConfigurationError("Run `glwork record` from the kit's folder (the one with notebooks/ and cassettes/).")


def find_notebooks(names=None):
    """{cassette name: notebook path} for notebooks that call glwork.notebook(NAME)."""
    found = {}
    for path in sorted(notebooks_dir().rglob("*.ipynb")):
        if ".ipynb_checkpoints" in path.parts:
            continue
        cells = json.loads(path.read_text()).get("cells", [])
        code = "\n".join("".join(c.get("source", "")) for c in cells if c.get("cell_type") == "code")
        m = _CALL.search(code)
        if m:
            found[m.group(1)] = path
    if names:
        missing = [n for n in names if n not in found]
        if missing:
            raise ConfigurationError(f"No notebook calls glwork.notebook() with {', '.join(missing)}. "
                                     f"Known: {', '.join(found)}.")
        found = {n: found[n] for n in names}
    return found


@contextlib.contextmanager
def _env(**values):
    old = {k: os.environ.get(k) for k in values}
    os.environ.update({k: v for k, v in values.items() if v is not None})
    for k, v in values.items():
        if v is None:
            os.environ.pop(k, None)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def record(names=None, backend="live", refresh_outputs=True, log=print):
    """Record each notebook's cassette (against `backend`: "live" or "local"); returns paths written."""
    if backend not in ("live", "local"):
        raise ConfigurationError("backend must be 'live' or 'local'.")
    if backend == "live" and not any(config.has_key(p) for p in config.PROVIDER_KEYS):
        raise ConfigurationError("Recording live needs a provider key (OPENAI_API_KEY, ANTHROPIC_API_KEY or "
                                 "AZURE_OPENAI_API_KEY); or record against the local model with --backend local.")
    import papermill
    books = find_notebooks(names)
    cassettes = notebooks_dir().parent / "cassettes"
    written = []
    for name, path in books.items():
        with tempfile.TemporaryDirectory() as tmp:
            log(f"recording {name} ({path.name}) against the {backend} backend ...")
            # A ledger of the run's own: the user's ledger (and its warnings) stay out of the outputs.
            with _env(GLWORK_MODE="record", GLWORK_RECORD_BACKEND=backend, GLWORK_CASSETTE_DIR=tmp,
                      GLWORK_LEDGER=str(Path(tmp) / "ledger.sqlite3")):
                papermill.execute_notebook(str(path), str(Path(tmp) / "run.ipynb"), cwd=str(path.parent),
                                           kernel_name="python3", progress_bar=False)
            new = Path(tmp) / f"{name}.yaml"
            if not new.exists():   # no provider call: an empty cassette, so the notebook replays like the others
                log(f"  {name} made no provider calls; its cassette is empty")
                write_empty(new, backend)
            check_clean(new)  # deletes it and raises if anything secret-shaped slipped through
            target = cassettes / f"{name}.yaml"
            shutil.move(str(new), target)
            written.append(target)
            log(f"  wrote {target}")
        if refresh_outputs:
            refresh(path)
            log(f"  refreshed stored outputs of {path.name} (replay mode)")
    return written


def write_empty(path, backend):
    """A cassette with no interactions, with its provenance, for a notebook that calls no provider."""
    import datetime as dt

    import yaml
    label = "glwork local backend" if backend == "local" else "live provider APIs"
    Path(path).write_text(yaml.safe_dump({"interactions": [], "version": 1, "metadata": {"provenance": {
        "recorded_on": dt.date.today().isoformat(), "backend": label, "models": [], "interactions": 0}}}))


def refresh(path):
    """Execute a notebook in replay mode and store its outputs in place (what nbval compares)."""
    import nbformat
    from nbclient import NotebookClient
    from nbconvert.preprocessors.coalescestreams import CoalesceStreamsPreprocessor
    nb = nbformat.read(str(path), as_version=4)
    # Strict: a request the new cassette does not hold means the notebook and its recording disagree.
    with tempfile.TemporaryDirectory() as tmp, \
            _env(GLWORK_MODE="replay", GLWORK_CASSETTE_DIR=None, GLWORK_RECORD_BACKEND=None, GLWORK_REPLAY_STRICT="1",
                 GLWORK_STATIC_FIGURES="1", GLWORK_LEDGER=str(Path(tmp) / "ledger.sqlite3")):
        # No widget state: a plotly FigureWidget stores plotly.js (5 MB) in it; the widgets redraw when run.
        NotebookClient(nb, timeout=900, kernel_name="python3", store_widget_state=False,
                       resources={"metadata": {"path": str(path.parent)}}).execute()
    nb.metadata.pop("widgets", None)
    # a streamed answer as one output, not one per token (Jupyter shows them alike; nbval joins them too)
    CoalesceStreamsPreprocessor().preprocess(nb, {})
    count = 0
    for cell in nb.cells:  # counts 1..n, so a re-run changes no line of the file but real outputs
        if cell.cell_type == "code":
            count += 1
            cell.execution_count = count
            cell.metadata.pop("execution", None)   # run timestamps: noise in every diff
            for out in cell.get("outputs", []):
                if "execution_count" in out:
                    out["execution_count"] = count
    nbformat.write(nb, str(path))
