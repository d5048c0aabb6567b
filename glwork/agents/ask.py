"""`glwork ask "question"`: the lab's reference CarbonQAAgent from a terminal.

Offline by default: the answer comes from the embedded local model (no key). The index of the
carbon corpus and a semantic cache of answers are kept in a folder (default: the kit's cache dir,
`carbon-qa/`), so the second run starts in seconds and a repeated question costs nothing.
"""
import json
import logging
import os
import sys
from pathlib import Path

from ..errors import ConfigurationError, LLMError

RULE = "=" * 60


class AskError(Exception):
    """Something the user can fix; the message says how."""


def default_store():
    from ..local.model import cache_dir
    return cache_dir() / "carbon-qa"


def _local_engine(extractive):
    """Make sure the local backend will answer with the model (or, if asked, the extractive fallback)."""
    wanted = "extractive" if extractive or os.environ.get("GLWORK_LOCAL_ENGINE") == "extractive" else "llama"
    os.environ["GLWORK_LOCAL_ENGINE"] = wanted
    from .. import local
    try:
        info = local.engine_info()
    except Exception as exc:   # missing runtime or model parts, bad hash, load failure
        info = {"engine": "none", "why": f"{type(exc).__name__}: {exc}"}
    if wanted == "llama" and info.get("engine") != "llama":
        from ..local.models import chosen
        raise AskError(
            f"the local model is not installed ({info.get('why') or 'unknown reason'}).\n"
            f"  Install it:  pip install llama-cpp-python && glwork models install {chosen().name}"
            f"   (`make setup` installs both)\n"
            f"  Or answer without it:  glwork ask --extractive \"...\"   (sentences quoted from the documents)\n"
            f"  Or go live:  set OPENAI_API_KEY and add --mode live")
    return info


def _cache(store, args, engine):
    from ..cache import Scope, SemanticCacheManager
    # Answers depend on all of these: a change gets its own cache entries.
    scope = Scope(provider=args.provider, model=args.model, extra={
        "mode": args.mode, "engine": engine, "top_k": args.top_k, "search": args.search_type,
        "max_tokens": args.max_tokens, "citations": args.cite})
    return SemanticCacheManager(path=store / "answers.sqlite", scope=scope)


def ask(args, out=None, err=None):
    """Run one question as `args` says (see glwork.cli); returns the result dict."""
    from ..local.models import chosen, using
    # Offline, answers come from the 1.5B (right far more often; see glwork.local.models) unless
    # GLWORK_LOCAL_MODEL or glwork.configure(local_model=...) says otherwise.
    with using(chosen("ask").name if args.mode == "local" else None):
        return _ask(args, out, err)


def _ask(args, out, err):
    from .. import config
    from .agent import AgentError
    from .carbon import CarbonQAAgent
    out, err = out or sys.stdout, err or sys.stderr
    question = (args.question or "").strip()
    if not question:
        raise AskError('give a question, e.g. glwork ask "What are Scope 1 emissions?"')
    config.configure(mode=args.mode)
    engine = None
    if args.mode == "local":
        engine = _local_engine(args.extractive).get("model")
    elif args.mode == "live" and not config.has_key(args.provider):
        names = ", ".join(config.PROVIDER_KEYS.get(args.provider, ()))
        raise AskError(f"--mode live needs a key for {args.provider} ({names}); without one, leave --mode local")
    store = Path(args.store) if args.store else default_store()
    store.mkdir(parents=True, exist_ok=True)
    cache = None if args.no_cache else _cache(store, args, engine)
    agent = CarbonQAAgent(args.provider, args.model, max_tokens=args.max_tokens, top_k=args.top_k,
                          search_type=args.search_type, citation_mode=args.cite, index_dir=store, cache=cache)
    if not (agent.index_path() / "manifest.json").exists():
        err.write(f"Indexing the carbon corpus (first run only, about a minute; saved in {store}) ...\n")
    try:
        with agent:
            saved_before = cache.stats()["cost_saved"] if cache else 0.0
            result = agent.execute_with_input({"query": question})
            saved = (cache.stats()["cost_saved"] - saved_before) if cache else 0.0
            calls = agent.session.get_calls()
    except AgentError as exc:
        cause = exc.__cause__ or exc
        raise AskError(getattr(cause, "message", None) or str(cause)) from None
    finally:
        if cache is not None:
            cache.close()
    if args.json:
        out.write(json.dumps(result, indent=2, ensure_ascii=False, default=str) + "\n")
    else:
        out.write(render(question, result, calls[-1] if calls and not result["cached"] else None, saved,
                         args.mode))
    return result


