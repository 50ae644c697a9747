"""The extractive reader, on the real MiniLM and BM25 encoder: it quotes the sentence that
answers, in reading order, and declines when nothing answers."""

from __future__ import annotations

import pytest

from microfleet.core.hits import SearchHit
from microfleet.fleet.reader import SentenceReader, nothing_on, unmentioned
from microfleet.knowledge.embedding import load_embedder
from microfleet.knowledge.sparse import Bm25Encoder
from tests.fleet.test_rows import FREIGHT

HALCYON = (
    "Halcyon Bank issued a profit warning after setting aside 800 million euros for expected "
    "loan losses in its commercial property book. The lender said office valuations in several "
    "European cities had fallen further than planned. Its common equity tier one ratio remains "
    "above 13%, and the dividend is unchanged. The shares fell 12%, their biggest one-day drop "
    "since 2020."
)
OIL = (
    "Brent crude rose 2% to 66 dollars a barrel after OPEC+ agreed to pause planned output "
    "increases. The group cited seasonally weaker demand. US crude stocks rose for a second week."
)


def hit(doc: str, title: str, text: str) -> SearchHit:
    return SearchHit(doc, f"{doc}:0", 0.5, title, None, text, {"chunk_index": 0})


@pytest.fixture(scope="module")
def reader() -> SentenceReader:
    return SentenceReader(load_embedder(None), Bm25Encoder())


def test_the_sentence_that_answers_is_quoted_with_its_hit(reader: SentenceReader) -> None:
    hits = [
        hit("oil", "Brent crude rises after OPEC+ slows output increases", OIL),
        hit("halcyon", "Halcyon Bank warns on profit as loan losses rise", HALCYON),
    ]
    reading = reader.answer("How much has Halcyon Bank put aside for bad loans?", hits)
    assert reading is not None
    assert reading.text.startswith("Halcyon Bank issued a profit warning after setting aside")
    assert "800 million euros" in reading.text and reading.text in HALCYON
    assert [h.doc_id for h in reading.hits] == ["halcyon"]
    shares = reader.answer("By how much did Halcyon's shares drop?", hits)
    assert shares is not None and "fell 12%" in shares.text


def test_a_question_nothing_answers_gets_none(reader: SentenceReader) -> None:
    hits = [hit("halcyon", "Halcyon Bank warns on profit as loan losses rise", HALCYON)]
    assert reader.answer("How do I bake sourdough bread at home?", hits) is None
    assert reader.answer("anything", []) is None


def test_sentences_come_back_in_reading_order(reader: SentenceReader) -> None:
    hits = [hit("halcyon", "Halcyon Bank warns on profit as loan losses rise", HALCYON)]
    quotes = reader.read("Halcyon Bank loan losses profit warning and shares", hits)
    assert quotes is not None
    positions = [HALCYON.index(q.text) for q in quotes]
    assert positions == sorted(positions)


SALES = (
    "The following table shows net sales by category for the three- and nine-month periods "
    "(dollars in millions):\n"
    "| Three Months Ended | Nine Months Ended |\n"
    "| June 28, 2025 | June 29, 2024 | June 28, 2025 | June 29, 2024 |\n"
    "|---|---|---|---|\n"
    "| iPhone | $44,582 | $39,296 | $160,561 | $155,171 |\n"
    "| Services | $27,423 | $24,213 | $80,442 | $71,197 |\n"
    "| Total net sales | $94,036 | $85,777 | $313,695 | $296,105 |"
)


def test_a_table_is_read_row_by_row_with_its_headers(reader: SentenceReader) -> None:
    """A filing's table: the row that answers, its values named by their headers (a header
    over two columns names both), with the units of the line above."""
    hits = [hit("apple", "Apple Inc. 10-Q, quarterly period ended June 28, 2025", SALES)]
    reading = reader.answer("What were Apple's total net sales in the quarter?", hits)
    assert reading is not None
    assert (
        "Total net sales: Three Months Ended June 28, 2025 $94,036; "
        "Three Months Ended June 29, 2024 $85,777; Nine Months Ended June 28, 2025 $313,695"
    ) in reading.text  # a row scoring nearly as well may come with it, in reading order
    assert reading.text.endswith("(dollars in millions)")
    services = reader.answer("How much did Apple's services bring in?", hits)
    assert services is not None and services.text.startswith("Services: ")


