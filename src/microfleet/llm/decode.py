"""Prefill without waste, then a batched decode loop that drops each row as soon as it is done.

Prefill is compute-bound on a CPU, so it must not compute what it need not:
- rows of one adapter whose prompts share a long prefix (a micromodel's system prompt and
  retrieved context, asked for 27 countries) compute that prefix once; each row then computes
  only its own suffix on a copy of the prefix's KV cache;
- the other rows are prefilled together when left padding wastes little, else one by one.
The rows' caches are then merged into one left-padded batch for decoding.

`model.generate` keeps computing finished rows until the longest one ends, so a batch of short
and long answers costs as much as all-long ones. Here, after every step, finished rows (end of
sequence, their own max_tokens, or a client that went away) leave the KV cache, the attention
mask and the adapter list, and the rest go on. Greedy unless temperature > 0.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any

from microfleet.llm.guided import advance, mask_logits

OnToken = Callable[[int, int], bool]  # (row, token) -> is this row finished?


@dataclass
class Sampling:
    """How a batch picks its next tokens: greedy at temperature 0; else from the softmax at
    `temperature`, within the smallest set of tokens whose probability reaches `top_p`, and
    from each row's own random stream where it has one (a seeded request: reproducible, as a
    row's logits do not depend on its batch)."""

    temperature: float = 0.0
    top_p: float = 1.0
    streams: list[Any] | None = None  # per row: a torch.Generator, or None

    @classmethod
    def seeded(cls, temperature: float, top_p: float, seeds: Sequence[int | None]) -> Sampling:
        import torch

        streams = [None if s is None else torch.Generator().manual_seed(s) for s in seeds]
        return cls(temperature, top_p, streams if any(streams) else None)

    def rows(self, alive: list[int]) -> Sampling:
        """The same sampling for the rows still going."""
        streams = [self.streams[r] for r in alive] if self.streams else None
        return Sampling(self.temperature, self.top_p, streams)


GREEDY = Sampling()

MIN_SHARED_TOKENS = 32  # a shorter common prefix is not worth its own forward pass
MIN_PADDED_USE = 0.75  # prefill rows together only if at most a quarter of it is padding


@dataclass
class _Prefilled:
    layers: list[tuple[Any, Any]]  # per layer: keys, values of shape [1, heads, length, dim]
    logits: Any  # the next token's logits, [vocab]


def decode(
    model: Any,
    prompts: Sequence[Sequence[int]],
    on_token: OnToken,
    sampling: Sampling = GREEDY,
    adapter_names: list[str] | None = None,
    guides: Sequence[Any] | None = None,
) -> int:
    """Generate for `prompts` (token ids) until every row's `on_token` says it is finished;
    returns how many prompt positions prefill computed (padding included). A row with a
    guide (llm/guided.py) picks only the tokens its JSON schema allows."""
    import torch

    with torch.no_grad():
        past, mask, logits, computed = prefill(model, prompts, adapter_names)
        alive = list(range(len(prompts)))
        names = list(adapter_names) if adapter_names else None
        while True:
            row_guides = [guides[r] for r in alive] if guides else []
            tokens = guided_pick(logits, sampling.rows(alive), row_guides)
            keep = [
                j
                for j, row in enumerate(alive)
                if not took(on_token, row, int(tokens[j]), guides[row] if guides else None)
            ]
            if not keep:
                return computed
            if len(keep) < len(alive):
                index = torch.tensor(keep, device=mask.device)
                past.batch_select_indices(index)
                mask, tokens = mask[index], tokens[index]
                alive = [alive[j] for j in keep]
                names = [names[j] for j in keep] if names else None
            mask = torch.cat([mask, mask.new_ones((len(alive), 1))], dim=1)
            extra = {"adapter_names": names} if names else {}
            out = model(
                input_ids=tokens.unsqueeze(-1),
                attention_mask=mask,
                position_ids=mask.sum(-1, keepdim=True) - 1,
                past_key_values=past,
                use_cache=True,
                logits_to_keep=1,
                **extra,
            )
            past, logits = out.past_key_values, out.logits[:, -1, :]


def complete_chats(
    model: Any,
    tokenizer: Any,
    chats: Sequence[Any],
    max_new_tokens: int,
    guides: Sequence[Any] | None = None,
) -> list[str]:
    """Greedy answers to several chats in one batch on a Hugging Face model (its active
    adapter), outside the serving engine (training, evaluation); a row with a guide decodes
    under its JSON schema."""

    def run(prompts: list[list[int]], on_token: OnToken) -> None:
        decode(model, prompts, on_token, GREEDY, None, guides)

    return complete_with(run, {int(tokenizer.eos_token_id)}, tokenizer, chats, max_new_tokens)


