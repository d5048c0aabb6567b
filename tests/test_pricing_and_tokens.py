"""The shipped pricing table, family resolution, and offline token estimates."""
import json
from importlib import resources

import pytest

from glwork.monitoring import pricing
from glwork.response import Usage
from glwork.tokens import estimate_tokens


def test_every_listed_model_has_a_price_an_output_limit_a_date_and_a_source():
    rows = json.loads(resources.files("glwork").joinpath("data/pricing.json").read_text())["models"]
    assert len(rows) >= 20
    for name, row in rows.items():
        assert row["max_output_tokens"] >= 0 and row["provider"] in ("openai", "anthropic"), name
        assert row["as_of"][:2] == "20" and row["source"].startswith("https://"), name
        price = pricing.lookup(name)
        assert price.input > 0 and price.output >= 0, name
        assert price.source.startswith("genai-prices ") and "https://" in price.source and price.as_of, name


# Item 4 of issue 15: each dated snapshot at its own price (the old table gave gpt-4o-2024-05-13
# gpt-4o's $2.50/$10 and the gpt-3.5-turbo snapshots the family's $0.50/$1.50).
@pytest.mark.parametrize("model,input,output", [("gpt-4o-2024-05-13", 5.0, 15.0), ("gpt-4o-2024-08-06", 2.5, 10.0),
                                                ("gpt-3.5-turbo-0613", 1.5, 2.0), ("gpt-3.5-turbo-0301", 1.5, 2.0),
                                                ("gpt-3.5-turbo-1106", 1.0, 2.0), ("gpt-3.5-turbo", 0.5, 1.5),
                                                ("gpt-4-0613", 30.0, 60.0), ("claude-3-opus-20240229", 15.0, 75.0),
                                                ("claude-3-5-haiku-latest", 0.8, 4.0)])
def test_dated_snapshots_have_their_own_price(model, input, output):
    price = pricing.lookup(model)
    assert (price.input, price.output) == (input, output)


@pytest.mark.parametrize("model", ["gpt-4o-2099-01-01", "gpt-3.5-turbo-9999", "gpt-4o-custom", "gpt-4x",
                                   "qwen2.5-coder-0.5b", "", None, 42])
def test_an_unknown_snapshot_or_model_has_no_price(model):
    assert pricing.lookup(model) is None
    if model:
        assert pricing.cost_of(Usage(10, 10), str(model)) is None      # unknown (NaN), never a family's price


@pytest.mark.parametrize("model,limit", [("gpt-4o-mini-2024-07-18", 16384), ("gpt-4", 8192), ("o1", 100_000),
                                         ("claude-sonnet-4-5-20250929", 64000), ("claude-3-opus-20240229", 4096)])
def test_output_limits_come_from_the_family(model, limit):
    assert pricing.lookup(model).max_output_tokens == limit


def test_cost_formula_and_registering_a_price():
    u = Usage(input_tokens=1_000_000, output_tokens=1_000_000)
    assert pricing.cost_of(u, "gpt-4") == pytest.approx(90.0)
    assert pricing.cost_of(u, "my-model") is None
    pricing.register_price("my-model", input=1.0, output=2.0)
    assert pricing.cost_of(u, "my-model") == pytest.approx(3.0)
    with pytest.raises(ValueError, match="USD per 1M tokens"):
        pricing.register_price("my-model", input=-1, output=2.0)


def test_token_estimate_has_bpe_magnitude():
    # English prose runs about 1.0-1.6 BPE tokens per word (9 words, then 38 words)
    assert 9 <= estimate_tokens("What are Scope 1 emissions under the GHG Protocol?") <= 14
    text = ("Scope 3 emissions are all other indirect emissions that occur in a company's value chain, "
            "including purchased goods and services, business travel, employee commuting, waste disposal, "
            "use of sold products, transportation and distribution, investments, and leased assets.")
    assert 38 <= estimate_tokens(text) <= 61
    assert estimate_tokens("") == 0 and estimate_tokens({"a": 1}) > 0