GOLD = (
    "Gold climbed above 4,000 dollars an ounce for the first time, extending a rally driven by "
    "central-bank buying. Silver also rallied."
)
COPPER = (
    "Copper prices rose to 11,000 dollars a tonne in London after an accident at a large mine. "
    "Traders expect the market to stay tight."
)
LUMEN = (
    "Lumen Cloud lowered its full-year revenue forecast, saying large customers were cutting "
    "unused capacity. Its shares fell 14%."
)
NORTHWIND = (
    "Northwind Semiconductors reported third-quarter revenue of 4.1 billion dollars, up 38% "
    "from a year earlier. Shares rose 9% in after-hours trading."
)


def test_each_side_of_a_comparison_gets_its_own_sentence(reader: SentenceReader) -> None:
    hits = [
        hit("copper", "Copper climbs as mine disruptions tighten supply", COPPER),
        hit("gold", "Gold sets a record above 4,000 dollars an ounce", GOLD),
    ]
    one = reader.answer("How much did copper rise?", hits)
    assert one is not None and [h.doc_id for h in one.hits] == ["copper"]
    both = reader.answer("Which rose more, gold or copper?", hits)
    assert both is not None and {h.doc_id for h in both.hits} == {"copper", "gold"}
    assert "11,000 dollars a tonne" in both.text and "4,000 dollars an ounce" in both.text


def test_sources_named_side_by_side_answer_even_when_no_sentence_is_close(
    reader: SentenceReader,
) -> None:
    hits = [
        hit("lumen", "Lumen Cloud cuts guidance as customers optimise spending", LUMEN),
        hit("northwind", "Northwind Semiconductors beats estimates", NORTHWIND),
    ]
    both = reader.answer("Compare Northwind and Lumen Cloud.", hits)
    assert both is not None and {h.doc_id for h in both.hits} == {"lumen", "northwind"}
    # A side that no source is about leaves the floor where it was.
    assert reader.answer("Should I buy stocks or bonds?", hits) is None


def test_a_side_whose_rows_never_name_it_is_read_from_its_own_document(
    reader: SentenceReader,
) -> None:
    """A filing's table never says whose it is: the title does. Each company of the
    comparison gets a figure of its own filing, and a figure where the other side has one."""
    rail = hit(
        "rail",
        "Union Pacific Corp 10-Q, quarterly period ended June 30, 2025",
        "The Company reported earnings of $3.15 per diluted share in the second quarter of 2025.",
    )
    table = (
        "The following table shows the computation of basic and diluted earnings per share.\n\n"
        "| | Three Months Ended | |\n| | June 28, 2025 | June 29, 2024 |\n|---|---|---|\n"
        "| Diluted earnings per share | $1.57 | $1.40 |\n"
    )
    apple = hit("apple", "Apple Inc. 10-Q, quarterly period ended June 28, 2025", table)
    question = "Which company had the higher diluted EPS for the quarter, Apple or Union Pacific?"
    both = reader.answer(question, [rail, apple])
    assert both is not None and {h.doc_id for h in both.hits} == {"rail", "apple"}
    assert "$3.15" in both.text and "$1.57" in both.text
    assert "computation" not in both.text  # the row, not the sentence above it
    assert "Apple — Diluted earnings per share" in both.text
    assert both.text.index("Apple") < both.text.index("Union Pacific — The Company")


