"""One pre-training step's losses and counters, and the held-out evaluation of a pre-training model.

The trainer (:mod:`paddle_electra.apps.train.pretrain`) calls :func:`step_losses`
for every micro-batch and :func:`evaluate_heldout` every ``eval_every`` steps.
Both score the generator only at the masked positions
(``ElectraForTotalPretraining(..., masked_only=True)``): the losses are those
of the full ``[B, L, V]`` form at ~1/7 of the vocabulary cost.
"""

from __future__ import annotations

from typing import Dict, Optional

import numpy as np


def step_losses(model, criterion, inputs: Dict, generator_only: bool = False):
    """Losses and counters of one micro-batch.

    Args:
        model: an ``ElectraForTotalPretraining`` (or its DataParallel wrapper).
        criterion: an ``ElectraPretrainingCriterion``.
        inputs: Paddle tensors ``input_ids``, ``attention_mask``, ``raw_input_ids``,
            ``generator_labels`` (a :class:`~paddle_electra.apps.train.collator.MaskingCollator` batch).
        generator_only: masked-LM alone (a generator stage): the discriminator
            is not run; ``disc_loss`` is 0.

    Returns:
        ``(total, gen_loss, disc_loss, counts)``: the first three are tensors
        (``total`` is what to differentiate), ``counts`` the float sums
        ``gen_hit, gen_n, disc_hit, disc_n, replaced`` of the batch.
    """
    import paddle

    from ...model.losses import masked_cross_entropy
    from ...model.pretraining import masked_generator_logits

    labels = inputs["generator_labels"]
    picked = labels[labels != -100]  # the targets of the masked rows, in row-major order
    if generator_only:
        core = getattr(model, "_layers", model)  # DataParallel keeps the model in _layers
        gen_logits, _ = masked_generator_logits(core.generator, inputs["input_ids"], labels != -100,
                                                attention_mask=inputs["attention_mask"])
        gen_loss = masked_cross_entropy(gen_logits, picked)
        total = criterion.gen_weight * gen_loss
        disc_loss = paddle.zeros([], dtype=total.dtype)
        counts = _gen_counts(gen_logits, picked)
        counts.update(disc_hit=0.0, disc_n=0.0, replaced=0.0)
        return total, gen_loss, disc_loss, counts
    gen_logits, disc_logits, disc_labels, keep = model(
        inputs["input_ids"], attention_mask=inputs["attention_mask"], raw_input_ids=inputs["raw_input_ids"],
        generator_labels=labels, masked_only=True)
    total, gen_loss, disc_loss = criterion(gen_logits, disc_logits, picked, disc_labels, keep, return_parts=True)
    counts = _gen_counts(gen_logits, picked)
    with paddle.no_grad():
        keep_b = keep.astype("bool")
        disc_pred = (disc_logits > 0).astype("int64")
        counts.update(disc_hit=float(((disc_pred == disc_labels) & keep_b).astype("float32").sum()),
                      disc_n=float(keep_b.astype("float32").sum()),
                      replaced=float((disc_labels.astype("bool") & keep_b).astype("float32").sum()))
    return total, gen_loss, disc_loss, counts


def _gen_counts(gen_logits, picked) -> Dict[str, float]:
    import paddle

    with paddle.no_grad():
        hit = (paddle.argmax(gen_logits, axis=-1) == picked).astype("float32").sum()
        return {"gen_hit": float(hit), "gen_n": float(picked.shape[0])}


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> Optional[float]:
    """Area under the ROC curve (ties counted half); None when one class is absent."""
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    labels = np.asarray(labels).reshape(-1).astype(bool)
    pos, neg = int(labels.sum()), int((~labels).sum())
    if pos == 0 or neg == 0:
        return None
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores), dtype=np.float64)
    sorted_scores = scores[order]
    # average ranks over ties (1-based)
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    avg = first + (counts + 1) / 2.0
    ranks[order] = np.repeat(avg, counts)
    return float((ranks[labels].sum() - pos * (pos + 1) / 2.0) / (pos * neg))


