"""The orchestrator end to end over HTTP: model "fleet", with the real models and corpus."""

from __future__ import annotations

import asyncio
import csv
import json
import socket
import subprocess
import sys
from typing import Any

import httpx
import openai

from microfleet.fleet.orchestrator import MAX_ROUNDS, Orchestrator
from microfleet.fleet.results import FleetOptions
from microfleet.fleet.router import Plan, Router, ToolCall, admit
from microfleet.inference.assistant import APPENDIX_HEADING
from microfleet.inference.runtime import Runtime
from microfleet.llm.generator import Messages
from microfleet.llm.openai_backend import OpenAIGenerator
from microfleet.micromodel.prompt import CONTEXT_K
from microfleet.micromodel.spec import FLEET_MODEL, FleetSpec
from tests.conftest import KEY_A, REPO

RATES = {
    row["country"]: float(row["rate"])
    for row in csv.DictReader((REPO / "fleets/finance/data/vat_rates.csv").open())
}


def composed(reply: Any) -> str:
    """What the composer wrote: the content before the micromodel answers' list."""
    return (reply.choices[0].message.content or "").split(APPENDIX_HEADING)[0]


EU27 = [
    "Austria", "Belgium", "Bulgaria", "Croatia", "Cyprus", "Czechia", "Denmark", "Estonia",
    "Finland", "France", "Germany", "Greece", "Hungary", "Ireland", "Italy", "Latvia",
    "Lithuania", "Luxembourg", "Malta", "Netherlands", "Poland", "Portugal", "Romania",
    "Slovakia", "Slovenia", "Spain", "Sweden",
]  # fmt: skip


def ask_fleet(server: str, question: str, cache: bool = False, **extra: Any) -> Any:
    client = openai.OpenAI(base_url=f"{server}/v1", api_key=KEY_A, max_retries=0, timeout=600)
    return client.chat.completions.create(
        model=FLEET_MODEL,
        messages=[{"role": "user", "content": question}],
        max_tokens=48,
        extra_headers={} if cache else {"Cache-Control": "no-cache"},
        **extra,
    )


def test_the_eu_fan_out_is_right_while_another_process_holds_a_core(server: str) -> None:
    """27 calls, 27 right rates, and the cheapest member state named, with a busy core."""
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        reply = ask_fleet(
            server, "What are the VAT rates across the EU, and which country has the lowest?"
        )
    finally:
        hog.kill()
        hog.wait()
    calls = (reply.model_extra or {})["trace"]["calls"]
    assert len(calls) == 27 and all(c["error"] is None for c in calls)
    got = {c["data"]["country"]: c["data"]["rate"] for c in calls}
    assert got == RATES
    assert all(c["adapter"].startswith("tax_rates@v") for c in calls)
    answer = composed(reply)
    assert "Luxembourg" in answer and "17" in answer


def test_comparisons_are_answered_right(server: str) -> None:
    lower = composed(ask_fleet(server, "Which has the lower standard VAT rate, Germany or France?"))
    assert "Germany" in lower and "19" in lower
    highest = composed(ask_fleet(server, "Which EU member state has the highest VAT rate?"))
    assert "Hungary" in highest and "27" in highest


def test_eu_question_fans_out_to_27_batched_calls(server: str, runtime: Runtime) -> None:
    engine = runtime.engine
    assert engine is not None
    largest = engine.stats.largest_batch
    reply = ask_fleet(server, "What are the VAT rates across the EU?")
    trace = (reply.model_extra or {})["trace"]
    calls = trace["calls"]
    assert [c["name"] for c in calls] == ["tax_rates"] * 27
    assert sorted(c["arguments"]["country"] for c in calls) == EU27
    assert all(c["output"] and c["error"] is None for c in calls)
    assert engine.stats.largest_batch >= max(largest, 8)  # the calls shared forward passes
    text = reply.choices[0].message.content or ""
    assert all(country in text for country in EU27)
    sources = (reply.model_extra or {})["sources"]
    assert sources and all("vat_rates_eu" in s["doc_id"] for s in sources)
    assert all(c["adapter"].startswith("tax_rates@v") for c in calls)  # the shipped champion
    assert not any("tax_rates: no adapter" in note for note in trace["notes"])