def test_a_comparison_by_name_quotes_each_company(reader: SentenceReader) -> None:
    """No "or" sets them side by side, but the question compares two names: each gets a
    figure from its own filing, where the closest rows are all one company's."""
    nvidia = hit(
        "nvidia",
        "NVIDIA Corporation 10-Q, quarterly period ended July 27, 2025",
        "| | Jul 27, 2025 | Jul 28, 2024 |\n|---|---|---|\n| Net income | $26,422 | $16,599 |\n"
        "| Net income per diluted share | $1.08 | $0.67 |\n",
    )
    apple = hit(
        "apple",
        "Apple Inc. 10-Q, quarterly period ended June 28, 2025",
        "| | June 28, 2025 | June 29, 2024 |\n|---|---|---|\n| Net income | $23,434 | $21,448 |\n",
    )
    question = "How did NVIDIA's quarterly net income compare with Apple's?"
    both = reader.answer(question, [apple, nvidia])
    assert both is not None and "$26,422" in both.text and "$23,434" in both.text
    # Each row is led by the company its filing's title names, in the question's order.
    assert both.text.startswith("NVIDIA — Net income: ")
    assert "Apple — Net income: " in both.text
    alone = reader.answer("What was NVIDIA's quarterly net income?", [nvidia, apple])
    assert alone is not None and "$23,434" not in alone.text


def test_a_row_the_question_names_is_read_before_a_row_like_it(reader: SentenceReader) -> None:
    """A segment's operating income reads much like a question about net income to MiniLM;
    the row whose label the question spells out answers it ("Other income, net" holds the
    same words in another order, and does not)."""
    table = (
        "Operating income by segment and net income\n\n"
        "| | Three Months Ended | |\n| | Jul 27, 2025 | Jul 28, 2024 |\n|---|---|---|\n"
        "| Compute & Networking | $28,363 | $18,848 |\n"
        "| Other income (expense), net | 2,236 | 189 |\n"
        "| Net income | $26,422 | $16,599 |\n"
    )
    nvidia = hit("nvidia", "NVIDIA Corporation 10-Q, quarterly period ended July 27, 2025", table)
    read = reader.read("How much net income did NVIDIA earn in its latest quarter?", [nvidia])
    assert read is not None and read[0].text.startswith("Net income: ")


def test_a_follow_up_is_answered_for_its_own_words(reader: SentenceReader) -> None:
    """Joined to the question before, the follow-up decides which sentence answers; the
    whole question decides whether one does."""
    text = (
        "Northwind Semiconductors reported third-quarter revenue of 4.1 billion dollars. "
        "The company raised its full-year guidance and announced a 2 billion dollar share "
        "buyback. Shares rose 9% in after-hours trading."
    )
    hits = [hit("northwind", "Northwind Semiconductors beats estimates", text)]
    joined = "What did Northwind Semiconductors report? How big is its buyback?"
    alone = reader.answer(joined, hits)
    assert alone is not None and "buyback" not in alone.text
    focused = reader.answer(joined, hits, focus="How big is its buyback?")
    assert focused is not None and focused.text.startswith("The company raised")


TAX_NOTE = (
    "The Company's effective tax rate for the third quarter of 2025 was lower than the "
    "statutory federal income tax rate due primarily to a lower effective tax rate on foreign "
    "earnings and the impact of the U.S. federal R&D credit."
)
TAX_TABLE = (
    "Provision for income taxes and effective tax rate for the three-month periods:\n"
    "| Three Months Ended |\n"
    "| June 28, 2025 | June 29, 2024 |\n"
    "|---|---|\n"
    "| Provision for income taxes | $4,597 | $4,046 |\n"
    "| Effective tax rate | 16.4% | 15.9% |"
)


def test_a_question_that_asks_for_a_figure_quotes_one(reader: SentenceReader) -> None:
    """The note's sentence is closer to the question in words, but says no figure (only its
    year): the table row that states the rate answers."""
    title = "Apple Inc. 10-Q, quarterly period ended June 28, 2025"
    hits = [hit("note", title, TAX_NOTE), hit("table", title, TAX_TABLE)]
    question = "What was Apple's effective tax rate in the third quarter of 2025?"
    quotes = reader.read(question, hits)
    assert quotes is not None
    said = [quote.text for quote in quotes]
    assert any(text.startswith("Effective tax rate: ") and "16.4%" in text for text in said)
    assert TAX_NOTE not in said
    # a question that does not ask for a figure still gets the closest sentence
    why = reader.read("Why was Apple's effective tax rate lower than the statutory rate?", hits)
    assert why is not None and why[0].text == TAX_NOTE


