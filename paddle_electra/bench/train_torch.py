"""The HF transformers (torch eager) side of ``paddle-electra bench --train``, usable in a process of its own.

:mod:`paddle_electra.bench.train` builds the Paddle step in its own process and,
by default, runs this file *by path* as a worker for the torch step::

    python .../bench/train_torch.py      # JSON lines on stdin, one JSON answer per line on stdout

Run by path, the package ``__init__`` is never loaded, so torch runs as it does
for its users: with glibc's allocator defaults (importing paddle_electra makes
glibc keep freed memory, see ``_cpu.keep_freed_memory``, a setting that speeds
torch up too) and with no Paddle OpenMP threads in the process. This module
imports only the standard library and numpy at the top; torch and transformers
when a step is built.

Requests: ``{"cmd": "build", "kind": "pretrain"|"finetune", "disc": {...}, "gen": {...}|null,
"batch": "batch.npz", "seed": 0, "threads": 2}`` -> ``{"ok": true, "attn_implementation": ...}``;
``{"cmd": "step"}`` -> ``{"loss": float, "cpu_s": seconds of CPU the step used}``; ``{"cmd": "quit"}``.
An error answers ``{"error": "..."}``.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Callable, Dict, Optional, Tuple

import numpy as np

# the training settings both sides use (bench/train.py imports them from here)
LEARNING_RATE = 1e-4
WEIGHT_DECAY = 0.01
EPSILON = 1e-6  # build_optimizer's AdamW epsilon, used on both sides
MAX_GRAD_NORM = 1.0
DISC_WEIGHT = 50.0  # ELECTRA's RTD loss weight (ElectraPretrainingCriterion's default)
SCHEDULE_STEPS = 1_000_000  # no warmup, linear decay over far more steps than run: a constant rate
#: the config fields the HF model takes from paddle_electra's (same names on both sides)
CONFIG_FIELDS = ("vocab_size", "embedding_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
                 "intermediate_size", "hidden_act", "hidden_dropout_prob", "attention_probs_dropout_prob",
                 "max_position_embeddings", "type_vocab_size", "layer_norm_eps", "initializer_range", "pad_token_id")


def hf_config(transformers, fields: Dict, **extra):
    """The HF ``ElectraConfig`` of the same shape (``fields``: :data:`CONFIG_FIELDS` of paddle_electra's config)."""
    return transformers.ElectraConfig(**{k: fields[k] for k in CONFIG_FIELDS}, **extra)


def _adamw(torch, module):
    """torch AdamW grouped as build_optimizer groups Paddle's: no weight decay on biases and norms."""
    decay, plain = [], []
    for name, p in module.named_parameters():  # a shared parameter is listed once
        (plain if p.ndim == 1 or name.endswith("bias") or "norm" in name.lower() else decay).append(p)
    groups = [{"params": decay, "weight_decay": WEIGHT_DECAY}, {"params": plain, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=LEARNING_RATE, eps=EPSILON)


def _schedule(torch, optimizer):
    """Linear decay over :data:`SCHEDULE_STEPS`, no warmup: the Paddle side's ``warmup_linear(SCHEDULE_STEPS, 0)``."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: max(0.0, (SCHEDULE_STEPS - step) / SCHEDULE_STEPS))


def _training(torch, model, batch: Dict[str, np.ndarray], names):
    """``(optimizer, scheduler, tensors)``: ``model`` in train mode with AdamW and the schedule, ``names`` of the batch."""
    model.train()
    optimizer = _adamw(torch, model)
    return optimizer, _schedule(torch, optimizer), [torch.from_numpy(batch[k]) for k in names]


def _update(torch, loss, model, optimizer, scheduler) -> float:
    """Backward, clipping at :data:`MAX_GRAD_NORM`, optimizer step, scheduler step; the loss as a float."""
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), MAX_GRAD_NORM)
    optimizer.step()
    optimizer.zero_grad()
    scheduler.step()
    return float(loss.detach())


def build(kind: str, disc: Dict, gen: Optional[Dict], batch: Dict[str, np.ndarray], seed: int = 0,
          num_labels: int = 2) -> Tuple[Callable[[], float], object]:
    """``(step, module)``: one HF training step of ``kind`` on ``batch`` (see bench/train.py's module doc)."""
    import torch
    import transformers

    torch.manual_seed(seed)
    if kind == "finetune":
        model = transformers.ElectraForSequenceClassification(hf_config(transformers, disc, num_labels=num_labels))
        optimizer, scheduler, (ids, types, mask, labels) = _training(
            torch, model, batch, ("raw_input_ids", "token_type_ids", "attention_mask", "labels"))

        def finetune_step() -> float:
            loss = model(input_ids=ids, token_type_ids=types, attention_mask=mask, labels=labels).loss
            return _update(torch, loss, model, optimizer, scheduler)

        return finetune_step, model
    if kind != "pretrain":
        raise ValueError(f"unknown step kind {kind!r}")
    tgen = transformers.ElectraForMaskedLM(hf_config(transformers, gen))
    tdisc = transformers.ElectraForPreTraining(hf_config(transformers, disc))
    # one word-embedding table for both, as in ELECTRA and on the Paddle side (the generator's
    # output layer is already tied to it by HF)
    tdisc.electra.embeddings.word_embeddings = tgen.electra.embeddings.word_embeddings
    model = torch.nn.ModuleDict({"generator": tgen, "discriminator": tdisc})
    optimizer, scheduler, (ids, mask, raw, labels) = _training(
        torch, model, batch, ("input_ids", "attention_mask", "raw_input_ids", "generator_labels"))

    def pretrain_step() -> float:
        out = tgen(input_ids=ids, attention_mask=mask, labels=labels)
        with torch.no_grad():  # Gumbel-max sampling, not differentiated through (as ELECTRA)
            masked = labels != -100
            noise = -torch.log(-torch.log(torch.rand_like(out.logits) + 1e-9) + 1e-9)
            disc_ids = torch.where(masked, torch.argmax(out.logits + noise, dim=-1), ids)
            disc_labels = ((disc_ids != raw) & masked).float()
        logits = tdisc(input_ids=disc_ids, attention_mask=mask).logits
        keep = mask.float()  # the RTD loss averages over real tokens, as the Paddle criterion does
        rtd = (torch.nn.functional.binary_cross_entropy_with_logits(logits, disc_labels, reduction="none")
               * keep).sum() / keep.sum()
        return _update(torch, out.loss + DISC_WEIGHT * rtd, model, optimizer, scheduler)

    return pretrain_step, model


def serve(stdin=None, stdout=None) -> int:
    """Answer build / step requests (see the module doc) until ``quit`` or the end of input."""
    stdin, stdout = stdin or sys.stdin, stdout or sys.stdout
    step = None
    for line in stdin:
        req = json.loads(line)
        try:
            if req["cmd"] == "quit":
                break
            if req["cmd"] == "build":
                import torch

                torch.set_num_threads(int(req["threads"]))
                with np.load(req["batch"]) as data:
                    batch = {k: data[k] for k in data.files}
                step, model = build(req["kind"], req["disc"], req.get("gen"), batch, int(req.get("seed", 0)))
                answer = {"ok": True, "attn_implementation": getattr(getattr(model, "config", None),
                                                                     "_attn_implementation", None)}
            elif req["cmd"] == "step":
                if step is None:
                    raise RuntimeError("no step built yet")
                c0 = time.process_time()
                loss = step()
                answer = {"loss": loss, "cpu_s": time.process_time() - c0}
            else:
                raise ValueError(f"unknown command {req['cmd']!r}")
        except Exception as e:  # noqa: BLE001 - reported to the parent, which raises it
            answer = {"error": f"{type(e).__name__}: {e}"}
        stdout.write(json.dumps(answer) + "\n")
        stdout.flush()
    return 0


if __name__ == "__main__":
    sys.path.pop(0)  # run by path: this package's folder must not shadow top-level modules
    sys.exit(serve())