def test_two_countries_call_exactly_two(server: str) -> None:
    reply = ask_fleet(server, "Which has the lower standard VAT rate, Germany or France?")
    calls = (reply.model_extra or {})["trace"]["calls"]
    assert sorted(c["arguments"]["country"] for c in calls) == ["France", "Germany"]


def test_streaming_carries_the_trace_on_the_final_chunk(server: str) -> None:
    stream = ask_fleet(server, "Is VAT higher in Sweden or in Denmark?", stream=True)
    finals = [c.model_extra for c in stream if c.choices and c.choices[0].finish_reason]
    assert len(finals) == 1
    trace = (finals[0] or {})["trace"]
    assert sorted(c["arguments"]["country"] for c in trace["calls"]) == ["Denmark", "Sweden"]


def test_a_cached_answer_carries_the_calls_it_came_from(server: str) -> None:
    question = "Which has the higher standard VAT rate, Italy or Greece?"
    first = ask_fleet(server, question, cache=True)
    again = ask_fleet(server, question, cache=True)
    assert (again.model_extra or {}).get("cached")
    trace = (again.model_extra or {})["trace"]
    assert trace == (first.model_extra or {})["trace"]
    assert sorted(c["arguments"]["country"] for c in trace["calls"]) == ["Greece", "Italy"]


def test_a_failed_and_a_timed_out_call_are_missing_parts(server: str, runtime: Runtime) -> None:
    orchestrator = runtime.assistant.orchestrator
    assert orchestrator is not None
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
    orchestrator.generators["market_news"] = OpenAIGenerator(dead, None, "market_news")
    try:
        question = "What does the news say about oil, and what is the VAT rate in Spain?"
        reply = ask_fleet(server, question, cache=True)
        again = ask_fleet(server, question, cache=True)
    finally:
        del orchestrator.generators["market_news"]
    calls = {c["name"]: c for c in (reply.model_extra or {})["trace"]["calls"]}
    assert calls["tax_rates"]["output"] and calls["market_news"]["error"]
    assert "market_news" in (reply.choices[0].message.content or "")
    assert "missing" in (reply.choices[0].message.content or "")
    assert (again.model_extra or {}).get("cached") is None  # a partial answer is not kept
    timeout = orchestrator.options.call_timeout_s
    orchestrator.options.call_timeout_s = 0.001
    try:
        reply = ask_fleet(server, "What is the standard VAT rate in Malta?")
    finally:
        orchestrator.options.call_timeout_s = timeout
    call = (reply.model_extra or {})["trace"]["calls"][0]
    assert call["output"] is None and call["error"].startswith("timed out")


def test_unfitting_question_is_answered_by_retrieval_alone(server: str) -> None:
    reply = ask_fleet(server, "Write a haiku about autumn.")
    trace = (reply.model_extra or {})["trace"]
    assert trace["calls"] == []
    assert any("retrieval alone" in note for note in trace["notes"])


def test_a_country_the_knowledge_base_never_names_gets_no_other_countrys_rate(
    server: str,
) -> None:
    """Switzerland is no EU member: tax_rates cannot be called, and the VAT table's sentences
    ("Hungary charges 27%...") are not its answer."""
    reply = ask_fleet(server, "What is the VAT rate in Switzerland?")
    answer = reply.choices[0].message.content or ""
    assert "nothing in the knowledge base about Switzerland" in answer
    assert "%" not in answer
    # market_news is called, and its sources (Northwind's results) never name Microsoft
    reply = ask_fleet(server, "What did Microsoft report last quarter?")
    answer = reply.choices[0].message.content or ""
    assert "nothing in the knowledge base about Microsoft" in answer
    # personal_finance says the same, without the disclaimer of advice it did not give
    reply = ask_fleet(server, "Should I buy Tesla shares?")
    answer = reply.choices[0].message.content or ""
    assert "nothing in the knowledge base about Tesla" in answer and "advice" not in answer