RD_NOTE = (
    "The growth in research and development (\u201cR&D\u201d) expense during the third quarter "
    "and first nine months of 2025 compared to the same periods in 2024 was driven primarily "
    "by increases in headcount-related expenses and infrastructure-related costs."
)
RD_TABLE = (
    "Operating expenses for the three-month periods were as follows (dollars in millions):\n"
    "| Three Months Ended |\n"
    "| June 28, 2025 | June 29, 2024 |\n"
    "|---|---|\n"
    "| Research and development | $8,866 | $8,006 |\n"
    "| Selling, general and administrative | $6,650 | $6,320 |"
)


def test_a_sentence_that_states_no_figure_cannot_answer_how_much(
    reader: SentenceReader,
) -> None:
    """The note is closer to the question in words, but says no figure: a question
    that asks how much gets the row that states one."""
    title = "Apple Inc. 10-Q, quarterly period ended June 28, 2025"
    hits = [hit("note", title, RD_NOTE), hit("table", title, RD_TABLE)]
    question = "How much did Apple pour into R&D (research and development) in Q3 (third quarter)?"
    quotes = reader.read(question, hits)
    assert quotes is not None and quotes[0].text.startswith("Research and development: ")
    assert "$8,866" in quotes[0].text and RD_NOTE not in [q.text for q in quotes]


def test_a_sentence_in_two_overlapping_chunks_is_quoted_once(reader: SentenceReader) -> None:
    first, second = HALCYON.split(" Its common")
    overlap = "The lender said office valuations in several European cities had fallen further "
    title = "Halcyon Bank warns on profit as loan losses rise"
    hits = [
        hit("halcyon", title, first),
        SearchHit(
            "halcyon",
            "halcyon:1",
            0.5,
            title,
            None,
            f"{overlap}than planned. Its common{second}",
            {"chunk_index": 1},
        ),
    ]
    reading = reader.answer("What did the lender say about office valuations?", hits)
    assert reading is not None
    assert reading.text.count("office valuations") == 1


def test_with_own_words_only_a_sentence_holding_one_is_quoted(reader: SentenceReader) -> None:
    hits = [hit("halcyon", "Halcyon Bank warns on profit as loan losses rise", HALCYON)]
    joined = "Tell me about Halcyon Bank. How far did the shares drop?"
    shares = reader.read(joined, hits, focus="How far did the shares drop?", own_words=True)
    assert shares is not None and [q.text for q in shares] == [
        "The shares fell 12%, their biggest one-day drop since 2020."
    ]
    haiku = "Tell me about Halcyon Bank. Write a haiku about autumn."
    assert reader.read(haiku, hits, focus="Write a haiku about autumn.", own_words=True) is None


FREIGHT_NOTE = (
    "Freight revenues increased 4% in the second quarter of 2025 compared to the same period "
    "in 2024, driven by 4% volume increases and core pricing gains, partially offset by "
    "business mix (relative increases in shipments such as coal and intermodal)."
)
SERVICES_NOTE = (
    "Services net sales increased during the third quarter of 2025 compared to the same "
    "period in 2024 due primarily to higher net sales from advertising, the App Store and "
    "cloud services."
)