def complete_with(
    run: Callable[[list[list[int]], OnToken], Any],
    eos: Collection[int],
    tokenizer: Any,
    chats: Sequence[Any],
    max_new_tokens: int,
) -> list[str]:
    """The answers to `chats` that `run(prompts, on_token)` generates, up to an end token or
    `max_new_tokens` each."""
    texts = [
        tokenizer.apply_chat_template(c, add_generation_prompt=True, tokenize=False) for c in chats
    ]
    prompts = [list(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]
    made: list[list[int]] = [[] for _ in chats]

    def on_token(row: int, token: int) -> bool:
        if token in eos:
            return True
        made[row].append(token)
        return len(made[row]) >= max_new_tokens

    run(prompts, on_token)
    return [str(tokenizer.decode(ids, skip_special_tokens=True)).strip() for ids in made]


def prefill(
    model: Any, prompts: Sequence[Sequence[int]], adapter_names: list[str] | None
) -> tuple[Any, Any, Any, int]:
    """(a left-padded KV cache of every prompt, its attention mask, next-token logits, and
    how many prompt positions were computed)."""
    return _Prefill(model, prompts, adapter_names).run()


class _Prefill:
    def __init__(
        self, model: Any, prompts: Sequence[Sequence[int]], names: list[str] | None
    ) -> None:
        self.model, self.prompts = model, prompts
        self.names: list[str | None] = list(names) if names else [None] * len(prompts)
        self.done: dict[int, _Prefilled] = {}
        self.computed = 0

    def run(self) -> tuple[Any, Any, Any, int]:
        solo: list[int] = []
        for rows in by_adapter(self.names):
            for cluster, shared in shared_clusters(rows, self.prompts):
                if shared:
                    self._shared(cluster, shared)
                else:
                    solo.extend(cluster)
        self._solo(solo)
        merged = _merge([self.done[i] for i in range(len(self.prompts))])
        return (*merged, self.computed)

    def _shared(self, rows: list[int], shared: int) -> None:
        """The common prefix once, then every row's suffix on (a view of) its cache."""
        first = [list(self.prompts[rows[0]][:shared])]
        prefix = self._forward(first, 0, None, [self.names[rows[0]]])[0]
        for group in _passes(rows, [len(self.prompts[i]) - shared for i in rows]):
            suffixes = [list(self.prompts[i][shared:]) for i in group]
            names = [self.names[i] for i in group]
            outs = self._forward(suffixes, shared, prefix.layers, names)
            self.done.update(zip(group, outs, strict=True))

    def _solo(self, rows: list[int]) -> None:
        """Rows with nothing to share."""
        for group in _passes(rows, [len(self.prompts[i]) for i in rows]):
            prompts = [list(self.prompts[i]) for i in group]
            outs = self._forward(prompts, 0, None, [self.names[i] for i in group])
            self.done.update(zip(group, outs, strict=True))

    def _forward(
        self,
        rows: list[list[int]],
        start: int,
        past: list[tuple[Any, Any]] | None,
        names: list[str | None],
    ) -> list[_Prefilled]:
        """One pass over left-padded `rows` that continue at position `start` after `past`
        (one row's cache, shared by all rows); each row's cache without its padding."""
        import torch
        from transformers import DynamicCache

        width = max(len(r) for r in rows)
        self.computed += width * len(rows)
        ids = torch.tensor([[0] * (width - len(r)) + r for r in rows])
        mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows])
        if past is not None:
            mask = torch.cat([mask.new_ones((len(rows), start)), mask], dim=1)
            n = len(rows)
            past = [(k.expand(n, -1, -1, -1), v.expand(n, -1, -1, -1)) for k, v in past]
        positions = (mask.cumsum(-1) - 1).clamp(min=0)[:, -width:]
        device = self.model.device
        extra = {"adapter_names": list(names)} if names[0] is not None else {}
        out = self.model(
            input_ids=ids.to(device),
            attention_mask=mask.to(device),
            position_ids=positions.to(device),
            past_key_values=DynamicCache(past) if past is not None else None,
            use_cache=True,
            logits_to_keep=1,
            **extra,
        )
        layers = [(k, v) for k, v, *_ in out.past_key_values]
        kept = [row.nonzero().squeeze(-1).to(device) for row in mask]  # each row's real tokens
        return [
            _Prefilled(
                [(k[j : j + 1, :, index, :], v[j : j + 1, :, index, :]) for k, v in layers],
                out.logits[j, -1, :],
            )
            for j, index in enumerate(kept)
        ]