def test_a_micromodel_without_an_adapter_quotes_its_sources(server: str) -> None:
    """market_news ships no adapter: its answer is the article's own sentence, not the base
    model's ("... 800 million euros for loan losses, a 13.3% increase from the previous day")."""
    reply = ask_fleet(server, "How much has Halcyon Bank set aside for loan losses?")
    trace = (reply.model_extra or {})["trace"]
    assert [c["adapter"] for c in trace["calls"]] == ["sources"]
    article = next(
        json.loads(line)["text"]
        for line in (REPO / "fleets/finance/corpus/news.jsonl").open()
        if '"halcyon-bank-profit-warning"' in line
    )
    answer = (reply.choices[0].message.content or "").split(" [")[0]
    assert "800 million euros" in answer and answer in article


def test_what_a_typed_answer_leaves_out_comes_from_the_knowledge_base(server: str) -> None:
    """tax_rates answers the standard rate; the question asks what it was before."""
    reply = ask_fleet(server, "What was Estonia's VAT rate before the increase?")
    answer = reply.choices[0].message.content or ""
    assert "The standard VAT rate in Estonia is 24%" in answer and "from 22% to 24%" in answer
    docs = [s["doc_id"] for s in (reply.model_extra or {})["sources"]]
    assert "estonia-vat-rise" in docs


def test_readyz_names_adapter_versions_and_micromodels_without_one(server: str) -> None:
    body = httpx.get(f"{server}/readyz").json()
    assert body["status"] == "ready" and "fleet" in body["models"]
    assert body["versions"]["tax_rates"].startswith("v")  # the shipped adapter, registered
    assert "tax_rates" not in json.dumps(body["warnings"])
    missing = [name for name, version in body["versions"].items() if "(no adapter)" in version]
    assert sorted(missing) == ["market_news", "personal_finance"]
    assert len(body["warnings"]) == len(missing)
    assert all("its sources' sentences answer for it" in w for w in body["warnings"])
    models = httpx.get(f"{server}/v1/models", headers={"X-API-Key": KEY_A}).json()["data"]
    assert {m["id"]: m["version"] for m in models}["tax_rates"] == body["versions"]["tax_rates"]


class ScriptedRouter(Router):
    """Plays a tool-calling model's rounds from a script, and records the transcript it was
    shown: the orchestrator's round logic under test, with the real micromodels answering."""

    name = "scripted"
    takes_feedback = follows_up = True

    def __init__(self, fleet: FleetSpec, script: list[list[tuple[str, Any]]]) -> None:
        self.fleet, self.script = fleet, script
        self.shown: list[Messages] = []

    async def plan(self, question: str, transcript: Messages | None = None) -> Plan:
        self.shown.append(list(transcript or []))
        plan = Plan()
        step = self.script[len(self.shown) - 1] if len(self.shown) <= len(self.script) else []
        for name, arguments in step:
            admit(plan, self.fleet, name, arguments)
        return plan


def scripted(runtime: Runtime, script: list[list[tuple[str, Any]]]) -> Orchestrator:
    real = runtime.assistant.orchestrator
    assert real is not None
    router = ScriptedRouter(real.fleet, script)
    return Orchestrator(
        fleet=real.fleet,
        router=router,
        generators=real.generators,
        fallback=real.fallback,
        search=real.search,
        options=real.options,
    )


