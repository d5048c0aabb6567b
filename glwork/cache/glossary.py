"""Terms a domain writes two ways, rewritten to one form before questions are compared.

No general embedding model knows that "Scope 1" and "Scope 1 emissions" name the same thing in
greenhouse-gas accounting (all-MiniLM-L6-v2: cosine 0.72 for "What are Scope 1 emissions?" vs
"What is Scope 1?"), so the cache rewrites such terms to one canonical form first. The stored
question keeps its own wording; only the text that is embedded and checked is rewritten.

`GHG` is the workshop's domain (GHG Protocol, CSRD/ESRS). Pass your own as a dict
{regex: replacement} or a list of (regex, replacement) pairs, or None for no rewriting.
"""
import re

from ..errors import ConfigurationError

GHG = (
    # "Scope 1 emissions", "scope one GHG emissions", "Scope-3 carbon emissions" -> "Scope 1"
    (r"\bscope[\s-]*(1|2|3|one|two|three)\b(?:\s+(?:ghg|greenhouse[\s-]+gas|carbon|co2e?))?"
     r"(?:\s+emissions?)?", lambda m: "Scope " + {"one": "1", "two": "2", "three": "3"}.get(
         m.group(1).lower(), m.group(1))),
    (r"\bgreenhouse[\s-]+gas(?:es)?\b", "GHG"),
    (r"\bcarbon\s+dioxide\s+equivalents?\b", "CO2e"),
    (r"\bco2[\s-]*eq(?:uivalent)?s?\b", "CO2e"),
    (r"\bcorporate\s+sustainability\s+reporting\s+directive\b", "CSRD"),
    (r"\beuropean\s+sustainability\s+reporting\s+standards?\b", "ESRS"),
)

NAMED = {"ghg": GHG}


class Glossary:
    """Ordered (pattern, replacement) rewrites, matched case-insensitively."""

    def __init__(self, rules=(), name="custom"):
        self.name = name
        self.rules = []
        items = rules.items() if isinstance(rules, dict) else rules
        for item in items:
            try:
                pattern, repl = item
                self.rules.append((re.compile(pattern, re.IGNORECASE), repl))
            except (TypeError, ValueError, re.error) as exc:
                raise ConfigurationError(f"Bad glossary rule {item!r} ({exc}): give (regex, replacement) "
                                         "pairs, e.g. {r'\\bGHGs?\\b': 'greenhouse gas'}.") from None

    @classmethod
    def coerce(cls, value):
        if value is None or value is False:
            return cls((), name="none")
        if isinstance(value, cls):
            return value
        if isinstance(value, str):
            if value.lower() not in NAMED:
                raise ConfigurationError(f"Unknown glossary {value!r}; use one of {sorted(NAMED)}, a dict "
                                         "{regex: replacement}, or None.")
            return cls(NAMED[value.lower()], name=value.lower())
        return cls(value)

    def __call__(self, text):
        for pattern, repl in self.rules:
            text = pattern.sub(repl, text)
        return text

    def __bool__(self):
        return bool(self.rules)

    def __repr__(self):
        return f"Glossary({self.name!r}, {len(self.rules)} rules)"
