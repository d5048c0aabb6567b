"""ChatWidget: talk to a ChatSession in a notebook; the reply streams in as markdown.

    chat = ChatWidget(session)     # then type in the box and press Enter
    chat.send("What is Scope 2?")  # the same from code; returns the ChatResponse (None on error)

Under each reply: tokens, cost, latency, whether the semantic cache answered. Errors appear inline
with the LLMError fields (error_code, provider, status_code, retryable, retry_after), never a
traceback or a key. The provider/model dropdowns start a new session on the chosen pair.
Each reply says where it came from: the notebook's recording, the local model (named), or the live
provider. In replay mode a typed question the recording does not hold is answered by the local model
(the session's own rule, see glwork.offline.replay).
"""
import time

from .. import config
from ..errors import ConfigurationError
from ..offline.replay import quiet
from ..providers import PROVIDERS, default_model
from ..response import ChatResponse, source_label
from .view import View, error_fields, error_html, esc, ipywidgets, markdown_html, volatile

RENDER_EVERY_S = 0.1    # at most ten markdown re-renders a second while a reply streams


def available_providers(mode):
    """Providers a session can use in `mode`: live needs the provider's key; the others need none."""
    if mode == "live":
        return [p for p in PROVIDERS if config.has_key(p)]
    return list(PROVIDERS)


def models_for(provider, current=None):
    """Models of the pricing table for the family `provider` serves (Azure: OpenAI's), the default first."""
    from ..monitoring.pricing import known_models
    names = known_models(provider, registered=False, chat=True)
    first = [default_model(provider)] + ([current] if current else [])
    return list(dict.fromkeys(first + names))


def footer(record):
    """The per-reply facts as a dict (from the session's CallRecord)."""
    u = record.usage
    return {"input_tokens": u.input_tokens, "output_tokens": u.output_tokens,
            "cost": None if record.cost is None else float(record.cost), "estimate": record.cost_is_estimate,
            "latency_ms": round(record.latency_ms, 1), "cached": record.cached, "model": record.model,
            "provider": record.provider, "source": record.source}


def footer_html(f, live=True):
    cost = "unknown price" if f["cost"] is None else f"${f['cost']:.6f}" + (" (estimate)" if f["estimate"] else "")
    secs = f"{f['latency_ms'] / 1000:.1f} s"
    return (f'<div class="glw-foot">{f["input_tokens"]} in + {f["output_tokens"]} out tokens · {esc(cost)} · '
            f'{esc(secs) if live else volatile(secs)} · cached: {"yes" if f["cached"] else "no"} · '
            f'{esc(source_label(f.get("source"), f["provider"], f["model"], cached=f["cached"]))}</div>')


