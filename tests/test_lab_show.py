"""Fact cards: short, citable context from the corpus for a system message."""
import pytest

from glwork.lab import fact_card


def test_card_is_the_opening_paragraph_with_its_source():
    card = fact_card("ghg-scope2-01-purchased-electricity")
    assert card.startswith("Purchased Electricity (GHG Protocol, Scope 2): Scope 2 is an indirect emission category")
    assert card.endswith("(source: data/carbon-corpus/ghg_protocol_categories/scope_2__01_Purchased_Electricity.md)")


def test_a_paragraph_ending_in_a_colon_keeps_its_list_and_loses_footnote_marks():
    card = fact_card("ghg-scope3-07-employee-commuting")
    assert "may arise from: Automobile travel; Bus travel; Rail travel; Air travel" in card
    assert "employees between their homes" in card


def test_about_picks_the_lines_that_mention_it():
    card = fact_card("esrs-e1-6", about="gross Scope 3 GHG emissions as required")
    assert "upstream and downstream value chain" in card and "(a) gross Scope 1" not in card
    with pytest.raises(ValueError, match="never mentions"):
        fact_card("esrs-e1-6", about="hydrogen")


def test_unknown_document_says_what_ids_look_like():
    with pytest.raises(ValueError, match="ids look like"):
        fact_card("ghg-scope9")
    with pytest.raises(ValueError, match="needs document ids"):
        fact_card()
