"""The PaddleNLP 2.8.1 side of tools/dump_paddlenlp_reference.py: its tiny models and behaviour probes.

Stand-alone like that tool (run with the PaddleNLP venv's interpreter; it imports this module from
its own folder). Nothing in the project imports it.
"""

import inspect
import os
import warnings

warnings.filterwarnings("ignore")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import numpy as np  # noqa: E402
import paddle  # noqa: E402

paddle.set_device("cpu")

import paddlenlp  # noqa: E402
from paddlenlp.transformers.electra.modeling import (  # noqa: E402
    ElectraConfig,
    ElectraDiscriminator,
    ElectraForMultipleChoice,
    ElectraForQuestionAnswering,
    ElectraForSequenceClassification,
    ElectraForTokenClassification,
    ElectraForTotalPretraining,
    ElectraGenerator,
    ElectraModel,
    ElectraPretrainingCriterion,
    ErnieHealthDiscriminator,
    ErnieHealthForTotalPretraining,
    ErnieHealthPretrainingCriterion,
)

BASE_CONFIG = dict(
    vocab_size=99,
    embedding_size=16,
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=4,
    intermediate_size=37,
    max_position_embeddings=64,
    type_vocab_size=2,
    layer_norm_eps=1e-12,
    num_labels=3,
    num_choices=2,
)
VARIANTS = {
    "E16_H32": dict(BASE_CONFIG),
    "E32_H32": dict(BASE_CONFIG, embedding_size=32),
}

CLASSES = [
    ElectraModel,
    ElectraGenerator,
    ElectraDiscriminator,
    ElectraForSequenceClassification,
    ElectraForTokenClassification,
    ElectraForQuestionAnswering,
    ElectraForMultipleChoice,
    ElectraForTotalPretraining,
    ErnieHealthDiscriminator,
    ErnieHealthForTotalPretraining,
]
# ERNIE-Health scores candidates with word embeddings (size E) against hidden states (size H).
NEEDS_E_EQ_H = {"ErnieHealthDiscriminator", "ErnieHealthForTotalPretraining"}


def make_config(variant, **overrides):
    cfg = dict(VARIANTS[variant])
    cfg.update(overrides)
    return ElectraConfig(**cfg)


def build(cls, variant, seed=0, **overrides):
    paddle.seed(seed)
    model = cls(make_config(variant, **overrides))
    model.eval()
    return model


def dtype_str(t):
    return str(t.dtype).replace("paddle.", "")


def describe(obj, depth=0):
    """JSON-able structural description of a forward output."""
    if isinstance(obj, paddle.Tensor):
        return {"tensor": list(obj.shape), "dtype": dtype_str(obj)}
    if obj is None:
        return None
    if isinstance(obj, paddlenlp.transformers.model_outputs.ModelOutput):
        return {
            "type": type(obj).__name__,
            "fields_set": {k: describe(v, depth + 1) for k, v in obj.items()},
            "all_fields": list(obj.__dataclass_fields__.keys()),
        }
    if isinstance(obj, (tuple, list)):
        return {"type": type(obj).__name__, "items": [describe(v, depth + 1) for v in obj]}
    return {"type": type(obj).__name__, "repr": repr(obj)[:200]}


def try_call(fn):
    try:
        with paddle.no_grad():
            return {"ok": True, "result": describe(fn())}
    except Exception as exc:  # record failures as facts
        return {"ok": False, "error": f"{type(exc).__name__}: {str(exc).strip().splitlines()[-1][:400] if str(exc).strip() else ''}"}


# ----------------------------------------------------------------------------- behaviour probes