def test_a_level_is_answered_by_a_level_and_a_reason_by_a_sentence(
    reader: SentenceReader,
) -> None:
    """ "How much revenue did it earn?" asks for a level: the row that states it, not the
    sentence that says revenue "increased 4%". "Why ...?" asks for a reason: the sentence that
    gives it, not the row of figures its words are close to."""
    title = "Union Pacific Corporation 10-Q, quarterly period ended June 30, 2025"
    freight = [hit("note", title, FREIGHT_NOTE), hit("table", title, FREIGHT)]
    question = "How much intermodal freight revenue did Union Pacific earn in the second quarter?"
    quotes = reader.read(question, freight)
    assert quotes is not None and "Intermodal" in [q.text.split(":")[0] for q in quotes]
    assert FREIGHT_NOTE not in [q.text for q in quotes]
    grew = reader.read("By how much did Union Pacific's freight revenues grow?", freight)
    assert grew is not None and grew[0].text == FREIGHT_NOTE  # a change: the note's 4%
    title = "Apple Inc. 10-Q, quarterly period ended June 28, 2025"
    sales = [hit("table", title, SALES), hit("note", title, SERVICES_NOTE)]
    why = reader.read("Why did Apple's Services net sales increase in the third quarter?", sales)
    assert why is not None and [q.text for q in why] == [SERVICES_NOTE]


def test_a_question_naming_nothing_the_sources_name_is_told_so() -> None:
    """The EU's VAT table answers no question about Switzerland; one name it has is enough."""
    table = SearchHit("vat", "vat:0", 0.5, "Standard VAT rates of the EU member states", None,
                      "Hungary charges 27%, the highest standard VAT rate.", {})  # fmt: skip
    assert unmentioned("What is the VAT rate in Switzerland?", [table]) == ["Switzerland"]
    assert unmentioned("Is Hungary's rate higher than Switzerland's?", [table]) == []
    assert unmentioned("What is the highest standard VAT rate?", [table]) == []  # no name
    assert "about Switzerland" in nothing_on(["Switzerland"])
    slug = SearchHit("pillar-two-minimum-tax", "p:0", 0.5, "Global minimum tax", None,
                     "The 15% floor applies from 2024.", {})  # fmt: skip
    assert unmentioned("What is the rate under Pillar Two?", [slug]) == []  # its id names it
    fed = SearchHit("fed", "fed:0", 0.5, "Federal Reserve trims rates", None,
                    "Chair Jerome Powell said further moves would depend on data.", {})  # fmt: skip
    assert unmentioned("What did the Federal Reserve Chair say?", [fed]) == []  # each word
    assert unmentioned("What did the Swiss National Bank decide?", [fed]) == ["Swiss National Bank"]


def test_a_heading_is_not_part_of_the_sentence_after_it(reader: SentenceReader) -> None:
    text = "## Notes by country\nAustria charges a standard VAT rate of 20%. Spain charges 21%."
    quotes = reader.read("What is Austria's VAT rate?", [hit("vat", "Standard VAT rates", text)])
    assert quotes is not None
    assert quotes[0].text == "Austria charges a standard VAT rate of 20%."


def test_a_comparison_of_two_named_rows_says_which_is_larger(reader: SentenceReader) -> None:
    """Each company's row, for the same kind of period and in the same units: the answer opens
    with which is larger; where the question does not name the row, the rows stand alone."""

    def filing(doc: str, title: str, date: str, value: str) -> SearchHit:
        table = (
            "(In millions)\n\n| | Three Months Ended | | Six Months Ended | |\n"
            f"| | {date}, 2025 | {date}, 2024 | {date}, 2025 | {date}, 2024 |\n"
            "|---|---|---|---|---|\n"
            f"| Net income | ${value} | $1,000 | $2 | $1 |\n"
            "| Operating income | $9 | $8 | $7 | $6 |\n"
        )
        return hit(doc, title, table)

    nvidia = filing("nvidia", "NVIDIA Corporation 10-Q", "Jul 27", "26,422")
    apple = filing("apple", "Apple Inc. 10-Q", "June 28", "23,434")
    both = reader.answer(
        "Whose net income was higher last quarter, Apple's or NVIDIA's?", [apple, nvidia]
    )
    assert both is not None
    assert both.text.startswith(
        "NVIDIA's net income is the larger: $26,422 (in millions), against $23,434 for Apple."
    )
    unnamed = reader.answer(
        "Which company earned more last quarter, Apple or NVIDIA?", [apple, nvidia]
    )
    assert unnamed is not None and "is the larger" not in unnamed.text
