"""Chat engines behind the local backend: the llama.cpp model, or an extractive fallback.

An engine's `chat(req)` is a generator of events: ("start", prompt_tokens) first (it may repeat if
the engine retries), then ("text", piece)s, then one ("done", GenResult). Closing it early stops
the generation.
"""
import atexit
import contextlib
import json
import logging
import os
import queue
import threading
import time
from importlib.metadata import PackageNotFoundError, version

from ..security import get_logger
from .cpu import spare_threads
from .generation import ContextLengthError, GenRequest, GenResult  # noqa: F401  (the engines' interface)

log = get_logger("glwork.local")

DEFAULT_TEMPERATURE = 0.2   # the OpenAI default (1.0) makes a 0.5B model ramble
DEFAULT_SEED = 0            # fixed: the same request gives the same answer
DEFAULT_MAX_TOKENS = 400  # a request without max_tokens: ~10 s on 2 cores, not minutes
ENGINE_ENV = "GLWORK_LOCAL_ENGINE"   # auto (default) | llama | extractive
_END = object()


def _pkg_version(name):
    try:
        return version(name)
    except PackageNotFoundError:
        return "?"


class LlamaEngine:
    """A local GGUF chat model (see models.py) run by llama-cpp-python on the CPU.

    One worker thread loads the model and runs every generation. Not only because a Llama is not
    thread-safe: its OpenMP pool slows every call by ~35% on 2 cores once a second thread has
    called into it (measured; each calling thread gets its own spinning team).
    """

    name = "llama"

    def __init__(self, model=None, model_path=None, n_ctx=4096, n_threads=2):
        from .model import gguf_path
        from .models import chosen, get

        spec = chosen() if model is None else get(model) if isinstance(model, str) else model
        self.model_path = str(model_path or gguf_path(spec))
        self.model = spec.id     # the id every response carries
        self.n_ctx, self.n_threads = n_ctx, n_threads
        self._jobs = queue.Queue()
        self._grammars = {}
        self._llm = None
        self._threads = n_threads
        threading.Thread(target=self._work, name="glwork-llama", daemon=True).start()
        t0 = time.perf_counter()
        try:
            self._call(self._load)
        except BaseException:
            self._jobs.put(None)    # let the worker thread end
            raise
        self.load_seconds = time.perf_counter() - t0

    def _load(self):
        import llama_cpp
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter
        self._llm = llama_cpp.Llama(model_path=self.model_path, n_ctx=self.n_ctx,
                                    n_threads=self.n_threads, seed=DEFAULT_SEED, verbose=False)
        # The GGUF's own chat template (Qwen's, with <tools> and <tool_call> support).
        self._format = Jinja2ChatFormatter(self._llm.metadata["tokenizer.chat_template"],
                                           eos_token="<|im_end|>", bos_token="")

    def _work(self):
        while True:
            job = self._jobs.get()
            if job is None:
                return
            fn, out, cancel = job
            try:
                with one_at_a_time():
                    result = fn(cancel)
                    if hasattr(result, "__next__"):     # a generation: pass its events on
                        with contextlib.closing(result):
                            for event in result:
                                if cancel.is_set():
                                    break
                                out.put(event)
                    else:
                        out.put(("result", result))
            except BaseException as exc:   # re-raised in the caller's thread
                out.put(("error", exc))
            finally:
                out.put(_END)

    def _submit(self, fn):
        """Run fn(cancel) on the worker; yield what it produces in the calling thread."""
        out, cancel = queue.Queue(), threading.Event()
        self._jobs.put((fn, out, cancel))
        try:
            while True:
                item = out.get()
                if item is _END:
                    return
                if item[0] == "error":
                    raise item[1]
                yield item
        finally:
            cancel.set()    # the caller stopped listening (client gone): stop generating

    def _call(self, fn):
        return next((v for k, v in self._submit(lambda cancel: fn()) if k == "result"), None)

    def close(self):
        """Free the model now (after any running job). Registered at exit: Llama's own __del__
        fails noisily at interpreter teardown."""
        def free():
            if self._llm is not None:
                self._llm.close()
                self._llm = None
        try:
            self._call(free)
        finally:
            self._jobs.put(None)

    def info(self):
        return {"engine": self.name, "model": self.model,
                "runtime": f"llama-cpp-python {_pkg_version('llama_cpp_python')}",
                "model_path": self.model_path, "n_ctx": self.n_ctx,
                "load_seconds": round(self.load_seconds, 2)}

    def count_tokens(self, text):
        return len(self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def _grammar(self, schema):
        from llama_cpp.llama_grammar import JSON_GBNF, LlamaGrammar
        key = json.dumps(schema, sort_keys=True) if schema else ""
        if key not in self._grammars:
            try:
                g = LlamaGrammar.from_json_schema(key, verbose=False) if schema else None
            except Exception:   # a schema feature the converter lacks: plain JSON still holds
                g = None
            self._grammars[key] = g or LlamaGrammar.from_string(JSON_GBNF, verbose=False)
        return self._grammars[key]

    def prompt_text(self, req, with_tools=True):
        msgs = []
        for m in (req.messages if with_tools else _plain_history(req.messages)):
            out = {"role": m["role"], "content": m.get("content") or ""}
            if m.get("tool_calls"):
                out["tool_calls"] = [{"type": "function", "function": {
                    "name": c["name"], "arguments": c["arguments"]}} for c in m["tool_calls"]]
            msgs.append(out)
        tools = None
        if with_tools and req.tools:
            tools = [{"type": "function", "function": {
                "name": t["name"], "description": t.get("description", ""),
                "parameters": t.get("parameters") or {"type": "object", "properties": {}}}}
                for t in req.tools]
        return self._format(messages=msgs, tools=tools).prompt

    def chat(self, req):
        return self._submit(lambda cancel: self._chat(req, cancel))

    def _chat(self, req, cancel):
        choice = req.tool_choice or "auto"
        use_tools = bool(req.tools) and choice != "none"
        forced = use_tools and choice != "auto"
        if forced:
            name = choice.get("name") if isinstance(choice, dict) else None
            from .tool_calls import forced_call_schema
            grammar = self._grammar(forced_call_schema(req.tools, name))
            # Open the template's own <tool_call> wrapper; the grammar writes the JSON inside.
            text, fin, pt, ct = yield from self._generate(cancel, req, True, "<tool_call>\n",
                                                          grammar)
            try:
                obj = json.loads(text)
            except ValueError:   # cut off by max_tokens: no complete call to give
                yield "done", GenResult(text, [], "length", pt, ct)
                return
            call = {"name": obj["name"], "arguments": obj["arguments"]}
            yield "done", GenResult("", [call], "tool_calls", pt, ct)
            return
        grammar = self._grammar(req.json_schema) if (req.json_mode or req.json_schema) else None
        if not use_tools:
            text, fin, pt, ct = yield from self._generate(cancel, req, False, req.prefill, grammar,
                                                          stream=True)
            yield "done", GenResult(text, [], fin, pt, ct)
            return
        if req.messages and req.messages[-1]["role"] == "tool":
            # After tool results the 0.5B model, shown its tools, just repeats the call (measured);
            # with the exchange retold as plain text it answers from the results.
            text, fin, pt, ct = yield from self._generate(cancel, req, False, req.prefill, grammar,
                                                          stream=True)
            yield "done", GenResult(text, [], fin, pt, ct)
            return
        # tool_choice auto: buffer, since only the whole text shows whether it is a call.
        from .tool_calls import extract_tool_calls
        text, fin, pt, ct = yield from self._generate(cancel, req, True, req.prefill, grammar)
        rest, calls, unknown = extract_tool_calls(text, [t["name"] for t in req.tools])
        answered = _answered_calls(req.messages)
        fresh = [c for c in calls if _call_key(c) not in answered]
        if fresh:
            yield "done", GenResult(rest, fresh, "tool_calls", pt, ct)
            return
        if unknown or calls:
            # The model invented a tool, or repeated a call whose result it already has (a 0.5B
            # model loops like that): answer again without tools, as a plain reply.
            log.info("local model made no usable tool call (unknown %s, repeated %s); "
                     "answering without tools", unknown, [c["name"] for c in calls])
            text, fin, pt, ct = yield from self._generate(cancel, req, False, req.prefill, grammar)
        yield "text", text
        yield "done", GenResult(text, [], fin, pt, ct)

    def prompt_tokens(self, req):
        # On the worker thread, like generation: a Llama is not thread-safe, and /count_tokens
        # arrives on an HTTP thread while another request may be generating.
        return self._call(lambda: self._prompt_tokens(req))

    def _prompt_tokens(self, req):
        with_tools = bool(req.tools) and req.tool_choice != "none"
        return self.count_tokens(self.prompt_text(req, with_tools) + (req.prefill or ""))

    def _generate(self, cancel, req, with_tools, prefill, grammar, stream=False):
        """Generate once; yields ("start", n) and, if `stream`, ("text", piece)s; returns
        (text, finish_reason, prompt_tokens, completion_tokens)."""
        prompt = self.prompt_text(req, with_tools) + (prefill or "")
        tokens = self._llm.tokenize(prompt.encode("utf-8"), add_bos=False, special=True)
        if len(tokens) >= self.n_ctx:
            raise ContextLengthError(len(tokens), self.n_ctx)
        yield "start", len(tokens)
        self._use_threads(spare_threads(self.n_threads))
        room = self.n_ctx - len(tokens)
        max_tokens = min(req.max_tokens or DEFAULT_MAX_TOKENS, room)
        temperature = DEFAULT_TEMPERATURE if req.temperature is None else req.temperature
        chunks = self._llm.create_completion(
            tokens, max_tokens=max_tokens, temperature=temperature,
            top_p=0.95 if req.top_p is None else req.top_p, repeat_penalty=1.1,
            stop=["<|im_end|>"] + list(req.stop or []), grammar=grammar, stream=True,
            seed=DEFAULT_SEED if req.seed is None else req.seed)
        pieces, finish = [], "stop"
        for n, chunk in enumerate(chunks, 1):
            if cancel.is_set():
                chunks.close()
                break
            if n % 32 == 0:     # other work may start or stop during a long answer
                self._use_threads(spare_threads(self.n_threads, samples=1))
            choice = chunk["choices"][0]
            if choice["text"]:
                pieces.append(choice["text"])
                if stream:
                    yield "text", choice["text"]
            if choice.get("finish_reason"):
                finish = choice["finish_reason"]
        text = "".join(pieces)
        return text, finish, len(tokens), self.count_tokens(text) if text else 0

    def _use_threads(self, n):
        """Generate with n threads from the next token on (see cpu.py for why it changes)."""
        if n != self._threads:
            import llama_cpp
            llama_cpp.llama_set_n_threads(self._llm._ctx.ctx, n, n)
            self._threads = n


def one_at_a_time():
    """One llama.cpp job at a time on this machine, across processes (kernels, tests, recordings).
    llama.cpp's threads spin while they wait for each other: two models generating at once on two
    cores each take many times longer than both in turn. GLWORK_LOCAL_SERIAL=0 turns this off."""
    if os.environ.get("GLWORK_LOCAL_SERIAL", "1") == "0":
        return contextlib.nullcontext()
    from filelock import FileLock

    from .model import cache_dir
    path = cache_dir() / "llama-run.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    return FileLock(str(path))


def _plain_history(messages):
    """Retell tool calls and results as ordinary turns, for a prompt that offers no tools."""
    names = {c.get("id"): c["name"] for m in messages for c in m.get("tool_calls") or ()}
    out = []
    for m in messages:
        if m.get("tool_calls"):
            calls = "\n".join(f'{c["name"]}({json.dumps(c["arguments"])})' for c in m["tool_calls"])
            text = ((m.get("content") or "") + "\n" + calls).strip()
            out.append({"role": "assistant", "content": text})
        elif m["role"] == "tool":
            name = names.get(m.get("tool_call_id"), "the tool")
            line = f'{name} returned: {m.get("content") or ""}'
            if out and out[-1].get("tool_result"):
                out[-1]["content"] += "\n" + line
            else:
                out.append({"role": "user", "content": line, "tool_result": True})
        else:
            out.append(m)
    for m in out:
        if m.pop("tool_result", False):
            m["content"] += "\n\nAnswer my question using these results, in plain words."
    return out


def _call_key(call):
    return call["name"], json.dumps(call["arguments"], sort_keys=True)


def _answered_calls(messages):
    """Keys of earlier tool calls that already have a result in the conversation."""
    answered = {m.get("tool_call_id") for m in messages if m["role"] == "tool"}
    return {_call_key(c) for m in messages if m["role"] == "assistant"
            for c in m.get("tool_calls") or () if c.get("id") in answered}


def _load_llama(model):
    from .model import gguf_path
    from .runtime_check import check_runtime
    path = gguf_path(model)
    check_runtime(path)   # a build that would kill this process is refused first
    n_ctx = int(os.environ.get("GLWORK_LOCAL_N_CTX", "4096"))
    eng = LlamaEngine(model, model_path=path, n_ctx=n_ctx, n_threads=2)
    atexit.register(eng.close)
    return eng


_engines: dict = {}   # one per (GLWORK_LOCAL_ENGINE, model), so switching back does not reload a model
_engine_lock = threading.Lock()


def engine_choice():
    """GLWORK_LOCAL_ENGINE, checked: auto, llama or extractive."""
    choice = (os.environ.get(ENGINE_ENV) or "auto").strip().lower()
    if choice not in ("auto", "llama", "extractive"):
        raise ValueError(f"{ENGINE_ENV} must be auto, llama or extractive, not {choice!r}")
    return choice


def select_engine(model=None):
    """The engine GLWORK_LOCAL_ENGINE asks for, running `model` (a models.LocalModel; None: the
    chosen one); `auto` falls back to extractive, saying why."""
    from .extractive import ExtractiveEngine
    from .models import chosen
    choice, model = engine_choice(), model or chosen()
    if choice == "extractive":
        eng = ExtractiveEngine(why=f"{ENGINE_ENV}=extractive")
    elif choice == "llama":
        eng = _load_llama(model)
        eng.why = f"{ENGINE_ENV}=llama"
    else:
        try:
            eng = _load_llama(model)
            eng.why = f"llama-cpp-python and the {model.name} model are installed"
        except Exception as exc:  # missing runtime or model, bad hash, load failure
            eng = ExtractiveEngine(why=f"local LLM unavailable: {type(exc).__name__}: {exc}")
    # Said once per process; a fallback is a warning because answers get much weaker.
    level = logging.INFO if eng.name == "llama" else logging.WARNING
    log.log(level, "glwork local backend: engine %s (model %s) because %s",
            eng.name, eng.model, eng.why)
    return eng


def get_engine(model=None):
    """The process-wide engine for the current GLWORK_LOCAL_ENGINE running `model` (a local model's
    name, id or alias; None: the chosen one, see models.chosen), built on first use."""
    from .models import chosen, get
    choice = engine_choice()
    spec = get(model) if model else chosen()
    key = (choice, None if choice == "extractive" else spec.name)
    with _engine_lock:
        if key not in _engines:
            _engines[key] = select_engine(spec)
        return _engines[key]