def _merge(rows: list[_Prefilled]) -> tuple[Any, Any, Any]:
    import torch
    import torch.nn.functional as F
    from transformers import DynamicCache

    lengths = [r.layers[0][0].shape[-2] for r in rows]
    width = max(lengths)
    mask = torch.tensor([[0] * (width - n) + [1] * n for n in lengths])

    def stacked(layer: int, side: int) -> Any:  # side 0: keys, 1: values
        padded = [
            F.pad(r.layers[layer][side], (0, 0, width - n, 0))
            for r, n in zip(rows, lengths, strict=True)
        ]
        return torch.cat(padded)

    layers = [(stacked(j, 0), stacked(j, 1)) for j in range(len(rows[0].layers))]
    device = rows[0].logits.device
    return DynamicCache(layers), mask.to(device), torch.stack([r.logits for r in rows])


def _passes(rows: list[int], lengths: list[int]) -> list[list[int]]:
    """All rows in one pass when left padding wastes little, else one pass each."""
    if not rows:
        return []
    if sum(lengths) >= MIN_PADDED_USE * max(lengths) * len(rows):
        return [rows]
    return [[i] for i in rows]


def by_adapter(names: list[str | None]) -> list[list[int]]:
    groups: dict[str | None, list[int]] = {}
    for i, name in enumerate(names):
        groups.setdefault(name, []).append(i)
    return list(groups.values())


def lanes_of(
    passes: list[tuple[Any, list[Any]]], lanes: int, per_row: dict[Any, float]
) -> list[list[Any]]:
    """`passes` (each an adapter with its rows) dealt into up to `lanes` lanes of about
    equal cost: the costliest first, each to the lane that costs least so far. A pass costs
    its rows times its adapter's measured time per row (`per_row`; unmeasured: the mean)."""
    mean = sum(per_row.values()) / len(per_row) if per_row else 1.0

    def cost(one: tuple[Any, list[Any]]) -> float:
        return len(one[1]) * per_row.get(one[0], mean)

    dealt: list[list[Any]] = [[] for _ in range(min(lanes, len(passes)))]
    load = [0.0] * len(dealt)
    for one in sorted(passes, key=cost, reverse=True):
        lane = load.index(min(load))
        dealt[lane].append(one)
        load[lane] += cost(one)
    return dealt


def shared_clusters(
    rows: list[int], prompts: Sequence[Sequence[int]]
) -> list[tuple[list[int], int]]:
    """Rows (of one adapter) grouped with the rows they share most of their prompt with, and
    the tokens each group shares (0: none worth sharing). In sorted order, neighbours join
    while they share at least MIN_SHARED_TOKENS and half of the shorter prompt; a group's
    common prefix is then the least of its neighbours' (each row keeps one token of its own)."""
    ordered = sorted(rows, key=lambda i: list(prompts[i]))
    groups: list[tuple[list[int], int]] = [([ordered[0]], 0)]
    for before, row in itertools.pairwise(ordered):
        a, b = prompts[before], prompts[row]
        common = _common_prefix(a, b)
        if common >= MIN_SHARED_TOKENS and common >= min(len(a), len(b)) // 2:
            members, shared = groups[-1]
            groups[-1] = ([*members, row], min(shared, common) if shared else common)
        else:
            groups.append(([row], 0))
    return groups


def _common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    """How many tokens `a` and `b` start with in common, leaving each one of its own."""
    n, most = 0, min(len(a), len(b)) - 1
    while n < most and a[n] == b[n]:
        n += 1
    return n


def took(on_token: OnToken, row: int, token: int, guide: Any) -> bool:
    """`on_token(row, token)`; where the row's guide then allows only the end token (its
    JSON is complete), that too, without a pass to pick it. True once the row is finished."""
    if on_token(row, token):
        return True
    if guide is None or not guide.is_finished():
        return False
    allowed = guide.get_tokens()
    return len(allowed) == 1 and on_token(row, int(allowed[0]))


def guided_pick(logits: Any, sampling: Sampling, guides: list[Any]) -> Any:
    """The next token of every row, within its guide's choices where it has one."""
    if not any(g is not None for g in guides):
        return _pick(logits, sampling)
    logits = logits.clone()
    mask_logits(logits, guides)
    tokens = _pick(logits, sampling)
    for guide, token in zip(guides, tokens.tolist(), strict=True):
        advance(guide, token)
    return tokens


def _pick(logits: Any, sampling: Sampling) -> Any:
    import torch

    if sampling.temperature <= 0:
        return logits.argmax(dim=-1)
    probs = torch.softmax(logits.float() / sampling.temperature, dim=-1)
    if sampling.top_p < 1:
        ranked, order = probs.sort(dim=-1, descending=True)
        past = ranked.cumsum(dim=-1) - ranked >= sampling.top_p  # the nucleus is full before
        past[:, 0] = False  # the likeliest token always stays
        ranked[past] = 0
        probs = torch.zeros_like(probs).scatter(-1, order, ranked)
    if sampling.streams is None:
        return torch.multinomial(probs, 1).squeeze(-1)
    picks = [
        torch.multinomial(row, 1, generator=stream)
        for row, stream in zip(probs, sampling.streams, strict=True)
    ]
    return torch.cat(picks)
