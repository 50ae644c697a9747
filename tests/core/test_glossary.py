"""A fleet's glossary: a question is read with each short form followed by its long form."""

from __future__ import annotations

from microfleet.core.glossary import Glossary

GLOSSARY = Glossary(
    {
        "Fed": "Federal Reserve",
        "BoE": "Bank of England",
        "eurozone": "euro area",
        "Q2": "second quarter",
    }
)


def test_a_short_form_is_followed_by_its_long_form() -> None:
    assert GLOSSARY.expand("What did the Fed do?") == "What did the Fed (Federal Reserve) do?"
    assert GLOSSARY.expand("What is the BoE's rate?") == "What is the BoE's (Bank of England) rate?"
    assert GLOSSARY.expand("Did the Fed and the BoE cut?") == (
        "Did the Fed (Federal Reserve) and the BoE (Bank of England) cut?"
    )
    assert GLOSSARY.expand("Revenue in Q2 2025?") == "Revenue in Q2 (second quarter) 2025?"


def test_case_counts_only_for_a_short_form_with_capitals() -> None:
    assert GLOSSARY.expand("How is the Eurozone doing?") == "How is the Eurozone (euro area) doing?"
    assert GLOSSARY.expand("Who fed the markets?") == "Who fed the markets?"
    assert GLOSSARY.expand("Federal budget news") == "Federal budget news"  # a whole word only


def test_a_long_form_already_there_is_not_repeated() -> None:
    asked = "What did the Federal Reserve do? And the Fed?"
    assert GLOSSARY.expand(asked) == asked
    assert Glossary().expand("What did the Fed do?") == "What did the Fed do?"
