"""The carbon corpus loader: documents the notebooks, lab and homework index."""
import pytest

from glwork.errors import ConfigurationError
from glwork.rag.corpus import load_carbon_corpus


def test_default_corpus_is_the_ghg_categories_and_esrs_e1():
    docs = load_carbon_corpus()
    assert len(docs) == 35 and len({d["id"] for d in docs}) == 35
    by_id = {d["id"]: d for d in docs}
    travel = by_id["ghg-scope3-06-business-travels"]
    assert travel["metadata"] == {
        "source": "GHG Protocol", "type": "guideline", "scope": 3, "category": "Business Travels",
        "title": "Business Travels", "date": "2011-09", "language": "en", "category_number": 6,
        "file": "ghg_protocol_categories/scope_3__06_Business_Travels.md"}
    assert travel["content"].startswith("Business Travels (GHG Protocol, Scope 3, category 6)")
    assert "Calculation method: Distance-based method" in travel["content"]
    assert "Déplacements" not in travel["content"] and "greenlang.calculations" not in travel["content"]
    e16 = by_id["esrs-e1-6"]["metadata"]
    assert e16["disclosure"] == "E1-6" and e16["type"] == "regulation" and "scope" not in e16
    assert {d["metadata"]["scope"] for d in docs if "scope" in d["metadata"]} == {1, 2, 3}
    assert all(isinstance(d["content"], str) and len(d["content"]) > 200 for d in docs)


def test_raw_markdown_and_all_parts():
    raw = load_carbon_corpus(parts="ghg", english_only=False)
    assert len(raw) == 20 and "Combustion stationnaire" in raw[0]["content"]
    everything = load_carbon_corpus(parts="all")
    assert len(everything) > 900 and len({d["id"] for d in everything}) == len(everything)
    assert any(d["id"].startswith("esrs-sec") for d in everything)


def test_bad_part_and_missing_folder(tmp_path, monkeypatch):
    with pytest.raises(ConfigurationError, match="Unknown corpus part"):
        load_carbon_corpus(parts=("ghg", "cdp"))
    with pytest.raises(ConfigurationError, match="carbon corpus was not found.*GLWORK_DATA_DIR"):
        load_carbon_corpus(path=tmp_path)
    monkeypatch.setenv("GLWORK_DATA_DIR", str(tmp_path))
    with pytest.raises(ConfigurationError, match="carbon corpus was not found"):
        load_carbon_corpus()