def test_an_invalid_call_is_fed_back_once_then_corrected(runtime: Runtime) -> None:
    orchestrator = scripted(
        runtime, [[("tax_rates", {"country": "Atlantis"})], [("tax_rates", {"country": "Malta"})]]
    )
    done = asyncio.run(orchestrator.run("What is the VAT rate in Malta?"))
    assert [(r.call.arguments, r.round) for r in done.results] == [({"country": "Malta"}, 2)]
    assert [d["fed_back"] for d in done.plan.dropped] == [True]
    shown = orchestrator.router.shown[1]  # type: ignore[attr-defined]
    assert shown[0]["tool_calls"][0]["function"]["name"] == "tax_rates"
    assert shown[1]["role"] == "tool" and "invalid call" in shown[1]["content"]
    assert shown[1]["tool_call_id"] == shown[0]["tool_calls"][0]["id"]


def test_an_invalid_call_repeated_is_dropped_without_more_feedback(runtime: Runtime) -> None:
    bad = ("tax_rates", {"country": "Atlantis"})
    orchestrator = scripted(runtime, [[bad], [bad], [bad]])
    done = asyncio.run(orchestrator.run("What is the VAT rate in Atlantis?"))
    assert done.results == [] and done.rounds == 2
    assert [d["fed_back"] for d in done.plan.dropped] == [True, False]
    assert any("fed back" in note for note in done.notes)


def test_a_tool_loop_that_never_ends_is_capped(runtime: Runtime) -> None:
    countries = ["Malta", "Spain", "France", "Italy", "Greece"]
    orchestrator = scripted(runtime, [[("tax_rates", {"country": c})] for c in countries])
    done = asyncio.run(orchestrator.run("Keep asking about VAT."))
    assert done.rounds == MAX_ROUNDS == 3
    assert [r.call.arguments["country"] for r in done.results] == countries[:3]
    assert f"stopped after {MAX_ROUNDS} tool rounds" in done.notes
    # Round 3 saw the results of rounds 1 and 2 as tool messages.
    shown = orchestrator.router.shown[2]  # type: ignore[attr-defined]
    assert [m["role"] for m in shown] == ["assistant", "tool", "assistant", "tool"]


def test_the_composer_reads_the_typed_results_ordered(runtime: Runtime) -> None:
    countries = [("tax_rates", {"country": c}) for c in ("France", "Germany", "Malta")]
    orchestrator = scripted(runtime, [countries, []])
    question = "Which has the lowest VAT rate: France, Germany or Malta?"
    done = asyncio.run(orchestrator.run(question))
    rates = {r.call.arguments["country"]: (r.data or {}).get("rate") for r in done.results}
    assert rates == {"France": 20, "Germany": 19, "Malta": 18}  # typed, and right
    messages = orchestrator.compose_messages(question, done, [])
    assert [m["role"] for m in messages] == ["system", "user"]
    user = messages[1]["content"]
    assert user.startswith("Facts:\nMalta has the lowest rate (18).\nOrdered by rate, lowest")
    assert "Lowest rate: Malta (18).\nHighest rate: France (20)." in user
    assert user.index("in Malta is 18%") < user.index("in Germany is 19%") < user.index("France")
    assert user.endswith(f"Question: {question}")


def test_a_call_its_sources_answer_reads_the_readers_depth(runtime: Runtime) -> None:
    """market_news (no adapter) is answered by the reader, which reads `quote_k` chunks (a
    filing's figure is often in the third or fourth); a model's prompt keeps CONTEXT_K."""
    real = runtime.assistant.orchestrator
    assert real is not None and real.reader is not None
    topic = "central banks and interest rates"
    calls = [ToolCall("market_news", {"topic": topic}), ToolCall("tax_rates", {"country": "Malta"})]
    for depth in (1, 3):
        orchestrator = Orchestrator(
            fleet=real.fleet,
            router=real.router,
            generators=real.generators,
            fallback=real.fallback,
            search=real.search,
            options=FleetOptions(quote_k=depth),
            reader=real.reader,
        )
        news, rates = orchestrator._retrieve_all(calls)
        assert len(news) == depth and len(rates) <= CONTEXT_K