HELDOUT_MASK_PROB = 0.15  # held-out masked-LM scores always mask 15 %, whatever a run trains with


def heldout_collator(tokenizer, mask_prob: float = HELDOUT_MASK_PROB):
    """The held-out scoring's masking: ``mask_prob`` of the positions, every one shown as ``[MASK]``
    (none left visible to copy, none replaced at random)."""
    from .collator import MaskingCollator

    return MaskingCollator.from_tokenizer(tokenizer, mask_prob=mask_prob, replace_prob=1.0, random_prob=0.0)


def evaluate_heldout(model, blocks: np.ndarray, collator, seed: int = 0, batch_size: int = 32,
                     generator_only: bool = False, breakdown: bool = False) -> Dict[str, float]:
    """Masked-LM top-1 / top-5 and replaced-token AUC of ``model`` on held-out blocks.

    The masking is ``collator``'s (the trainer and ``evaluate_folders`` pass
    one that turns every chosen position into ``[MASK]``), drawn from ``seed``
    alone, so every evaluation of a run scores the same positions. The discriminator
    reads the generator's own samples, as in training but always at temperature 1;
    the AUC is over every non-padding position, replaced ones positive.

    With ``breakdown``, also where the discriminator loses (:func:`rtd_breakdown`).

    Returns:
        ``{"mlm_top1", "mlm_top5", "masked", "rtd_auc" (absent when generator_only), "rtd_replaced"}``
        (+ :func:`rtd_breakdown`'s keys).
    """
    import paddle

    from ...model.pretraining import masked_generator_logits

    if breakdown and generator_only:
        raise ValueError("breakdown scores the discriminator, and generator_only does not run it")
    core = getattr(model, "_layers", model)
    # each sublayer's own mode comes back afterwards (a frozen generator stays in eval mode), not train() for all
    modes = [(layer, layer.training) for layer in core.sublayers(include_self=True)]
    core.eval()
    temperature = getattr(core, "temperature", None)  # a run may train at another; scores sample as ELECTRA does
    if temperature is not None:
        core.temperature = 1.0
    rng = np.random.default_rng([seed, 7])
    top1 = top5 = n = 0
    scores, truth, was_masked, sample_prob, beside = [], [], [], [], []
    try:
        with paddle.no_grad():
            paddle.seed(seed)
            for start in range(0, len(blocks), batch_size):
                batch = collator(blocks[start:start + batch_size], rng)
                t = {k: paddle.to_tensor(v) for k, v in batch.items()}
                labels = t["generator_labels"]
                picked = labels[labels != -100]
                if picked.shape[0] == 0:
                    continue
                if generator_only:
                    gen_logits, _ = masked_generator_logits(core.generator, t["input_ids"], labels != -100,
                                                            attention_mask=t["attention_mask"])
                else:
                    out = core(t["input_ids"], attention_mask=t["attention_mask"], raw_input_ids=t["raw_input_ids"],
                               generator_labels=labels, masked_only=True, return_dict=True)
                    gen_logits = out.generator_logits
                    k = out.attention_mask.numpy().astype(bool)
                    replaced = out.discriminator_labels.numpy()
                    scores.append(out.discriminator_logits.numpy()[k])
                    truth.append(replaced[k])
                    if breakdown:
                        masked = batch["generator_labels"] != -100
                        prob = sample_probabilities(paddle.nn.functional.softmax(gen_logits, axis=-1).numpy(),
                                                    out.sampled_input_ids.numpy(), masked)
                        was_masked.append(masked[k])
                        sample_prob.append(prob[k])
                        beside.append(next_to(replaced.astype(bool))[k])
                best = paddle.topk(gen_logits, k=5, axis=-1)[1].numpy()
                target = picked.numpy()[:, None]
                top1 += int((best[:, :1] == target).sum())
                top5 += int((best == target).any(axis=1).sum())
                n += len(target)
    finally:
        for layer, training in modes:
            layer.training = training
        if temperature is not None:
            core.temperature = temperature
    out = {"mlm_top1": top1 / max(n, 1), "mlm_top5": top5 / max(n, 1), "masked": n}
    if scores:
        s, y = np.concatenate(scores), np.concatenate(truth)
        out["rtd_auc"] = roc_auc(s, y)
        out["rtd_replaced"] = float(y.mean())
        if breakdown:
            out.update(rtd_breakdown(s, y, np.concatenate(was_masked), np.concatenate(sample_prob),
                                     next_to_replaced=np.concatenate(beside)))
    return out


