"""BM25 tokens: single digits are kept, so "Scope 3" is not just "scope" (the workshop's exact terms)."""
from glwork.rag.keyword import KeywordIndex, Tokenizer


def test_tokens_keep_single_digits_and_drop_single_letters():
    tokens = Tokenizer()("Scope 3 emissions under E1-8, category 6 (a)")
    assert {"3", "8", "6", "e1"} <= set(tokens)
    assert "a" not in tokens


def test_keyword_search_tells_scope_numbers_apart():
    index = KeywordIndex()
    index.add([1, 2, 3], ["Scope 1 emissions come from owned boilers.",
                          "Scope 2 emissions come from purchased electricity.",
                          "Scope 3 emissions come from the value chain."])
    ids, scores = index.search("Scope 3 emissions", k=3)
    assert ids[0] == 3 and scores[0] > scores[1]
    assert index.search("E1-8", k=3) == ([], [])   # no chunk shares a term: nothing, not noise


def test_a_lone_number_query_finds_only_chunks_with_that_number():
    index = KeywordIndex()
    index.add([10, 11], ["Disclosure Requirement E1-6: gross Scope 1, 2, 3 emissions.",
                         "Disclosure Requirement E1-8: internal carbon pricing."])
    assert index.search("8", k=5)[0] == [11]
