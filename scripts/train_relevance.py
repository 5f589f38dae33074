"""Train the relevance model (bot/models/relevance.py): does this passage answer this question?

The bundled embedding model reads a question and a passage separately, so a passage that is only
about the same thing as the question scores as high as one that answers it. The relevance model
reads the two together (a cross-encoder: the bundled model's weights with a small trained change,
low-rank adapters in each layer plus a scoring head, shipped as bot/models/relevance_lora.npz,
about 2 MB).

Training pairs come from the project's question sets: every question that reaches the extractive
answerer is searched as in the chat, and each of its retrieved passages is labelled 1 when it
(with its heading) holds the question's key fact (``must_mention``) and 0 otherwise; every passage
retrieved for a ``not_in_library`` question is 0. Sets named with --hold-out are left out, so the
model can be measured (and the answer check fitted) on questions it never saw. The library's own
other phrasings of its sections' questions (``also_asked``) add more: one per section, asked
the same way, with the passages of its own section labelled 1 and the rest 0.

Usage: HF_HUB_OFFLINE=1 python scripts/train_relevance.py [--hold-out v14,v15,v16] [--out FILE]
Takes about 15 minutes on two cores.
"""

from __future__ import annotations

import argparse
import logging
import random
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from calibrate_answers import SETS  # noqa: E402

from bot.config import load_settings  # noqa: E402
from bot.documents import Answer  # noqa: E402
from bot.models.relevance import (  # noqa: E402
    LORA_FILE,
    LORA_RANK,
    LORA_TARGETS,
    MAX_TOKENS,
    pair_text,  # noqa: E402
)
from bot.ops.evaluation import _history, has_key_fact, load_questions  # noqa: E402
from bot.wiring import build_bot  # noqa: E402

log = logging.getLogger("train_relevance")


def collect(bot, path: str) -> list[tuple[str, str, float]]:
    pairs = []
    pipeline = bot.pipeline
    for item in load_questions(Path(path)):
        if item["kind"] not in ("in_scope", "out_of_scope"):
            continue
        nil = bool(item.get("not_in_library")) or item["kind"] == "out_of_scope"
        terms = None if nil else item.get("must_mention")
        if not nil and not terms:
            continue
        prepared = pipeline._prepare(item["question"], _history(item), None, None)
        if isinstance(prepared, Answer) or prepared.lead is not None or not prepared.docs:
            continue
        for doc in prepared.docs:
            text = pair_text(doc.page_content, doc.metadata)
            pairs.append((prepared.query, text, float(bool(terms) and has_key_fact(text, terms))))
    return pairs


def phrasing_pairs(bot, seed: int = 0) -> list[tuple[str, str, float]]:
    from bot.documents import asked_texts

    rng = random.Random(seed)
    index = bot.search_index()
    by_section: dict[tuple[str, str], list[str]] = {}
    for meta in index.metadatas:
        key = (str(meta.get("source")), str(meta.get("section") or ""))
        for text in asked_texts(meta):
            by_section.setdefault(key, [])
            if text not in by_section[key]:
                by_section[key].append(text)
    pairs = []
    for (source, section), texts in sorted(by_section.items()):
        question = rng.choice(texts)
        prepared = bot.pipeline._prepare(question, [], None, None)
        if isinstance(prepared, Answer) or prepared.lead is not None or not prepared.docs:
            continue
        for doc in prepared.docs:
            own = (doc.metadata.get("source") == source
                   and str(doc.metadata.get("section") or "") == section)
            pairs.append((prepared.query, pair_text(doc.page_content, doc.metadata), float(own)))
    return pairs