def sample_probabilities(probs: np.ndarray, sampled: np.ndarray, masked: np.ndarray) -> np.ndarray:
    """The generator's probability of the token it sampled, as [B, L] (NaN where not masked).

    Args:
        probs: [N, V] the generator's distributions at the masked positions in
            row-major order (``masked_only``'s rows); sampled: [B, L] ids the
            discriminator read; masked: bool [B, L], N of them True.
    """
    masked = np.asarray(masked, dtype=bool)
    if probs.shape[0] != int(masked.sum()):
        raise ValueError(f"{probs.shape[0]} rows of probabilities for {int(masked.sum())} masked positions")
    out = np.full(masked.shape, np.nan)
    out[masked] = probs[np.arange(probs.shape[0]), np.asarray(sampled)[masked]]
    return out


def next_to(flags: np.ndarray) -> np.ndarray:
    """[B, L] True where the left or right neighbour in the same row is flagged."""
    flags = np.asarray(flags, dtype=bool)
    out = np.zeros_like(flags)
    out[:, 1:] |= flags[:, :-1]
    out[:, :-1] |= flags[:, 1:]
    return out


def rtd_breakdown(scores: np.ndarray, replaced: np.ndarray, masked: np.ndarray, sample_prob: np.ndarray,
                  bins: int = 4, next_to_replaced: Optional[np.ndarray] = None) -> Dict[str, object]:
    """Where a discriminator loses replaced-token AUC.

    The AUC is over every position; the originals it must rank below the
    replaced tokens are of two kinds, scored apart here. The replaced tokens are
    also split by how likely the generator found the token it sampled
    (``bins`` equal-count bins): an unlikely sample is a plain error that a good
    discriminator flags almost always, a likely one may be a fair alternative.
    With ``next_to_replaced``, the never-masked originals are split once more: a
    character beside a replaced one belongs to the same broken word, and which
    of the two is the intruder can be ambiguous.

    Args:
        scores: [N] discriminator logits; replaced: [N] 1 where replaced.
        masked: [N] True at the masked positions; sample_prob: [N] the generator's
            probability of its sample there (NaN elsewhere); next_to_replaced:
            [N] True beside a replaced position (:func:`next_to`).

    Returns:
        ``{"rtd_auc_vs_unmasked", "rtd_auc_vs_sampled_original", "rtd_auc_by_sample_prob"}``: the
        AUC of the replaced tokens against the never-masked originals, against
        the masked positions where the generator sampled the original back, and
        per bin ``[low, high, AUC against the never-masked originals]``; with
        ``next_to_replaced`` also ``"rtd_auc_vs_unmasked_next_to_replaced"`` and
        ``"rtd_auc_vs_unmasked_elsewhere"``.
    """
    replaced, masked = np.asarray(replaced).astype(bool), np.asarray(masked).astype(bool)
    unmasked = ~masked
    kept = masked & ~replaced

    def auc_against(negatives, positives=replaced):
        sel = positives | negatives
        return roc_auc(scores[sel], positives[sel])

    out = {"rtd_auc_vs_unmasked": auc_against(unmasked), "rtd_auc_vs_sampled_original": auc_against(kept),
           "rtd_auc_by_sample_prob": []}
    if replaced.any():
        edges = np.quantile(sample_prob[replaced], np.linspace(0.0, 1.0, bins + 1))
        for i, (low, high) in enumerate(zip(edges[:-1], edges[1:])):
            inside = replaced & (sample_prob >= low) & ((sample_prob < high) if i < bins - 1 else (sample_prob <= high))
            out["rtd_auc_by_sample_prob"].append([float(low), float(high), auc_against(unmasked, inside)])
    if next_to_replaced is not None:
        beside = np.asarray(next_to_replaced, dtype=bool)
        out["rtd_auc_vs_unmasked_next_to_replaced"] = auc_against(unmasked & beside)
        out["rtd_auc_vs_unmasked_elsewhere"] = auc_against(unmasked & ~beside)
    return out


