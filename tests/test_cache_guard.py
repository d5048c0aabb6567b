"""The false-hit guard's parts: parsing, rules, glossary, the shipped pair model and its score."""
import json

import numpy as np
import pytest

from glwork.cache import Glossary, Guard
from glwork.cache.guard import MODEL_FILE, PARAMS_FILE
from glwork.cache.guard_rules import vetoes
from glwork.cache.pairmodel import TEXT_FEATURES, PairModel, pair_features, text_features
from glwork.cache.terms import parse
from glwork.errors import ConfigurationError


def veto(a, b):
    return vetoes(parse(a), parse(b))


@pytest.mark.parametrize("a, b, rule", [
    ("What are Scope 1 emissions?", "Explain Scope 2 emissions", "designators differ: {Scope 2} vs {Scope 1}"),
    ("What are Scope 1 emissions?", "What's the difference between Scope 1 and 2?", "numbers differ"),
    ("Is Scope one reported?", "Is Scope 2 reported?", "designators differ"),
    ("How do I keep motivated after working 7 hours?", "How do I keep motivated after working 9 hours?",
     "numbers differ: {9} vs {7}"),
    ("Best laptop under 20k?", "Best laptop under 30,000?", "numbers differ"),
    ("Convert 5 km to 3 miles?", "Convert 3 km to 5 miles?", "numbers in another order: 3, 5 vs 5, 3"),
    ("Is coal renewable?", "Is coal not renewable?", "negation differs"),
    ("Is coal renewable?", "Is coal non-renewable?", "negation differs"),
    ("What are direct emissions?", "What are indirect emissions?", "opposites: indirect vs direct"),
    ("How do I increase my score?", "How do I reduce my score?", "opposites"),
    ("What strikes visitors in Hyderabad, Pakistan?", "What strikes visitors in Karachi, Pakistan?",
     "names differ: karachi vs hyderabad"),
])
def test_rules_veto(a, b, rule):
    assert any(r.startswith(rule) for r in veto(b, a)), veto(b, a)


@pytest.mark.parametrize("a, b", [
    ("What are Scope 1 emissions?", "What is Scope 1?"),
    ("Best laptop under 20k?", "Which laptop is best under 20000?"),
    ("Is Scope one reported?", "Is Scope 1 reported?"),
    ("Are mediums real?", "Are mediums real or not?"),           # "or not" is no negation
    ("Did Hilary Clinton win?", "Did Hillary Clinton win?"),      # a typo, not another name
    ("How did Donald Trump win?", "How did trump win?"),          # a name dropped, not replaced
    ("What's a carbon footprint?", "What is a carbon footprint?"),
])
def test_rules_let_pass(a, b):
    assert veto(b, a) == []


def test_parse():
    t = parse("What's the difference between Scope 1 and 2 in the GHG Protocol? I don't know.")
    assert t.form == "what" and t.negated and t.numbers == {"1", "2"}
    assert ("scope", "1") in t.designators and {"ghg", "protocol"} <= t.names
    assert parse("").words == () and parse("Why?").form == "why" and parse("Is it?").form == "yesno"


def test_glossary():
    g = Glossary.coerce("ghg")
    assert g("What are Scope 1 emissions?") == "What are Scope 1?"
    assert g("scope two GHG emissions") == "Scope 2"
    assert g("greenhouse gases and carbon dioxide equivalent") == "GHG and CO2e"
    assert Glossary.coerce(None)("Scope 1 emissions") == "Scope 1 emissions" and not Glossary.coerce(None)
    assert Glossary.coerce([(r"\bEV\b", "electric vehicle")])("An EV?") == "An electric vehicle?"
    with pytest.raises(ConfigurationError):
        Glossary.coerce({"(": "x"})


def unit(seed, near=None, cosine=0.9):
    rng = np.random.default_rng(seed)
    v = rng.standard_normal(384).astype(np.float32)
    v /= np.linalg.norm(v)
    if near is None:
        return v
    v -= (v @ near) * near
    v /= np.linalg.norm(v)
    return (cosine * near + np.sqrt(1 - cosine ** 2) * v).astype(np.float32)


def test_shipped_pair_model_and_score_mapping():
    params = json.loads(PARAMS_FILE.read_text())
    assert params["embedding_model"] == "all-MiniLM-L6-v2" and params["text_features"] == list(TEXT_FEATURES)
    assert params["null_scores"] == sorted(params["null_scores"]) and MODEL_FILE.stat().st_size < 1_000_000
    g = Guard()
    assert g.model.dimension == 384
    scores = [g.to_score(p / 100) for p in range(101)]
    assert scores == sorted(scores) and scores[0] < 0.1 and scores[-1] > 0.99
    same, v = parse("What is a carbon footprint?"), unit(1)
    assert g.check(same, parse("what is a carbon  footprint"), 1.0, v, v).score > 0.99   # the same words
    s2, s1 = parse("Explain Scope 2"), parse("What are Scope 1?")
    close = unit(3, near=v, cosine=0.99)
    verdict = g.check(s2, s1, 0.99, v, close)
    assert verdict.score == 0.0 and verdict.vetoes and verdict.unvetoed > 0   # only the rules refuse it
    assert Guard(rules=False).check(s2, s1, 0.99, v, close).score == verdict.unvetoed
    with pytest.raises(ConfigurationError, match="vectors"):
        g.check(same, same, 1.0)
    assert 0 < g.cosine_floor(0.95) < 0.95 and g.cosine_floor(0.95) <= g.cosine_floor(0.99)


def test_cosine_score_keeps_the_rules():
    g = Guard(score="cosine")
    assert g.check(parse("Explain Scope 2"), parse("What are Scope 1?"), 0.99).score == 0.0
    assert g.check(parse("What is Scope 1?"), parse("What are Scope 1?"), 0.97).score == 0.97
    assert g.cosine_floor(0.9) == 0.9


def test_bad_params_and_weights_are_refused():
    with pytest.raises(ConfigurationError, match="train_cache_guard"):
        Guard(params={"features": ["x"]})
    with pytest.raises(ConfigurationError):
        Guard(score="magic")
    with pytest.raises(ValueError):
        PairModel({"depth": 1, "mean": np.zeros(10), "scale": np.ones(10), "w0": np.zeros((9, 1)), "b0": np.zeros(1)})


def test_pair_features_are_symmetric():
    q, e = parse("How do I learn Python fast?"), parse("What is the fastest way to learn Python?")
    assert text_features(q, e) == text_features(e, q) and len(text_features(q, e)) == len(TEXT_FEATURES)
    u, v = unit(4)[None], unit(5)[None]
    assert np.allclose(pair_features(u, v, [text_features(q, e)]), pair_features(v, u, [text_features(e, q)]))
    assert pair_features(u, v, [text_features(q, e)]).shape == (1, 3 * 384 + 1 + len(TEXT_FEATURES))