def test_a_call_repeated_within_a_round_runs_once(runtime: Runtime) -> None:
    malta = ("tax_rates", {"country": "Malta"})
    orchestrator = scripted(runtime, [[malta, malta], [malta]])
    done = asyncio.run(orchestrator.run("What is the VAT rate in Malta?"))
    assert [r.call.arguments for r in done.results] == [{"country": "Malta"}]
    assert done.rounds == 2  # round 2 asked again, got nothing new, and the loop ended


def test_a_follow_up_is_asked_as_it_reads_on_its_own(server: str) -> None:
    """ "And France's?" after Germany's rate calls tax_rates for France; "Which of the two is
    lower?" compares both; "And the Fed?" after the ECB quotes the Fed's article."""
    client = openai.OpenAI(base_url=f"{server}/v1", api_key=KEY_A, max_retries=0, timeout=600)
    dialogue: Messages = []

    def ask(question: str) -> Any:
        dialogue.append({"role": "user", "content": question})
        reply = client.chat.completions.create(
            model=FLEET_MODEL, messages=dialogue, max_tokens=48,  # type: ignore[arg-type]
            extra_headers={"Cache-Control": "no-cache"},
        )  # fmt: skip
        dialogue.append({"role": "assistant", "content": reply.choices[0].message.content})
        return reply

    ask("What is Germany's VAT rate?")
    france = ask("And France's?")
    calls = (france.model_extra or {})["trace"]["calls"]
    assert [c["arguments"]["country"] for c in calls] == ["France"]
    assert "20%" in (france.choices[0].message.content or "")
    lower = ask("Which of the two is lower?").choices[0].message.content or ""
    assert lower.startswith("Germany has the lower rate (19).")
    dialogue.clear()
    ask("What did the ECB decide?")
    fed = ask("And the Fed?")
    assert [s["doc_id"] for s in (fed.model_extra or {})["sources"]] == ["fed-cuts-quarter-point"]


def test_a_question_read_alone_finds_nothing_so_it_is_read_with_the_one_before(
    server: str,
) -> None:
    """ "How long was the trial?" says whose trial only through the question before: read
    alone, no sentence came close and the base model invented "12 months"; read with it, the
    article's sentence with "68 weeks" is quoted. A question that shares no word with that
    article does not quote it."""
    client = openai.OpenAI(base_url=f"{server}/v1", api_key=KEY_A, max_retries=0, timeout=600)
    first = {"role": "user", "content": "What did Solace Pharma report?"}
    said = {"role": "assistant", "content": "Solace Pharma reported trial results."}

    def ask(question: str) -> Any:
        return client.chat.completions.create(
            model=FLEET_MODEL, max_tokens=48,
            messages=[first, said, {"role": "user", "content": question}],  # type: ignore[list-item]
            extra_headers={"Cache-Control": "no-cache"},
        )  # fmt: skip

    trial = ask("How long was the trial?")
    assert "68 weeks" in (trial.choices[0].message.content or "")
    assert [s["doc_id"] for s in (trial.model_extra or {})["sources"]] == ["solace-pharma-trial"]
    assert "read with the question before it" in (trial.model_extra or {})["trace"]["notes"]
    haiku = ask("Write a haiku about autumn.")
    assert "solace-pharma-trial" not in [s["doc_id"] for s in (haiku.model_extra or {})["sources"]]


def test_a_short_form_in_the_glossary_finds_what_the_documents_spell_out(server: str) -> None:
    """ "What did the Fed do?": the article says "Federal Reserve"; read alone, the question
    came too far from it to be quoted, and the base model called the cut an increase."""
    reply = ask_fleet(server, "What did the Fed do?")
    assert [s["doc_id"] for s in (reply.model_extra or {})["sources"]] == ["fed-cuts-quarter-point"]
    assert "lowered its benchmark federal funds range by 25 basis points" in (
        reply.choices[0].message.content or ""
    )