def inputs(batch=2, seq=7, pad_last=2, seed=1):
    rng = np.random.RandomState(seed)
    ids = rng.randint(1, 99, size=(batch, seq)).astype("int64")
    if pad_last:
        ids[1, -pad_last:] = 0  # pad_token_id = 0
    tt = np.zeros_like(ids)
    tt[:, seq // 2 :] = 1
    return paddle.to_tensor(ids), paddle.to_tensor(tt)


def output_probes(variant):
    res = {}
    ids, tt = inputs()
    B, L = ids.shape

    m = build(ElectraModel, variant)
    res["ElectraModel"] = {
        "plain": try_call(lambda: m(ids, tt)),
        "output_hidden_states": try_call(lambda: m(ids, tt, output_hidden_states=True)),
        "output_attentions": try_call(lambda: m(ids, tt, output_attentions=True)),
        "return_dict": try_call(lambda: m(ids, tt, return_dict=True)),
        "return_dict_hidden_attn": try_call(
            lambda: m(ids, tt, output_hidden_states=True, output_attentions=True, return_dict=True)
        ),
        "inputs_embeds_only": try_call(
            lambda: m(None, inputs_embeds=paddle.randn([B, L, m.config.embedding_size]))
        ),
        "inputs_embeds_with_mask_pos_tt": try_call(
            lambda: m(
                None,
                token_type_ids=tt,
                position_ids=paddle.arange(L).unsqueeze(0).expand([B, L]),
                attention_mask=paddle.ones([B, L], dtype="int64"),
                inputs_embeds=paddle.randn([B, L, m.config.embedding_size]),
            )
        ),
    }

    g = build(ElectraGenerator, variant)
    labels = paddle.full([B, L], -100, dtype="int64")
    labels[:, 1] = 5
    res["ElectraGenerator"] = {
        "plain": try_call(lambda: g(ids, tt)),
        "labels": try_call(lambda: g(ids, tt, labels=labels)),
        "labels_return_dict": try_call(lambda: g(ids, tt, labels=labels, return_dict=True)),
        "output_hidden_states": try_call(lambda: g(ids, tt, output_hidden_states=True)),
        "labels_hidden_attn": try_call(
            lambda: g(ids, tt, labels=labels, output_hidden_states=True, output_attentions=True)
        ),
        "inputs_embeds_only": try_call(lambda: g(inputs_embeds=paddle.randn([B, L, g.config.embedding_size]))),
    }

    with paddle.no_grad():
        lg = g(ids, tt)
        ce = paddle.nn.functional.cross_entropy(lg.reshape([-1, 99]), labels.reshape([-1]), reduction="none")
        ce = ce.reshape([-1])
        n_lab = float((labels != -100).astype("float32").sum())
        res["ElectraGenerator"]["mlm_loss_denominator_check"] = {
            "loss": float(g(ids, tt, labels=labels)[0]),
            "sum_ce_over_labelled_div_num_labelled": float(ce.sum()) / n_lab,
            "sum_ce_over_labelled_div_B_times_L": float(ce.sum()) / (B * L),
            "note": "paddle CrossEntropyLoss(reduction='mean') only averages over non-ignored labels when "
            "ignore_index >= 0; with the default ignore_index=-100 it is mean_all over every position "
            "(ignored positions contribute 0).",
        }

    d = build(ElectraDiscriminator, variant)
    res["ElectraDiscriminator"] = {
        "plain": try_call(lambda: d(ids, tt)),
        "batch1": try_call(lambda: d(ids[:1], tt[:1])),
    }

    sc = build(ElectraForSequenceClassification, variant)
    res["ElectraForSequenceClassification"] = {
        "plain": try_call(lambda: sc(ids, tt)),
        "labels_int": try_call(lambda: sc(ids, tt, labels=paddle.to_tensor([0, 2]))),
        "labels_int_return_dict": try_call(lambda: sc(ids, tt, labels=paddle.to_tensor([0, 2]), return_dict=True)),
        "output_hidden_states": try_call(lambda: sc(ids, tt, output_hidden_states=True)),
    }
    sc_loss = {}
    with paddle.no_grad():
        sc.config.problem_type = None
        sc_loss["single_label_problem_type_after"] = (sc(ids, tt, labels=paddle.to_tensor([0, 2])), sc.config.problem_type)[1]
        sc2 = build(ElectraForSequenceClassification, variant)
        sc2(ids, tt, labels=paddle.to_tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]]))
        sc_loss["float_labels_problem_type_after"] = sc2.config.problem_type
        sc3 = build(ElectraForSequenceClassification, variant, num_labels=1)
        out = sc3(ids, tt, labels=paddle.to_tensor([0.5, 1.5]))
        sc_loss["num_labels_1_problem_type_after"] = sc3.config.problem_type
        sc_loss["num_labels_1_output"] = describe(out)
    res["ElectraForSequenceClassification"]["problem_type_inference"] = sc_loss

    tc = build(ElectraForTokenClassification, variant)
    res["ElectraForTokenClassification"] = {
        "plain": try_call(lambda: tc(ids, tt)),
        "labels": try_call(lambda: tc(ids, tt, labels=paddle.zeros([B, L], dtype="int64"))),
        "labels_return_dict": try_call(
            lambda: tc(ids, tt, labels=paddle.zeros([B, L], dtype="int64"), return_dict=True)
        ),
        "labels_minus100_ignored_check": None,
    }
    with paddle.no_grad():
        lab = paddle.to_tensor(np.array([[1] * L, [2] * L], dtype="int64"))
        lab_ign = lab.clone()
        lab_ign[1, -2:] = -100
        l_full = float(tc(ids, tt, labels=lab)[0])
        l_ign = float(tc(ids, tt, labels=lab_ign)[0])
        logits = tc(ids, tt)
        ce = paddle.nn.functional.cross_entropy(logits.reshape([-1, 3]), lab_ign.reshape([-1]), reduction="none")
        keep = (lab_ign.reshape([-1]) != -100).astype("float32")
        res["ElectraForTokenClassification"]["labels_minus100_ignored_check"] = {
            "loss_full": l_full,
            "loss_with_-100": l_ign,
            "manual_sum_over_non_ignored_div_num_non_ignored": float((ce.reshape([-1]) * keep).sum() / keep.sum()),
            "manual_sum_over_non_ignored_div_B_times_L": float((ce.reshape([-1]) * keep).sum() / (B * L)),
        }

    qa = build(ElectraForQuestionAnswering, variant)
    sp, ep = paddle.to_tensor([1, 2]), paddle.to_tensor([3, 50])
    res["ElectraForQuestionAnswering"] = {
        "plain": try_call(lambda: qa(ids, tt)),
        "positions": try_call(lambda: qa(ids, tt, start_positions=sp, end_positions=ep)),
        "positions_return_dict": try_call(
            lambda: qa(ids, tt, start_positions=sp, end_positions=ep, return_dict=True)
        ),
        "output_hidden_states": try_call(lambda: qa(ids, tt, output_hidden_states=True)),
        "output_hidden_states_and_attentions": try_call(
            lambda: qa(ids, tt, output_hidden_states=True, output_attentions=True)
        ),
    }

    mc = build(ElectraForMultipleChoice, variant)
    mids = paddle.concat([ids, ids], axis=0).reshape([2, 2, L])
    mtt = paddle.concat([tt, tt], axis=0).reshape([2, 2, L])
    res["ElectraForMultipleChoice"] = {
        "plain_3d": try_call(lambda: mc(mids, mtt)),
        "plain_flat_2d": try_call(lambda: mc(mids.reshape([4, L]), mtt.reshape([4, L]))),
        "labels": try_call(lambda: mc(mids, mtt, labels=paddle.to_tensor([0, 1]))),
        "labels_return_dict": try_call(lambda: mc(mids, mtt, labels=paddle.to_tensor([0, 1]), return_dict=True)),
        "mask_3d": try_call(lambda: mc(mids, mtt, attention_mask=paddle.ones([2, 2, L], dtype="int64"))),
    }
    return res


