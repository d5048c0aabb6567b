"""The guard's rules: a hit is vetoed when the two questions' numbers, designators ("Scope 1" vs
"Scope 2"), negation, opposites (direct/indirect, increase/reduce) or names (Karachi vs Hyderabad)
disagree. A missed hit costs one LLM call; a false hit serves a wrong answer.
"""
import re

from .terms import stem


def _one_edit_apart(a, b):
    # "Hilary"/"Hillary": a typo, not another name. Short names must match exactly (Iran/Iraq).
    if min(len(a), len(b)) < 6 or abs(len(a) - len(b)) > 1 or a[0] != b[0]:
        return False
    if len(a) > len(b):
        a, b = b, a
    i = 0
    while i < len(a) and a[i] == b[i]:
        i += 1
    return a[i + (len(a) == len(b)):] == b[i + 1:]


def _missing_names(names, other):
    tokens = other.stems | set(other.words)
    return sorted(n for n in names if n not in tokens and not any(_one_edit_apart(n, t) for t in tokens))


# Words that flip the answer. Compared on stems; a pair vetoes only when each side has its own word.
_OPPOSITES = [tuple(p.split("/")) for p in """increase/decrease increase/reduce gain/lose gain/loss buy/sell
best/worst advantage/disadvantage pro/con before/after start/stop win/lose male/female men/women boy/girl
give/receive given/received import/export upload/download cheap/expensive rich/poor positive/negative
upstream/downstream legal/illegal true/false maximum/minimum max/min high/low higher/lower inside/outside
add/remove enable/disable include/exclude accept/reject love/hate pass/fail online/offline success/failure
open/close first/last past/future input/output public/private gross/net mitigation/adaptation
location/market emit/remove absolute/intensity""".split()]
_NEGATED_FORM = re.compile(r"(?:non|dis|in|un|il|im|ir)(\w{5,})")


_PARTNERS: dict[str, set[str]] = {}
for _a, _b in _OPPOSITES:
    _PARTNERS.setdefault(stem(_a), set()).add(stem(_b))
    _PARTNERS.setdefault(stem(_b), set()).add(stem(_a))


def _opposites(q, e):
    only_q, only_e = q.stems - e.stems, e.stems - q.stems
    for w in only_q:
        partner = _PARTNERS.get(w, ())
        hit = next((p for p in partner if p in only_e), None)
        if hit:
            return f"opposites: {w} vs {hit}"
    # direct/indirect, renewable/nonrenewable: a word and its negated form, one on each side.
    for x, y, flip in ((only_q, only_e, False), (only_e, only_q, True)):
        for w in x:
            m = _NEGATED_FORM.fullmatch(w)
            if m and m.group(1) in y:
                return f"opposites: {m.group(1)} vs {w}" if flip else f"opposites: {w} vs {m.group(1)}"
    return None


def vetoes(q, e):
    """Reasons the two parsed questions must not share an answer ([] if none)."""
    out = []
    if q.designators != e.designators and (q.designators or e.designators):
        out.append("designators differ: " + _show(q.designators, e.designators))
    elif q.numbers != e.numbers:
        out.append(f"numbers differ: {_show(q.numbers, e.numbers)}")
    elif q.number_order != e.number_order:  # "from 1 to 0" is not "from 0 to 1"
        out.append(f"numbers in another order: {', '.join(q.number_order)} vs {', '.join(e.number_order)}")
    if q.negated != e.negated:
        out.append("negation differs: one question says not/no/never/without")
    flipped = _opposites(q, e)
    if flipped:
        out.append(flipped)
    qm, em = _missing_names(q.names, e), _missing_names(e.names, q)
    if qm and em:  # a substitution (Karachi -> Hyderabad); one extra name alone is left to the score
        out.append(f"names differ: {', '.join(qm)} vs {', '.join(em)}")
    return out


def _show(a, b):
    def fmt(s):
        return "{" + ", ".join(sorted(" ".join(x).title() if isinstance(x, tuple) else x for x in s)) + "}"
    return f"{fmt(a)} vs {fmt(b)}"
