"""What the false-hit guard reads in a question: content words, numbers, names, negation, form.

Plain regular expressions, no model: a parse takes tens of microseconds; the manager keeps recent ones.
"""
import re
from dataclasses import dataclass

_STOP = frozenset("""
a an the is are was were be been being am do does did doing done have has had having i me my mine myself
we our ours us you your yours he him his she her it its they them their theirs what which who whom whose
this that these those to of in on at by for with about as into through from up down out over under again
then once here there when where why how all any both each few more most other some such only own same so
than too very s t can will just should would could may might must shall now get got also if or and but
because until while explain define describe tell please u ur im let know mean means meaning one ones
someone something anything thing things way ways really actually exactly best good better""".split())
_NEGATION = frozenset("not no non never without cannot nor neither none nobody nothing".split())
_NUMBER_WORDS = {"zero": "0", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6",
                 "seven": "7", "eight": "8", "nine": "9", "ten": "10", "eleven": "11", "twelve": "12"}
# Words followed by a number that name a thing ("Scope 1", "Tier 2", "Season 3"): a different number
# is a different thing, and "Scope one" is "Scope 1".
_DESIGNATORS = frozenset("""scope tier phase level category class type step stage part chapter section article
paragraph season version grade year annex table figure box module lesson unit week day round""".split())
# Roman numerals from ii: "Scope I"/"day I" and "type V" are too ambiguous.
_ORDINAL_WORDS = {"one": "1", "first": "1", "second": "2", "third": "3", "ii": "2", "iii": "3", "iv": "4",
                  "vi": "6", "vii": "7", "viii": "8", "ix": "9"}
_FORMS = {"what": "what", "which": "what", "define": "what", "explain": "what", "describe": "what",
          "meaning": "what", "tell": "what", "how": "how", "why": "why", "who": "who", "whom": "who", "whose": "who",
          "when": "when", "where": "where"}
_YESNO = frozenset("is are was were do does did can could should would will has have may might shall am".split())
# One pass: "what's" -> "what is", "don't" -> "do not", possessive 's dropped; "why or why not" and
# "or not" are no negation.
_CONTRACTIONS = re.compile(r"\b(what)'?s\b|\b(can)'?t\b|\b(wo)n'?t\b|n't\b|'(re|ll|ve|m|d|s)\b|\b(why|or) not\b",
                           re.IGNORECASE)
_EXPAND = {"re": " are", "ll": " will", "ve": " have", "m": " am", "d": " would", "s": ""}


def _expand(m):
    what, can, wo, suffix, why = m.groups()
    if what:
        return what + " is"
    if can:
        return can + " not"
    if wo:
        return "will not"
    if suffix:
        return _EXPAND[suffix.lower()]
    if why:
        return why
    return " not"
_TOKEN = re.compile(r"\d+(?:[.,]\d+)*k?\b|\d+(?:[.,]\d+)*|[^\W\d_]+")


def stem(word):
    # Just enough to match "emission"/"emissions" and "companies"/"company".
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def _number(token):
    t = token.lower().replace(",", "")
    k = t.endswith("k")
    t = t[:-1] if k else t
    try:
        value = float(t)
    except ValueError:
        return t  # version-like "1.8.0": compare as text
    return f"{value * (1000 if k else 1):g}"


@dataclass(frozen=True)
class Terms:
    """The parts of a question the guard compares."""

    words: tuple           # lower-case tokens, in order
    stems: frozenset       # every token, stemmed
    content: frozenset     # stemmed content words (no stop words, numbers or negations)
    numbers: frozenset     # normalised numbers ("15k" -> "15000", "three" -> "3")
    number_order: tuple    # the same, in order of first appearance
    designators: frozenset  # ("scope", "1") for "Scope 1" / "scope one"
    names: frozenset       # stemmed capitalised words and acronyms not at a sentence start
    negated: bool
    form: str              # what / how / why / who / when / where / yesno / other


def parse(text):
    """Terms of one question (an empty question gives empty sets)."""
    s = _CONTRACTIONS.sub(_expand, text.replace("\u2019", "'").replace("\u2018", "'"))
    matches = list(_TOKEN.finditer(s))
    words = tuple(m.group().lower() for m in matches)
    stems = [stem(w) for w in words]
    numbers, designators, names, content = set(), set(), set(), set()
    order = []
    prev_end = 0
    for i, m in enumerate(matches):
        tok, low = m.group(), words[i]
        gap = s[prev_end:m.start()]
        starts_sentence = i == 0 or (gap != " " and any(c in ".?!:;" for c in gap))
        prev_end = m.end()
        if tok[0].isdigit() or low in _NUMBER_WORDS:
            num = _number(tok) if tok[0].isdigit() else _NUMBER_WORDS[low]
            numbers.add(num)
            if num not in order:
                order.append(num)
            continue
        if low in _DESIGNATORS and i + 1 < len(words):
            nxt = words[i + 1]
            num = _number(nxt) if nxt[0].isdigit() else _NUMBER_WORDS.get(nxt) or _ORDINAL_WORDS.get(nxt)
            if num is not None:
                designators.add((low, num))
                numbers.add(num)
                if num not in order:
                    order.append(num)
        if low in _NEGATION or low in _STOP:
            continue
        content.add(stems[i])
        if not tok.islower() and (not starts_sentence or sum(c.isupper() for c in tok) >= 2):
            names.add(stems[i])
    return Terms(words, frozenset(stems), frozenset(content), frozenset(numbers), tuple(order),
                 frozenset(designators), frozenset(names), any(w in _NEGATION for w in words), _form(words))


def _form(words):
    if not words:
        return "other"
    if words[0] in _FORMS:
        return _FORMS[words[0]]
    if words[0] in _YESNO:
        return "yesno"
    # "I am 20. How can I ...": the question word comes later.
    return next((_FORMS[w] for w in words[1:12] if w in _FORMS), "other")
