"""The carbon-accounting corpus shipped in data/carbon-corpus/, as RAGEngine documents.

    from glwork.rag.corpus import load_carbon_corpus
    docs = load_carbon_corpus()                  # 35 documents: GHG Protocol categories + ESRS E1
    docs = load_carbon_corpus(parts="all")       # + 940 sections of the full ESRS regulation

Text: Fingreen AI, Greenlang (CC BY-SA 4.0); ESRS text from Commission Delegated Regulation (EU)
2023/2772 (EUR-Lex, reused with acknowledgement). See data/README.md.
"""
import json
import os
import re
from pathlib import Path

from ..errors import ConfigurationError

PARTS = ("ghg", "esrs_e1", "esrs_full")
DEFAULT_PARTS = ("ghg", "esrs_e1")
# Date of the GHG Protocol standard that defines each scope's categories.
GHG_DATES = {1: "2004-03", 2: "2015-01", 3: "2011-09"}   # Corporate Std (rev.), Scope 2 Guidance, Scope 3 Std
ESRS_DATE = "2023-07"                                      # Delegated Regulation (EU) 2023/2772, 31 July 2023
_LINK = re.compile(r"\[([^\]]*)\]\(#[^)]*\)")
_DROP = {"name_fr", "description_fr", "implem_path", "is_active", "scope"}


def corpus_dir(path=None):
    """The carbon-corpus folder: `path` if given, else $GLWORK_DATA_DIR/carbon-corpus if set, else
    data/carbon-corpus of the kit (or of the current folder or one of its parents)."""
    if path or os.environ.get("GLWORK_DATA_DIR"):
        candidates = [Path(path) if path else Path(os.environ["GLWORK_DATA_DIR"]) / "carbon-corpus"]
    else:
        candidates = [Path(__file__).resolve().parents[2] / "data" / "carbon-corpus"]
        candidates += [base / "data" / "carbon-corpus" for base in [Path.cwd(), *Path.cwd().parents]]
    for c in candidates:
        if (c / "sections.jsonl").is_file():
            return c
    raise ConfigurationError("The carbon corpus was not found (looked in: "
                             + ", ".join(str(c) for c in candidates[:3])
                             + "). Pass path= or set GLWORK_DATA_DIR to the folder holding carbon-corpus/.")


def _ghg_english(raw, title, scope, number):
    """Keep the English descriptions and method names of a GHG category file."""
    head = f"{title} (GHG Protocol, Scope {scope}" + (f", category {number})" if scope == 3 else ")")
    out, key = [head], None
    for block in re.split(r"\n(?=#{1,3} )", raw):
        first, _, body = block.partition("\n")
        body = body.strip()
        if first.startswith("# "):
            continue
        if first.startswith("## "):
            out.append("Calculation method: " + _LINK.sub(r"\1", first[3:]).strip())
            if body:
                out.append(body)
            continue
        key = first.lstrip("#").strip() if first.startswith("###") else None
        if key in _DROP or not body:
            continue
        out.append(body)
    return "\n\n".join(p for p in out if p.strip())


def _ghg(root, english):
    docs = []
    for path in sorted((root / "ghg_protocol_categories").glob("*.md")):
        m = re.match(r"scope_(\d)__(\d\d)_(.+)\.md$", path.name)
        scope, number = int(m.group(1)), int(m.group(2))
        raw = path.read_text(encoding="utf-8")
        title = _LINK.sub(r"\1", raw.splitlines()[0].lstrip("# ")).strip()
        slug = m.group(3).lower().replace("_", "-")
        meta = {"source": "GHG Protocol", "type": "guideline", "scope": scope, "category": title,
                "title": title, "date": GHG_DATES[scope], "language": "en" if english else "en+fr",
                "file": f"ghg_protocol_categories/{path.name}"}
        if scope == 3:
            meta["category_number"] = number
        content = _ghg_english(raw, title, scope, number) if english else raw
        docs.append({"id": f"ghg-scope{scope}-{number:02d}-{slug}", "content": content, "metadata": meta})
    return docs


def _esrs_e1(root):
    docs, seen = [], {}
    for path in sorted((root / "esrs_e1").glob("*.md")):
        raw = path.read_text(encoding="utf-8")
        title = raw.splitlines()[0].lstrip("# ").strip()
        m = re.search(r"\b(E1-\d+|GOV-\d+|SBM-\d+|IRO-\d+)", title)
        code = m.group(1) if m else path.stem
        base = "esrs-e1-" + code.lower().replace("e1-", "")
        seen[base] = seen.get(base, 0) + 1
        doc_id = base if seen[base] == 1 else f"{base}-part{seen[base]}"
        content = re.sub(r"[ \t]*\t[ \t]*", " ", raw).strip()
        docs.append({"id": doc_id, "content": content, "metadata": {
            "source": "ESRS E1", "type": "regulation", "standard": "ESRS E1", "category": "Climate change",
            "disclosure": code if code.startswith("E1") else f"ESRS 2 {code}", "title": title,
            "date": ESRS_DATE, "language": "en", "file": f"esrs_e1/{path.name}"}})
    return docs


def _esrs_full(root):
    docs = []
    with open(root / "sections.jsonl", encoding="utf-8") as f:
        for line in f:
            rec = json.loads(line)
            if not rec["id"].startswith("esrs_full/") or len(rec["text"].strip()) < 60:
                continue
            section = rec["id"].split("/", 1)[1]
            docs.append({"id": f"esrs-{section}", "content": rec["text"].strip(), "metadata": {
                "source": "ESRS (Delegated Regulation (EU) 2023/2772)", "type": "regulation",
                "title": rec["title"], "section": section, "date": ESRS_DATE, "language": "en",
                "file": rec["source_file"]}})
    return docs


def load_carbon_corpus(parts=DEFAULT_PARTS, english_only=True, path=None):
    """Documents ({"id", "content", "metadata"}) of the carbon corpus.

    parts: any of "ghg" (20 GHG Protocol scope 1/2/3 categories), "esrs_e1" (15 ESRS E1 disclosure
    requirements), "esrs_full" (~940 sections of the whole ESRS regulation), or "all".
    english_only: drop the French descriptions and code paths of the GHG files (False keeps the raw
    markdown). Metadata: source, type ("guideline" | "regulation"), title, date (YYYY-MM), file, and
    scope / category / category_number (GHG) or standard / disclosure (ESRS E1).
    """
    if parts == "all":
        parts = PARTS
    if isinstance(parts, str):
        parts = (parts,)
    bad = [p for p in parts if p not in PARTS]
    if bad or not parts:
        raise ConfigurationError(f"Unknown corpus part(s) {bad or parts}: choose from {', '.join(PARTS)} or \"all\".")
    root = corpus_dir(path)
    loaders = {"ghg": lambda: _ghg(root, english_only), "esrs_e1": lambda: _esrs_e1(root),
               "esrs_full": lambda: _esrs_full(root)}
    return [doc for part in PARTS if part in parts for doc in loaders[part]()]