class ChatWidget(View):
    """A chat box over `session` (a glwork ChatSession)."""

    def __init__(self, session, stream=True):
        if not hasattr(session, "stream_message"):
            raise ConfigurationError("ChatWidget needs a ChatSession, e.g. ChatWidget(ChatSession(provider='openai')).")
        self.session, self.stream = session, bool(stream)
        self.turns = []          # {"role": "user"|"assistant"|"note", "text", "footer", "error"}
        self._own = set()        # sessions this widget created (closed when replaced)
        self._switching = False
        self._build()

    # ---- the view --------------------------------------------------------------------------------
    def _build(self):
        w = ipywidgets()
        s = self.session
        providers = list(dict.fromkeys(available_providers(s.mode) + [s.provider]))
        self.header = w.HTML(self._header())
        self.provider = w.Dropdown(options=providers, value=s.provider, description="provider")
        self.model = w.Dropdown(options=models_for(s.provider, s.model), value=s.model, description="model")
        self.history = w.VBox([], layout=w.Layout(max_height="480px", overflow="auto"))
        self.message = w.Text(placeholder="Ask a question and press Enter", continuous_update=True,
                              layout=w.Layout(width="100%"))
        self.message.add_class("glw-chat-input")
        self.send_button = w.Button(description="Send", button_style="primary")
        self.clear_button = w.Button(description="New chat", tooltip="Start a new conversation")
        self.message.on_msg(self._on_msg)
        self.send_button.on_click(lambda _: self.submit())
        self.clear_button.on_click(lambda _: self.clear())
        self.provider.observe(self._on_provider, "value")
        self.model.observe(self._on_model, "value")
        self.widget = w.VBox([self.header, w.HBox([self.provider, self.model]), self.history,
                              w.HBox([self.message, self.send_button, self.clear_button])])
        self.widget.add_class("glw-chat")

    def _header(self):
        s = self.session
        typed = " (questions not in the recording: local model)" if s.mode == "replay" else ""
        return f"<b>Chat</b> · {esc(s.provider)} / {esc(s.model)} · mode: {esc(s.mode)}{typed}"

    def _on_msg(self, _widget, content, _buffers):
        if isinstance(content, dict) and content.get("event") == "submit":   # Enter in the text box
            self.submit()

    def submit(self):
        """Send what is in the message box (what Enter and the Send button do)."""
        text = self.message.value
        self.message.value = ""
        return self.send(text)

    # ---- conversation ------------------------------------------------------------------------------
    def send(self, text):
        """Send `text`, stream the reply into the history; returns the ChatResponse, or None on error
        (the error is shown inline)."""
        w = ipywidgets()
        session = self.session
        self.turns.append({"role": "user", "text": text})
        self._add_views(w.HTML(f'<div class="glw-user"><b>You:</b> {esc(text)}</div>'))
        body, foot = w.Output(), w.HTML()
        body.add_class("glw-reply")
        self._add_views(body, foot)
        parts, last = [], 0.0
        try:
            with quiet():   # the footer names where the reply came from; no separate notice line
                if self.stream:
                    for chunk in session.stream_message(text):
                        parts.append(chunk)
                        now = time.perf_counter()
                        if now - last >= RENDER_EVERY_S:
                            _render(body, "".join(parts))
                            last = now
                    reply = "".join(parts)
                else:
                    reply = session.send_message(text)
        except Exception as exc:   # LLMError and bugs alike: shown where the reply would be
            self.turns.append({"role": "assistant", "text": "".join(parts), "error": error_fields(exc)})
            body.outputs = ()
            foot.value = error_html(exc)
            foot.add_class("glw-error-box")
            return None
        record = session.get_calls()[-1]
        _render(body, str(reply))
        facts = footer(record)
        foot.value = footer_html(facts)
        foot.add_class("glw-footer")
        self.turns.append({"role": "assistant", "text": str(reply), "footer": facts})
        if not self.stream:
            return reply
        return ChatResponse(reply, usage=record.usage, model=record.model, provider=record.provider,
                            latency_ms=facts["latency_ms"], cost=record.cost,
                            cost_is_estimate=record.cost_is_estimate, cached=record.cached,
                            source=record.source)

    def _add_views(self, *views):
        self.history.children = tuple(self.history.children) + views

    def note(self, text):
        """Add a line of explanation to the history (not sent to the model)."""
        w = ipywidgets()
        self.turns.append({"role": "note", "text": text})
        self._add_views(w.HTML(f'<div class="glw-note">{esc(text)}</div>'))

    def clear(self):
        """Start a new conversation: the session forgets its history, the widget its transcript."""
        self.session.reset()
        self.turns = []
        self.history.children = ()

    # ---- sessions ----------------------------------------------------------------------------------
    def _twin(self, provider, model, mode):
        """A new session like the current one, on another provider/model or mode."""
        from ..session import ChatSession
        s = self.session
        hook = s.cache   # keep the same semantic cache, if the session has one
        twin = ChatSession(provider=provider, model=model, system_message=s.system_message,
                           temperature=s.temperature, max_tokens=s.max_tokens, mode=mode,
                           semantic_cache=hook.cache if hook is not None else False,
                           cache_user=getattr(hook, "user", None))
        self._own.add(id(twin))
        return twin

    def use(self, provider, model=None):
        """Switch to `provider`/`model` (what the dropdowns do): a new conversation on a new session."""
        try:
            model = model or default_model(provider)
            new = self._twin(provider, model, mode=self.session.options.mode)
        except Exception as exc:
            self.turns.append({"role": "note", "error": error_fields(exc)})
            self._add_views(ipywidgets().HTML(error_html(exc)))
            return None
        if id(self.session) in self._own:
            self.session.close()
        self.session = new
        self._switching = True
        try:   # keep the dropdowns in step when use() is called from code
            if provider not in self.provider.options:
                self.provider.options = list(self.provider.options) + [provider]
            self.provider.value = provider
            self.model.options = models_for(provider, model)
            self.model.value = model
        finally:
            self._switching = False
        self.header.value = self._header()
        self.note(f"Now talking to {provider} / {model}: a new conversation (the model does not see the turns above).")
        return new

    def _on_provider(self, change):
        if not self._switching:
            self.use(change["new"])

    def _on_model(self, change):
        if not self._switching and change["new"] != self.session.model:
            self.use(self.provider.value, change["new"])

    # ---- static snapshot -----------------------------------------------------------------------------
    def static_html(self):
        out = [f"<div>{self._header()}</div>"]
        for t in self.turns:
            if t["role"] == "user":
                out.append(f"<div><b>You:</b> {esc(t['text'])}</div>")
            elif t.get("error"):
                out.append(error_html(t["error"]))
            elif t["role"] == "note":
                out.append(f'<div class="glw-note">{esc(t["text"])}</div>')
            else:
                out.append(f"<div>{markdown_html(t['text'])}</div>" + footer_html(t["footer"], live=False))
        if not self.turns:
            out.append('<div class="glw-note">(no messages yet)</div>')
        out.append('<div class="glw-note">Static view: run the notebook in JupyterLab to chat.</div>')
        return "".join(out)

    def summary(self):
        n = sum(1 for t in self.turns if t["role"] == "user")
        return f"ChatWidget({self.session.provider} / {self.session.model}, mode={self.session.mode}, messages={n})"


def _render(output, text):
    """Show `text` as markdown in an Output widget (JupyterLab renders and sanitises it)."""
    output.outputs = ({"output_type": "display_data", "metadata": {},
                       "data": {"text/markdown": text, "text/plain": text}},)
