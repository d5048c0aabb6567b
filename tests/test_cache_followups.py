"""stands_alone(): which later turns may be answered from another conversation's cache entry.

A false "stands alone" serves one conversation's answer in another (on the class's shared cache,
another attendee's), so deictic, personal and imperative follow-ups must never pass."""
import pytest

from glwork.cache import stands_alone

FOLLOW_UPS = [
    # the four
    "What is my name?", "What did I just tell you?", "Now answer in Spanish", "Translate into French please",
    # personal: about the user or the conversation
    "Remind me what I said about Scope 3", "What is my company's carbon footprint?", "Who am I talking to?",
    "Did I mention our offices in Berlin?", "What were we talking about?", "Can you repeat my question?",
    "I told you my budget, remember it", "Is my calculation right?",
    # the assistant's own earlier reply
    "What did you say about methane?", "Are you sure about the numbers?", "Why did you say Scope 2 is indirect?",
    "Explain your answer in more detail", "What do you mean by market-based?",
    # deictic
    "Why is that the case?", "Can you explain this further?", "How do they compare with Scope 1?",
    "What about Scope 2 emissions?", "And for electricity bought from the grid?", "Give me an example",
    "Summarise the above in two sentences", "What is the difference?", "Which one is cheaper?",
    "Tell me more about it", "Is the same true for steel?", "What was the first point again?",
    "How is this calculated for a factory?", "Show me the table again",
    # imperative instructions about the previous reply
    "Shorter please", "Make it simpler", "Rewrite it as bullet points", "Summarize in one sentence",
    "Answer in German this time", "Now in French", "Continue", "Say it in plain English",
    "Please rephrase for a ten-year-old", "Format the answer as JSON", "Put it in a table",
    "Explain Scope 3 step by step", "Try again with more detail", "OK, and what about transport?",
    # too short to stand alone
    "Why?", "Really?", "And Scope 2?",
]

STANDALONE = [
    "What is Scope 3?", "What's Scope 3 emissions?", "What are Scope 1 emissions?",
    "Explain Scope 2 emissions", "Define carbon footprint", "What is a carbon footprint?",
    "How do I calculate Scope 3 emissions for purchased goods?", "How can I reduce business travel emissions?",
    "What is the GHG Protocol?", "Which gases does the Kyoto Protocol cover?",
    "What is the difference between Scope 1 and Scope 2?", "Can you explain location-based accounting?",
    "Is there a carbon tax in Sweden?", "What does CSRD require companies to report?",
    "When did the EU ETS start?", "Why is methane a stronger greenhouse gas than CO2?",
]


@pytest.mark.parametrize("turn", FOLLOW_UPS)
def test_follow_ups_do_not_stand_alone(turn):
    assert not stands_alone(turn)


@pytest.mark.parametrize("question", STANDALONE)
def test_standalone_questions_stay_shareable(question):
    assert stands_alone(question)


def test_spacing_case_and_curly_quotes_do_not_change_the_verdict():
    assert not stands_alone("  WHAT   IS MY NAME? ")
    assert not stands_alone("What\u2019s my name?")
    assert stands_alone("what\u2019s   scope 3?")
