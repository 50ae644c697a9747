"""A follow-up made whole: a phrase put in place of the one of its form in the question
before, or the question read together with the ones it leans on."""

from __future__ import annotations

from microfleet.core.followups import follows_on
from microfleet.core.followups import standalone as whole


def standalone(asked: list[str]) -> str:
    return whole(asked).text


def test_a_continued_phrase_takes_the_place_of_its_kind() -> None:
    assert standalone(["What is Germany's VAT rate?", "And France's?"]) == (
        "What is France's VAT rate?"
    )
    assert standalone(["What is the VAT rate in Germany?", "And France?"]) == (
        "What is the VAT rate in France?"
    )
    assert standalone(["What did the ECB decide?", "What about the Bank of England?"]) == (
        "What did the Bank of England decide?"
    )
    assert standalone(["What did the ECB decide?", "And the Fed?"]) == "What did the Fed decide?"
    assert standalone(["Which EU country has the highest VAT?", "And the lowest?"]) == (
        "Which EU country has the lowest VAT?"
    )
    assert standalone(["What was Apple's revenue in 2025?", "And in 2024?"]) == (
        "What was Apple's revenue in 2024?"
    )
    assert standalone(["How is euro area inflation doing?", "And UK inflation?"]) == (
        "How is UK inflation doing?"  # the words that end in the same word
    )
    # what the question ends on after a preposition, the same one where the follow-up has one
    assert standalone(["What is happening to Brent crude?", "And gold?"]) == (
        "What is happening to gold?"
    )
    assert standalone(["What's the price of gold?", "What about silver?"]) == (
        "What's the price of silver?"
    )
    assert standalone(["Any news on tariffs?", "And on steel?"]) == "Any news on steel?"
    assert standalone(["What is the outlook for the economy?", "And inflation?"]) == (
        "What is the outlook for inflation?"
    )


def test_a_phrase_does_not_take_the_place_of_a_date_or_another_preposition() -> None:
    assert standalone(["How much did copper rise in October?", "And gold?"]) == (
        "How much did copper rise in October? And gold?"
    )
    assert standalone(["What's the VAT rate in Spain?", "And for food?"]) == (
        "What's the VAT rate in Spain? And for food?"
    )


def test_a_reference_back_reads_with_the_questions_it_leans_on() -> None:
    chain = ["What is Germany's VAT rate?", "And France's?", "Which of the two is lower?"]
    assert standalone(chain) == (
        "What is Germany's VAT rate? What is France's VAT rate? Which of the two is lower?"
    )
    assert standalone(["Tell me about Halcyon Bank.", "How much did its shares fall?"]) == (
        "Tell me about Halcyon Bank. How much did its shares fall?"
    )
    # No name of the same kind to replace: read together.
    assert standalone(["Which EU country has the highest VAT?", "What about Estonia?"]) == (
        "Which EU country has the highest VAT? What about Estonia?"
    )
    assert standalone(["What is Ireland's VAT rate?", "And for restaurants?"]) == (
        "What is Ireland's VAT rate? And for restaurants?"
    )


def test_a_new_question_stands_alone() -> None:
    assert standalone(["What is Germany's VAT rate?", "What did the ECB decide?"]) == (
        "What did the ECB decide?"
    )
    assert standalone(["How do I build an emergency fund?"]) == "How do I build an emergency fund?"
    assert not follows_on("Which EU country has the lowest standard VAT rate?")
    assert follows_on("Why?") and follows_on("And the Fed?") and follows_on("Are they higher?")
    assert follows_on("Which one is cheaper?")
    assert follows_on("How did the EU respond?")  # respond to what: the question before
    assert not follows_on("How did the ECB respond to the Fed's cut?")


def test_a_joined_follow_up_keeps_its_own_words_as_the_focus() -> None:
    joined = whole(["What did Northwind report?", "How big is its buyback?"])
    assert joined.text == "What did Northwind report? How big is its buyback?"
    assert joined.focus == "How big is its buyback?"
    put = whole(["What is Germany's VAT rate?", "And France's?"])
    assert put.focus == put.text == "What is France's VAT rate?"
