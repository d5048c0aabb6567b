"""The shipped pricing table, family resolution, and offline token estimates."""
import json
from importlib import resources

import pytest

from glwork.monitoring import pricing
from glwork.response import Usage
from glwork.tokens import estimate_tokens


def test_every_price_has_a_date_and_a_source():
    rows = json.loads(resources.files("glwork").joinpath("data/pricing.json").read_text())["models"]
    assert len(rows) >= 20
    for name, row in rows.items():
        assert row["input"] >= 0 and row["output"] >= 0, name
        assert row["as_of"][:2] == "20" and row["source"].startswith("https://"), name


@pytest.mark.parametrize("model,family", [("gpt-4o-mini-2024-07-18", "gpt-4o-mini"), ("gpt-4o", "gpt-4o"),
                                          ("gpt-4-0613", "gpt-4"), ("claude-3-opus-20240229", "claude-3-opus"),
                                          ("claude-3-5-haiku-latest", "claude-3-5-haiku"),
                                          ("claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),
                                          ("claude-sonnet-4-20250514", "claude-sonnet-4")])
def test_dated_snapshots_resolve_to_their_family(model, family):
    assert pricing.lookup(model).model == family


@pytest.mark.parametrize("model", ["gpt-4o-custom", "gpt-4x", "qwen2.5-coder-0.5b", "", None])
def test_no_false_family_match(model):
    assert pricing.lookup(model) is None


def test_cost_formula_and_registering_a_price():
    u = Usage(input_tokens=1_000_000, output_tokens=1_000_000)
    assert pricing.cost_of(u, "gpt-4") == pytest.approx(90.0)
    assert pricing.cost_of(u, "my-model") is None
    pricing.register_price("my-model", input=1.0, output=2.0)
    assert pricing.cost_of(u, "my-model") == pytest.approx(3.0)


def test_token_estimate_has_bpe_magnitude():
    # English prose runs about 1.0-1.6 BPE tokens per word (9 words, then 38 words)
    assert 9 <= estimate_tokens("What are Scope 1 emissions under the GHG Protocol?") <= 14
    text = ("Scope 3 emissions are all other indirect emissions that occur in a company's value chain, "
            "including purchased goods and services, business travel, employee commuting, waste disposal, "
            "use of sold products, transportation and distribution, investments, and leased assets.")
    assert 38 <= estimate_tokens(text) <= 61
    assert estimate_tokens("") == 0 and estimate_tokens({"a": 1}) > 0