def evaluate_folders(generator: str, discriminator: str, text_file: str, max_length: int = 128,
                     mask_prob: float = HELDOUT_MASK_PROB, seed: int = 1998, batch_size: int = 32,
                     max_blocks: Optional[int] = None, collapse_check: bool = False,
                     breakdown: bool = False) -> Dict[str, float]:
    """:func:`evaluate_heldout` for saved generator / discriminator folders on a text file.

    The pair is rebuilt as in pre-training (the discriminator reads the
    generator's samples); the lines are packed as the trainer packs them and
    ``mask_prob`` of the positions become ``[MASK]``. With ``collapse_check``,
    also :func:`cls_spread` of the discriminator over the first 4 lines, next to
    the same network with random weights (seeded by ``seed``). With
    ``breakdown``, :func:`rtd_breakdown` too.

    Returns:
        ``{"mlm_top1", "mlm_top5", "masked", "rtd_auc", "rtd_replaced", "blocks", "lines"}``
        (+ ``"cls_spread"``, ``"cls_spread_random_weights"``; + :func:`rtd_breakdown`'s keys).
    """
    import paddle

    from ...model.modeling import ElectraDiscriminator, ElectraGenerator
    from ...model.pretraining import ElectraForTotalPretraining
    from ...tokenizer import ElectraTokenizer
    from .data import pack_blocks, read_lines

    lines = read_lines([text_file])
    tokenizer = ElectraTokenizer.from_pretrained(generator)
    blocks = pack_blocks(lines, tokenizer, max_length)[:max_blocks]
    gen = ElectraGenerator.from_pretrained(generator)
    disc = ElectraDiscriminator.from_pretrained(discriminator)
    if gen.config.vocab_size != disc.config.vocab_size:
        raise ValueError(f"{generator} and {discriminator} have different vocabularies "
                         f"({gen.config.vocab_size} vs {disc.config.vocab_size} ids): not a pre-training pair")
    pair = ElectraForTotalPretraining(gen, disc)
    out = evaluate_heldout(pair, blocks, heldout_collator(tokenizer, mask_prob), seed=seed, batch_size=batch_size,
                           breakdown=breakdown)
    out.update(blocks=int(len(blocks)), lines=len(lines))
    if collapse_check:
        out["cls_spread"] = cls_spread(disc, tokenizer, lines[:4], max_length)
        paddle.seed(seed)
        out["cls_spread_random_weights"] = cls_spread(ElectraDiscriminator(disc.config), tokenizer, lines[:4],
                                                      max_length)
    return out


def cls_spread(model, tokenizer, texts, max_length: int = 128) -> float:
    """How different the last-layer [CLS] vectors of ``texts`` are: the mean over hidden units of
    their standard deviation across the texts.

    A collapsed discriminator (the same hidden states for every input) scores ~0.01. So does a
    freshly initialised one, where the position and [CLS] embeddings dominate (0.016 measured
    for the shipped shape, against 0.105 for the shipped discriminator): compare with the same
    network's random-weights value. The model card's collapse check.
    """
    import paddle

    core = getattr(model, "electra", model)
    enc = tokenizer(list(texts), max_length=max_length, truncation=True, padding=True, return_tensors="np")
    was_training = core.training
    core.eval()
    try:
        with paddle.no_grad():
            out = core(paddle.to_tensor(enc["input_ids"]), attention_mask=paddle.to_tensor(enc["attention_mask"]),
                       return_dict=True).last_hidden_state
    finally:
        if was_training:
            core.train()
    return float(out.numpy()[:, 0, :].std(axis=0).mean())