def render(question, result, call, saved, mode):
    """The result as the workshop's expected output prints it, plus where the answer came from."""
    lines = [RULE, f"Query: {question}", RULE, "", f"Answer: {result['answer']}", "",
             f"Sources: {len(result['sources'])} documents"]
    lines += [f"  [{i}] {s['id']} (score: {s['score']:.2f})" for i, s in enumerate(result["sources"], 1)]
    if result.get("citations"):
        lines += ["", "Citations:"] + [f"  {c}" for c in result["citations"]]
    lines.append("")
    if result["cached"]:
        lines += ["Cached: True  (semantic cache hit: no LLM call)",
                  f"Cost: ${result['cost']:.4f}" + (f"  (saved ${saved:.4f})" if saved else ""),
                  f"Tokens: {result['tokens']}"]
    else:
        where = ""
        if call is not None:
            source = "the local backend" if mode == "local" else call.provider
            where = f"  (answered by {call.model} on {source}"
            where += f"; estimated at {call.requested_model} prices)" if call.cost_is_estimate else ")"
        lines += ["Cached: False", f"Cost: ${result['cost']:.4f}" + where, f"Tokens: {result['tokens']}"]
    return "\n".join(lines) + "\n"


def add_parser(sub):
    """The `ask` subcommand's arguments (glwork.cli wires it in)."""
    p = sub.add_parser("ask", help="answer a carbon-accounting question with the lab's CarbonQAAgent (offline)")
    p.add_argument("question", nargs="?", help='e.g. "What are Scope 1 emissions?"')
    p.add_argument("--mode", choices=("local", "live"), default="local",
                   help="local (default): the embedded local model, no key; live: the provider, with its key")
    p.add_argument("--provider", default="openai", choices=("openai", "anthropic", "azure"))
    p.add_argument("--model", default="gpt-4", help="the model to ask (and to price a local answer at)")
    p.add_argument("--top-k", type=int, default=3, dest="top_k", help="documents to answer from (default 3)")
    p.add_argument("--hybrid", action="store_const", const="hybrid", default="semantic", dest="search_type",
                   help="hybrid search (keyword + semantic)")
    p.add_argument("--cite", action="store_true", help="citation mode: list the sources the answer cites")
    p.add_argument("--max-tokens", type=int, default=160, dest="max_tokens", help="longest answer (default 160)")
    p.add_argument("--no-cache", action="store_true", dest="no_cache", help="do not use or fill the answer cache")
    p.add_argument("--store", help="folder for the saved index and answer cache (default: <cache dir>/carbon-qa)")
    p.add_argument("--extractive", action="store_true",
                   help="without the local model: answer with sentences quoted from the documents")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    return p


def main(args):
    """Exit status for `glwork ask`: 0, or 1 with a message saying what to do."""
    if args.top_k < 1 or args.max_tokens < 1:
        print("glwork ask: --top-k and --max-tokens must be at least 1", file=sys.stderr)
        return 2
    agents_log = logging.getLogger("glwork.agents")
    level = agents_log.level
    agents_log.setLevel(logging.ERROR)   # a failed run is said once, below, not also as a log warning
    try:
        ask(args)
    except (AskError, ConfigurationError, LLMError) as exc:
        print(f"glwork ask: {exc}", file=sys.stderr)
        return 1
    finally:
        agents_log.setLevel(level)
    return 0