def train(pairs, out: Path, epochs: int = 1, batch: int = 16, seed: int = 0) -> None:
    import torch
    from transformers import AutoModel, AutoTokenizer

    from bot.models.embeddings import bundled_model_path

    torch.manual_seed(seed)
    random.seed(seed)
    model_dir = bundled_model_path()
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    bert = AutoModel.from_pretrained(str(model_dir))
    for p in bert.parameters():
        p.requires_grad = False
    adapters = {}

    class LoRA(torch.nn.Module):
        def __init__(self, base: torch.nn.Linear) -> None:
            super().__init__()
            self.base = base
            self.a = torch.nn.Parameter(torch.randn(LORA_RANK, base.in_features) * 0.01)
            self.b = torch.nn.Parameter(torch.zeros(base.out_features, LORA_RANK))

        def forward(self, x):
            return self.base(x) + (x @ self.a.T) @ self.b.T

    for i, layer in enumerate(bert.encoder.layer):
        for name in LORA_TARGETS:
            parent_name, _, leaf = name.rpartition(".")
            parent = layer.get_submodule(parent_name)
            wrapped = LoRA(getattr(parent, leaf))
            setattr(parent, leaf, wrapped)
            adapters[f"layer{i}.{name}"] = wrapped
    norms = {n: p for n, p in bert.named_parameters() if "LayerNorm" in n}
    for p in norms.values():
        p.requires_grad = True
    head = torch.nn.Linear(bert.config.hidden_size, 1)
    params = [p for a in adapters.values() for p in (a.a, a.b)]
    optimiser = torch.optim.AdamW([{"params": params, "lr": 5e-4},
                                   {"params": list(norms.values()) + list(head.parameters()),
                                    "lr": 1e-3}], weight_decay=0.01)
    steps = epochs * (len(pairs) // batch)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda s: min(1.0, (s + 1) / 50) * max(0.0, 1 - s / steps))
    loss_fn = torch.nn.BCEWithLogitsLoss()
    started, step = time.time(), 0
    for _ in range(epochs):
        random.shuffle(pairs)
        for i in range(0, len(pairs) - batch + 1, batch):
            part = pairs[i:i + batch]
            x = tokenizer([q for q, _, _ in part], [t for _, t, _ in part],
                          truncation="only_second", max_length=MAX_TOKENS, padding=True,
                          return_tensors="pt")
            hidden = bert(**x).last_hidden_state
            mask = x["attention_mask"].unsqueeze(-1).float()
            logits = head((hidden * mask).sum(1) / mask.sum(1)).squeeze(-1)
            loss = loss_fn(logits, torch.tensor([y for _, _, y in part]))
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params + list(norms.values()), 1.0)
            optimiser.step()
            schedule.step()
            optimiser.zero_grad()
            step += 1
            if step % 50 == 0:
                log.warning("step %d/%d loss %.3f %.0fs", step, steps, loss.item(),
                            time.time() - started)
    arrays = {f"{k}.a": v.a.detach().numpy() for k, v in adapters.items()}
    arrays.update({f"{k}.b": v.b.detach().numpy() for k, v in adapters.items()})
    arrays.update({f"norm.{k}": v.detach().numpy() for k, v in norms.items()})
    arrays["head.weight"] = head.weight.detach().numpy()[0]
    arrays["head.bias"] = head.bias.detach().numpy()
    np.savez_compressed(out, **{k: v.astype(np.float16) for k, v in arrays.items()})
    log.warning("written %s (%d pairs, %d steps, %.0fs)", out, len(pairs), step,
                time.time() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hold-out", default="", help="sets to leave out, e.g. v14,v15,v16")
    parser.add_argument("--out", type=Path, default=LORA_FILE)
    parser.add_argument("--epochs", type=int, default=1)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    held = {f"independent_questions_{h}.yaml" for h in args.hold_out.split(",") if h}
    sets = [s for s in SETS if Path(s).name not in held]
    bot = build_bot(load_settings())
    pairs = [p for s in sets for p in collect(bot, s)]
    log.warning("%d pairs from %d sets, %d answer", len(pairs), len(sets),
                int(sum(y for _, _, y in pairs)))
    own = phrasing_pairs(bot)
    log.warning("%d pairs from the library's other phrasings, %d answer", len(own),
                int(sum(y for _, _, y in own)))
    pairs += own
    train(pairs, args.out, epochs=args.epochs)


if __name__ == "__main__":
    main()
