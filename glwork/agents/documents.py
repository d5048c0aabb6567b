"""The lab's documents: the carbon corpus, plus one overview document per GHG scope.

The corpus has a document per GHG Protocol *category* (stationary combustion, purchased
electricity ...), but none that says what a scope *is*; "What are Scope 1 emissions?" then
retrieves whatever mentions "scope" most. The overviews fill that gap with corpus text only: the
ESRS glossary's definition of the scope (Delegated Regulation (EU) 2023/2772, Annex II) and the
opening paragraph of each GHG Protocol category of that scope. Their ids are the workshop's
("scope1", "scope2", "scope3").
"""
from ..errors import ConfigurationError

# ESRS glossary sections defining the scopes (see data/carbon-corpus/sections.jsonl).
GLOSSARY = {1: ("esrs-sec0890", "Scope 1 GHG emissions"), 2: ("esrs-sec0891", "Scope 2 GHG emissions"),
            3: ("esrs-sec0892", "Scope 3 GHG emissions")}


def _body(text):
    """Text without its markdown heading line."""
    lines = text.strip().splitlines()
    return "\n".join(lines[1:]).strip() if lines and lines[0].startswith("#") else text.strip()


def _opening(content):
    """The first paragraph after a GHG category document's title line."""
    paragraphs = [p.strip() for p in content.split("\n\n") if p.strip()]
    return paragraphs[1] if len(paragraphs) > 1 else paragraphs[0]


def scope_documents(path=None):
    """Three documents, "scope1", "scope2", "scope3", built from corpus text (see module doc)."""
    from ..rag.corpus import load_carbon_corpus
    glossary = {d["id"]: d for d in load_carbon_corpus(parts="esrs_full", path=path)}
    categories = load_carbon_corpus(parts="ghg", path=path)
    docs = []
    for scope, (section, title) in GLOSSARY.items():
        entry = glossary.get(section)
        if entry is None or entry["metadata"]["title"] != title:
            raise ConfigurationError(f"The ESRS glossary entry {title!r} ({section}) is not where the lab expects "
                                     f"it in the carbon corpus; was data/carbon-corpus changed?")
        mine = [d for d in categories if d["metadata"]["scope"] == scope]
        parts = [f"{title} (ESRS glossary): {_body(entry['content'])}",
                 f"GHG Protocol Scope {scope} categories: " + "; ".join(d["metadata"]["title"] for d in mine) + "."]
        if scope < 3:  # 15 scope 3 categories would bury the definition; their titles are listed above
            parts += [f"{d['metadata']['title']}: {_opening(d['content'])}" for d in mine]
        docs.append({"id": f"scope{scope}", "content": "\n\n".join(parts), "metadata": {
            "category": "scopes", "scope": scope, "title": f"Scope {scope} emissions (overview)",
            "source": "ESRS glossary + GHG Protocol categories", "type": "overview",
            "sources": [section] + [d["id"] for d in mine]}})
    return docs


def lab_documents(path=None):
    """The lab's 38 documents: the three scope overviews, then the 35 of `load_carbon_corpus()`."""
    from ..rag.corpus import load_carbon_corpus
    return scope_documents(path) + load_carbon_corpus(path=path)
