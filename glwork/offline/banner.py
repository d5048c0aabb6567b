"""The first output of every notebook: the mode, and where its responses come from."""
from .. import config
from .cassettes import read_provenance


def _local_label(short=False):
    """The model that will answer requests naming no local model, without loading it (a banner that
    waits for a model to load, behind other kernels' jobs, is a notebook that seems to hang). Each
    answer still names the model that really wrote it."""
    import importlib.util
    try:
        from ..local.engine import engine_choice
        from ..local.model import is_installed
        from ..local.models import MODELS, chosen
        model = chosen("chat")
        if engine_choice() == "extractive" or importlib.util.find_spec("llama_cpp") is None \
                or not is_installed(model):
            return "the extractive fallback glwork-extractive-v1 (quotes the corpus; no local chat model is installed)"
        label = f"{model.id} (llama.cpp, loaded on first use)"
        if short:
            return model.id
        for other in (m.name for m in MODELS.values() if m.name != model.name):
            label += f"; to ask {other}: GLWORK_LOCAL_MODEL={other} or model={other!r}"
        return label
    except Exception as exc:  # the banner must never be the cell that fails
        return f"unavailable: {exc}"


def _recording_label():
    if config.record_backend() != "local":
        return "the live provider APIs"
    try:
        from ..local.models import chosen
        return f"the embedded local backend ({chosen('record').id} unless a request names another)"
    except Exception as exc:  # a bad GLWORK_LOCAL_MODEL: the recording itself will say so
        return f"the embedded local backend ({exc})"


def banner_text(name, mode, path):
    head = f"glwork · {name} · mode: {mode.upper()}"
    lines = [head, "-" * len(head)]
    if mode == "replay":
        prov = read_provenance(path)
        models = ", ".join(prov.get("models") or []) or "none: this notebook's cells call no model"
        lines += [f"Responses are replayed from cassettes/{path.name}, recorded on "
                  f"{prov.get('recorded_on', 'an unknown date')} from the {prov.get('backend', 'unknown backend')} "
                  f"(models: {models}).",
                  "No provider is contacted and no key is needed. Costs are estimates at the prices of the "
                  "models each cell asks for; nothing is billed.",
                  "A question of your own or a cell you change is not in the recording: the embedded local "
                  f"model answers it on 127.0.0.1 ({_local_label(short=True)}), and a line under the cell says so."]
    elif mode == "record":
        lines += [f"Recording: responses come from {_recording_label()} and are written to cassettes/{path.name} "
                  f"(credentials scrubbed)."]
    elif mode == "local":
        lines += [f"Responses come from the embedded local backend on 127.0.0.1: {_local_label()}.",
                  "It speaks the OpenAI, Azure and Anthropic wire formats; answers are a small open model's, "
                  "not GPT's or Claude's. Costs are estimates at the requested models' prices."]
    else:
        live = [p for p in config.PROVIDER_KEYS if config.has_key(p)]
        lines += [f"Responses come live from: {', '.join(live) or 'no provider (no key set!)'}. "
                  f"Calls cost real money."]
    if mode != "live":
        lines.append("To go live: set OPENAI_API_KEY / ANTHROPIC_API_KEY / AZURE_OPENAI_* and restart the kernel.")
    return "\n".join(lines)
