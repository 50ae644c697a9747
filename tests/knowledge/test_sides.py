"""Retrieval that covers each side of a comparison: a side that no hit names is searched on
its own, without the other side's name."""

from __future__ import annotations

from microfleet.core.hits import SearchHit
from microfleet.knowledge.sides import compared, covering, head, side_heads, without


def hit(doc: str, title: str, text: str = "") -> SearchHit:
    return SearchHit(doc, f"{doc}:0", 0.5, title, None, text)


def test_the_words_that_name_each_side() -> None:
    question = "Which was larger in the second quarter, Apple's net income or NVIDIA's?"
    assert side_heads(question) == [["Apple"], ["NVIDIA"]]
    assert side_heads("Did gold or copper rise more?") == [["gold"], ["copper"]]
    rail = side_heads("Which had the higher EPS, Apple or Union Pacific?")
    assert rail == [["Apple"], ["Union", "Pacific"]]
    # A glossary's long form in parentheses sets nothing side by side.
    assert side_heads("What did Apple spend on R&D (research and development)?") == []
    assert side_heads("What is the standard VAT rate in Malta?") == []
    assert head("copper rise more", left=False) == ["copper"]
    assert without(question, ["Apple"]) == (
        "Which was larger in the second quarter, net income or NVIDIA's?"
    )


def test_names_compared_without_a_join() -> None:
    # in the question's order, whatever kind of name each is
    assert compared("How did NVIDIA's net income compare with Apple's?") == [["NVIDIA"], ["Apple"]]
    assert compared("Is Apple's net income higher than Union Pacific's?") == [
        ["Apple"],
        ["Union", "Pacific"],
    ]
    # One name, or no word of comparison: nothing compared.
    assert compared("What was Apple's net income compared with last year?") == []
    assert compared("What did the Fed (Federal Reserve) decide about Northwind?") == []
    # A glossary's short form, spelled out after it, is no name of its own.
    assert compared("How did EPS (earnings per share) at Apple compare with NVIDIA?") == [
        ["Apple"],
        ["NVIDIA"],
    ]


def test_a_side_no_hit_names_is_searched_without_the_other() -> None:
    nvidia = [hit("n1", "NVIDIA Corporation 10-Q", "Net income $26,422")]
    asked: list[str] = []

    def find(text: str) -> list[SearchHit]:
        asked.append(text)
        return [
            nvidia[0],  # already there: not twice
            hit("u1", "Union Pacific 10-Q", "Freight revenues $5,843"),
            hit("a1", "Apple Inc. 10-Q", "Net income $23,434"),
            hit("a2", "Apple Inc. 10-Q", "Diluted $1.57"),
            hit("a3", "Apple Inc. 10-Q", "Basic $1.58"),
            hit("a4", "Apple Inc. 10-Q", "Net sales $94,036"),
        ]

    question = "Which was larger, Apple's net income or NVIDIA's?"
    covered = covering(question, nvidia, find)
    assert asked == ["Which was larger, Apple's net income?"]  # searched for Apple
    assert [h.doc_id for h in covered] == ["n1", "a1", "a2", "a3"]  # SIDE_HITS that name Apple


def test_hits_that_name_both_sides_are_left_alone() -> None:
    both = [hit("a", "Apple Inc. 10-Q"), hit("n", "NVIDIA Corporation 10-Q")]

    def find(text: str) -> list[SearchHit]:
        raise AssertionError("no search needed")

    assert covering("Apple or NVIDIA: whose net income was larger?", both, find) == both
    assert covering("What was Apple's net income?", both[:1], find) == both[:1]
