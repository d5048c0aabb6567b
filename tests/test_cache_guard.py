"""The false-hit guard's parts: parsing, rules, glossary, the shipped fitted score."""
import json

import pytest

from glwork.cache import Glossary, Guard
from glwork.cache.guard import FEATURES, PARAMS_FILE, vetoes
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


def test_shipped_params_and_score_mapping():
    params = json.loads(PARAMS_FILE.read_text())
    assert params["features"] == list(FEATURES) and params["embedding_model"] == "all-MiniLM-L6-v2"
    assert params["null_scores"] == sorted(params["null_scores"])
    g = Guard()
    scores = [g.to_score(p / 100) for p in range(101)]
    assert scores == sorted(scores) and scores[0] < 0.1 and scores[-1] > 0.99
    same = parse("What is a carbon footprint?")
    assert g.check(same, same, 1.0).score > 0.99
    assert g.check(parse("Explain Scope 2"), parse("What are Scope 1?"), 0.99).score == 0.0
    assert Guard(rules=False).check(parse("Explain Scope 2"), parse("What is Scope 1?"), 0.99).score > 0.9
    with pytest.raises(ConfigurationError):
        Guard(params={"features": ["x"]})
    with pytest.raises(ConfigurationError):
        Guard(score="magic")


def test_benchmark_counts_hits_as_the_issue_defines_them(capsys):
    # benchmarks/bench_cache.py: strict = B's own A of a duplicate pair; lenient adds an entry with B's
    # own text or a labelled duplicate of B from another pair; anything else QQP never judged is "unlabelled".
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import bench_cache
    pairs = [{"text_a": "A1", "text_b": "B1", "label": 1}, {"text_a": "A2", "text_b": "B2", "label": 0},
             {"text_a": "A3", "text_b": "B3", "label": 1}, {"text_a": "A4", "text_b": "B1", "label": 1}]
    dup = {("A1", "B1"), ("B1", "A1"), ("A3", "B3"), ("B3", "A3"), ("A4", "B1"), ("B1", "A4")}
    kind = bench_cache.kind_of_hit
    assert kind(pairs[0], "A1", dup) == "own" and kind(pairs[1], "A2", dup) == "own-non"
    assert kind(pairs[2], "b3?", dup) == "same-text" and kind(pairs[0], "A4", dup) == "labelled-dup"
    assert kind(pairs[2], "A1", dup) == "unlabelled"
    # served (score, entry) per pair: own hit, own non-duplicate hit, an unlabelled hit, a miss
    best = [(0.99, "A1"), (0.97, "A2"), (0.96, "A1"), (0.50, "A4")]
    row = bench_cache.pr_table(pairs, best, [0, 1, 2, 3], dup, "toy")[0.95]
    capsys.readouterr()
    assert row[0] == 3 and row[1] == 1 / 3 and row[2] == 1 / 3   # hits, strict P, strict R (3 duplicates)
    assert row[5] == 1 and row[6] == 1 / 2                         # one unlabelled; P over judged hits