def attention_mask_probes(variant):
    """Compare ElectraModel outputs under different mask encodings (eval mode, no dropout)."""
    m = build(ElectraModel, variant)
    ids, tt = inputs()
    B, L = ids.shape
    valid = (ids != 0).astype("int64")
    res = {}
    with paddle.no_grad():
        ref = m(ids, tt).numpy()  # no mask -> pad-token masking

        def diff(mask):
            try:
                out = m(ids, tt, attention_mask=mask).numpy()
                return {"max_abs_diff_vs_no_mask": float(np.abs(out - ref).max())}
            except Exception as exc:
                return {"error": f"{type(exc).__name__}: {str(exc).strip().splitlines()[-1][:300]}"}

        res["int64_2d_1keep_0pad"] = diff(valid)
        res["int64_2d_all_ones"] = diff(paddle.ones([B, L], dtype="int64"))
        res["bool_2d_True_keep"] = diff(valid.astype("bool"))
        res["float32_2d_1keep_0pad"] = diff(valid.astype("float32"))
        res["float32_2d_additive_0keep_-1e4pad"] = diff((1 - valid).astype("float32") * -1e4)
        res["float32_4d_additive_0keep_-1e4pad"] = diff(((1 - valid).astype("float32") * -1e4).unsqueeze([1, 2]))
        res["int64_4d_1keep_0pad"] = diff(valid.unsqueeze([1, 2]))
        res["bool_4d_True_keep"] = diff(valid.astype("bool").unsqueeze([1, 2]))
        # pad rows influence: compare the valid positions of row 1 with an unpadded truncated run
        short = m(ids[1:2, :-2], tt[1:2, :-2]).numpy()
        res["no_mask_padded_row_matches_truncated_sequence_max_abs_diff"] = float(
            np.abs(ref[1, :-2] - short[0]).max()
        )
    res["note"] = (
        "ElectraModel with attention_mask=None builds (input_ids == pad_token_id) * -1e4 as an additive [B,1,1,L] "
        "float mask; a 2-D mask is unsqueezed to [B,1,1,L] and handed to paddle.nn.TransformerEncoder, whose "
        "_convert_attention_mask turns bool/int masks into additive (0 / -1e9) masks and adds float masks as-is."
    )
    return res


def embeddings_probes(variant):
    m = build(ElectraModel, variant)
    ids, tt = inputs(pad_last=0)
    B, L = ids.shape
    res = {}
    with paddle.no_grad():
        base = m(ids).numpy()
        res["token_type_None_equals_zeros"] = float(
            np.abs(base - m(ids, token_type_ids=paddle.zeros_like(ids)).numpy()).max()
        )
        res["position_ids_None_equals_arange"] = float(
            np.abs(base - m(ids, position_ids=paddle.arange(L).unsqueeze(0).expand([B, L])).numpy()).max()
        )
        emb_ids = m.embeddings(ids).numpy()
        emb_ie = m.embeddings(ids, inputs_embeds=m.embeddings.word_embeddings(ids) * 0.0).numpy()
        res["embeddings_input_ids_take_precedence_over_inputs_embeds_max_abs_diff"] = float(
            np.abs(emb_ids - emb_ie).max()
        )
    return res


def pretraining_probes(variant):
    res = {}
    ids, tt = inputs()
    B, L = ids.shape
    raw = ids.clone()
    masked = ids.clone()
    gl = paddle.full([B, L], -100, dtype="int64")
    for b, pos in [(0, 1), (0, 3), (1, 2)]:
        gl[b, pos] = raw[b, pos]
        masked[b, pos] = 98  # stand-in [MASK] id
    m = build(ElectraForTotalPretraining, variant)
    m.train()
    with paddle.no_grad():
        paddle.seed(3)
        out = m(input_ids=masked, token_type_ids=tt, raw_input_ids=raw, generator_labels=gl)
    res["ElectraForTotalPretraining_forward"] = describe(out)
    gen_logits, disc_logits, disc_labels, att = out
    res["disc_labels"] = disc_labels.numpy().tolist()
    res["disc_labels_nonzero_only_at_masked_positions"] = bool(
        ((disc_labels.numpy() != 0) <= (gl.numpy() != -100)).all()
    )
    res["returned_attention_mask"] = att.numpy().tolist()
    res["forward_without_generator_labels"] = try_call(lambda: m(input_ids=masked, raw_input_ids=raw))
    crit = ElectraPretrainingCriterion(m.config)
    with paddle.no_grad():
        loss = crit(gen_logits, disc_logits, gl, disc_labels, att)
        # manual recomputation
        ce = paddle.nn.functional.cross_entropy(
            gen_logits.reshape([-1, 99]), gl.reshape([-1]), reduction="none", ignore_index=-100
        )
        n_mask = float((gl != -100).astype("float32").sum())
        gen_loss = float(ce.sum()) / n_mask
        bce = paddle.nn.functional.binary_cross_entropy_with_logits(
            disc_logits, disc_labels.astype("float32"), reduction="none"
        )
        am = att.astype("float32")
        disc_loss = float((bce * am).sum() / am.sum())
        loss_none_mask = crit(gen_logits, disc_logits, gl, disc_labels, None)
        disc_loss_all = float(bce.mean())
    res["ElectraPretrainingCriterion"] = {
        "loss": describe(loss),
        "loss_value": float(loss),
        "manual_gen_loss_sum_over_masked_div_count": gen_loss,
        "manual_disc_loss_masked_mean": disc_loss,
        "manual_total_1*gen+50*disc": gen_loss + 50.0 * disc_loss,
        "loss_attention_mask_None": float(loss_none_mask),
        "manual_total_attention_mask_None_1*gen+50*disc_mean_all": gen_loss + 50.0 * disc_loss_all,
        "signature": str(inspect.signature(ElectraPretrainingCriterion.forward)),
        "init_signature": str(inspect.signature(ElectraPretrainingCriterion.__init__)),
    }
    # deterministic sampling (no gumbel noise) = argmax of generator logits
    with paddle.no_grad():
        onehot = m.sample_from_softmax(gen_logits, use_softmax_sample=False)
    res["sample_from_softmax_no_noise_equals_argmax"] = bool(
        (paddle.argmax(onehot, -1) == paddle.argmax(gen_logits, -1)).all()
    )
    res["sample_from_softmax_output"] = describe(onehot)

    if variant == "E32_H32":
        eh = build(ErnieHealthForTotalPretraining, variant)
        eh.train()
        with paddle.no_grad():
            paddle.seed(3)
            res["ErnieHealthForTotalPretraining_forward_tuple"] = describe(
                eh(input_ids=masked, token_type_ids=tt, raw_input_ids=raw, generator_labels=gl)
            )
            res["ErnieHealthForTotalPretraining_forward_return_dict"] = describe(
                eh(input_ids=masked, token_type_ids=tt, raw_input_ids=raw, generator_labels=gl, return_dict=True)
            )
            glog = eh.generator(masked, tt)
            cands = eh.get_discriminator_inputs_ernie_health(masked, raw, glog, gl, True)
            res["ErnieHealth_get_discriminator_inputs"] = describe(cands)
            cand_ids = cands[3].numpy()
            res["ErnieHealth_candidates_first_is_raw"] = bool((cand_ids[:, :, 0] == raw.numpy()).all())
            res["ErnieHealth_negatives_distinct_from_raw_and_each_other"] = bool(
                all(
                    len(set(cand_ids[b, t].tolist())) == cand_ids.shape[-1]
                    for b in range(cand_ids.shape[0])
                    for t in range(cand_ids.shape[1])
                )
            )
            disc = eh.discriminator
            res["ErnieHealthDiscriminator_forward"] = describe(disc(cands[0], cands[3], tt))
            res["ErnieHealthDiscriminator_forward_batch1"] = describe(disc(cands[0][:1], cands[3][:1], tt[:1]))
            res["ErnieHealthPretrainingCriterion"] = {
                "signature": str(inspect.signature(ErnieHealthPretrainingCriterion.forward)),
                "attrs": {
                    k: getattr(ErnieHealthPretrainingCriterion(eh.config), k)
                    for k in ("gen_weight", "rtd_weight", "mts_weight", "csp_weight", "temperature")
                },
            }
            res["ErnieHealthForTotalPretraining_odd_batch"] = try_call(
                lambda: eh(
                    input_ids=paddle.concat([masked, masked[:1]]),
                    raw_input_ids=paddle.concat([raw, raw[:1]]),
                    generator_labels=paddle.concat([gl, gl[:1]]),
                )
            )
    return res
