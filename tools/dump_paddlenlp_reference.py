#!/usr/bin/env python
"""Dump reference facts about PaddleNLP 2.8.1 ELECTRA models.

Stand-alone: run it with the interpreter of the PaddleNLP venv, e.g.

    .venv-paddlenlp/bin/python tools/dump_paddlenlp_reference.py \
        --out tests/data/paddlenlp_reference

It writes into --out:

* paddlenlp_electra_keys.json: {class name: {config variant: [[param_name, shape, dtype], ...]}}
  in ``model.state_dict()`` order.
* paddlenlp_electra_meta.json: versions, configs, per-class tie info, forward signatures,
  LayerNorm epsilons, output conventions observed by running tiny forwards, attention-mask
  probes, pretraining/criterion probes, save_pretrained outputs and legacy
  ``model_config.json`` (``init_args``) loading probes.
* save_pretrained/<Class>/<variant>/<config files>: the JSON config file(s) written by
  ``save_pretrained`` (weights are not copied; their keys are listed in the meta JSON).

Nothing here is imported by the project; it only documents the reference behaviour. The tiny
models and the behaviour probes are in ``paddlenlp_reference_probes.py`` next to this file.
"""

import argparse
import contextlib
import inspect
import io
import json
import os
import shutil
import sys
import tempfile
import traceback

# first: it quiets warnings and puts Paddle on the CPU before PaddleNLP loads; the tool's folder is on sys.path
from paddlenlp_reference_probes import (
    BASE_CONFIG,
    CLASSES,
    NEEDS_E_EQ_H,
    VARIANTS,
    ElectraConfig,
    ElectraDiscriminator,
    ElectraForTotalPretraining,
    ElectraGenerator,
    attention_mask_probes,
    build,
    dtype_str,
    embeddings_probes,
    inputs,
    make_config,
    output_probes,
    pretraining_probes,
    try_call,
)

import numpy as np  # noqa: E402
import paddle  # noqa: E402
import paddlenlp  # noqa: E402
from paddlenlp.transformers import electra as pe  # noqa: E402

# ----------------------------------------------------------------------------- keys / ties


def state_dict_entries(model):
    return [[k, list(v.shape), dtype_str(v)] for k, v in model.state_dict().items()]


def tie_info(model):
    sd = model.state_dict()
    groups = {}
    for k, v in sd.items():
        groups.setdefault(id(v), []).append(k)
    shared = [names for names in groups.values() if len(names) > 1]
    named_params = [n for n, _ in model.named_parameters()]
    info = {
        "state_dict_len": len(sd),
        "named_parameters_len": len(named_params),
        "shared_state_dict_groups": shared,
        "state_dict_names_missing_from_named_parameters": [k for k in sd if k not in set(named_params)],
        "class_attr_tie_word_embeddings": getattr(type(model), "tie_word_embeddings", None),
        "config_tie_word_embeddings": model.config.tie_word_embeddings,
        "class_attr_untied_generator_embeddings": getattr(type(model), "untied_generator_embeddings", None),
        "class_attr_use_softmax_sample": getattr(type(model), "use_softmax_sample", None),
    }
    gens = []
    if isinstance(model, ElectraGenerator):
        gens.append(("", model))
    if hasattr(model, "generator"):
        gens.append(("generator.", model.generator))
    for prefix, gen in gens:
        info[prefix + "generator_lm_head"] = {
            "has_generator_lm_head_linear": hasattr(gen, "generator_lm_head"),
            "has_generator_lm_head_bias_param": hasattr(gen, "generator_lm_head_bias"),
            "note": "tied: logits = matmul(generator_predictions(h), electra.embeddings.word_embeddings.weight^T)"
            " + generator_lm_head_bias (no separate lm weight parameter exists)"
            if not hasattr(gen, "generator_lm_head")
            else "untied nn.Linear(embedding_size, vocab_size)",
        }
    if hasattr(model, "generator") and hasattr(model, "discriminator"):
        gw = model.generator.electra.embeddings.word_embeddings.weight
        dw = model.discriminator.electra.embeddings.word_embeddings.weight
        info["generator_discriminator_word_embeddings_same_object"] = gw is dw
        info["generator_discriminator_word_embeddings_equal_values"] = bool(
            gw.shape == dw.shape and np.array_equal(gw.numpy(), dw.numpy())
        )
        info["generator_config_is_discriminator_config"] = model.generator.config is model.discriminator.config
        info["generator_config_is_model_config"] = model.generator.config is model.config
        info["generator_hidden_size"] = model.generator.config.hidden_size
        info["discriminator_hidden_size"] = model.discriminator.config.hidden_size
    return info


def layer_norm_eps(cls, variant):
    """Epsilon of every LayerNorm after construction when config.layer_norm_eps=1e-7."""
    model = build(cls, variant, layer_norm_eps=1e-7)
    return {n: float(l._epsilon) for n, l in model.named_sublayers() if isinstance(l, paddle.nn.LayerNorm)}


def module_tree(model):
    out = []
    for n, l in model.named_sublayers():
        if n.count(".layers.") and not n.split(".layers.")[1].startswith("0"):
            continue  # only show encoder layer 0
        extra = ""
        if isinstance(l, paddle.nn.Linear):
            extra = f"in={l.weight.shape[0]} out={l.weight.shape[1]} bias={l.bias is not None}"
        elif isinstance(l, paddle.nn.Embedding):
            extra = f"num={l.weight.shape[0]} dim={l.weight.shape[1]}"
        elif isinstance(l, paddle.nn.Dropout):
            extra = f"p={l.p}"
        elif isinstance(l, paddle.nn.LayerNorm):
            extra = f"shape={l._normalized_shape} eps={l._epsilon}"
        out.append([n, type(l).__name__, extra])
    # attributes holding activation functions (not sublayers)
    for n, l in [("", model)] + list(model.named_sublayers()):
        for attr in ("act", "activation", "activation_mts", "pool_act"):
            if attr in getattr(l, "__dict__", {}):
                v = l.__dict__[attr]
                out.append([f"{n}.{attr}" if n else attr, "attribute", getattr(v, "__name__", repr(v))])
    return out


# ----------------------------------------------------------------------------- save_pretrained / legacy


def save_pretrained_probe(out_dir, meta):
    res = {}
    for cls in (ElectraDiscriminator, ElectraGenerator):
        for variant in VARIANTS:
            model = build(cls, variant)
            with tempfile.TemporaryDirectory() as tmp:
                model.save_pretrained(tmp)
                files = sorted(os.listdir(tmp))
                entry = {"files": files, "configs": {}, "weights": {}}
                dest = os.path.join(out_dir, "save_pretrained", cls.__name__, variant)
                os.makedirs(dest, exist_ok=True)
                for f in files:
                    p = os.path.join(tmp, f)
                    if f.endswith(".json"):
                        with open(p) as fh:
                            entry["configs"][f] = json.load(fh)
                        shutil.copy(p, os.path.join(dest, f))
                    elif f.endswith(".pdparams"):
                        sd = paddle.load(p)
                        entry["weights"][f] = [
                            [k, list(v.shape), str(v.dtype).replace("paddle.", "")] for k, v in sd.items()
                        ]
                    elif f.endswith(".safetensors"):
                        entry["weights"][f] = "safetensors file (keys not listed)"
                # reload round trip
                try:
                    re = cls.from_pretrained(tmp)
                    entry["from_pretrained_roundtrip"] = "ok"
                    entry["reloaded_config_architectures"] = re.config.architectures
                except Exception as exc:
                    entry["from_pretrained_roundtrip"] = f"{type(exc).__name__}: {exc}"
                if cls is ElectraGenerator and variant == "E16_H32":
                    buf = io.StringIO()
                    try:
                        with contextlib.redirect_stdout(buf):
                            re2 = cls.from_pretrained(tmp, layer_norm_eps=1e-7)
                            re3 = cls.from_pretrained(tmp, layer_norm_eps=1e-7, low_cpu_mem_usage=True)
                        entry["layer_norm_eps_after_from_pretrained_config_eps_1e-7"] = {
                            n: float(l._epsilon) for n, l in re2.named_sublayers() if isinstance(l, paddle.nn.LayerNorm)
                        }
                        entry["layer_norm_eps_after_from_pretrained_low_cpu_mem_usage"] = {
                            n: float(l._epsilon) for n, l in re3.named_sublayers() if isinstance(l, paddle.nn.LayerNorm)
                        }
                    except Exception as exc:
                        entry["layer_norm_eps_probe_error"] = f"{type(exc).__name__}: {str(exc)[:300]}"
                if cls is ElectraDiscriminator and variant == "E16_H32":
                    legacy = legacy_probe(tmp)
                    meta["legacy_model_config_json"] = legacy
                res[f"{cls.__name__}/{variant}"] = entry
    # also: what happens with safe_serialization=True
    model = build(ElectraDiscriminator, "E16_H32")
    with tempfile.TemporaryDirectory() as tmp:
        try:
            model.save_pretrained(tmp, safe_serialization=True)
            res["ElectraDiscriminator/E16_H32/safe_serialization=True"] = {"files": sorted(os.listdir(tmp))}
        except Exception as exc:
            res["ElectraDiscriminator/E16_H32/safe_serialization=True"] = {"error": f"{type(exc).__name__}: {exc}"}
    return res


def legacy_probe(saved_dir):
    """Write 2.4-era ``model_config.json`` variants next to saved weights and try loading."""
    cfg = {k: v for k, v in make_config("E16_H32").to_dict().items() if k in BASE_CONFIG or k in (
        "hidden_act", "hidden_dropout_prob", "attention_probs_dropout_prob", "initializer_range", "pad_token_id")}
    cfg.pop("num_labels", None)
    cfg.pop("num_choices", None)
    cfg["vocab_size"] = 99
    cases = {
        # 2.4 style: ElectraDiscriminator(electra) -> nested ElectraModel kwargs in init_args
        "nested_init_args_with_init_class": {
            "init_args": [dict(cfg, init_class="ElectraModel")],
            "init_class": "ElectraDiscriminator",
        },
        # flat dict inside init_args without inner init_class
        "init_args_single_dict": {"init_args": [dict(cfg)], "init_class": "ElectraDiscriminator"},
        # top-level keys plus init_class, empty init_args
        "flat_with_init_class": dict(cfg, init_args=[], init_class="ElectraDiscriminator"),
    }
    # 2.4-era ElectraForTotalPretraining(generator, discriminator): two levels of nesting, the generator
    # typically smaller than the discriminator (here: generator hidden 16 / 2 layers, discriminator 32).
    gen_cfg = dict(cfg, hidden_size=16, intermediate_size=20, num_attention_heads=2, init_class="ElectraModel")
    total_cases = {
        "total_pretraining_two_level_nesting": {
            "init_args": [
                {"init_args": [gen_cfg], "init_class": "ElectraGenerator"},
                {"init_args": [dict(cfg, init_class="ElectraModel")], "init_class": "ElectraDiscriminator"},
            ],
            "init_class": "ElectraForTotalPretraining",
        },
        "total_pretraining_one_level_gen_first": {
            "init_args": [dict(gen_cfg, init_class="ElectraGenerator"), dict(cfg, init_class="ElectraDiscriminator")],
            "init_class": "ElectraForTotalPretraining",
        },
    }
    weights = os.path.join(saved_dir, "model_state.pdparams")
    res = {
        "parsing_code": (
            "configuration_utils.flatten_model_config (called from PretrainedConfig.from_dict after "
            "convert_to_legacy_config): pops 'init_args'; every dict element is merged into the top level "
            "(only keys not already present; the dicts are removed); non-dict leftovers are put back as "
            "config['init_args']; 'init_class' is renamed to architectures=[init_class]. "
            "get_config_dict looks for config.json first, then model_config.json (LEGACY_CONFIG_NAME). "
            "model_utils.from_pretrained then calls cls(config, *config['init_args'] or ())."
        ),
        "cases": {},
    }
    for name, content in cases.items():
        with tempfile.TemporaryDirectory() as tmp:
            with open(os.path.join(tmp, "model_config.json"), "w") as fh:
                json.dump(content, fh)
            shutil.copy(weights, os.path.join(tmp, "model_state.pdparams"))
            entry = {"model_config.json": content}
            try:
                c = ElectraConfig.from_pretrained(tmp)
                entry["config_ok"] = True
                entry["config_subset"] = {
                    k: getattr(c, k, None)
                    for k in ("vocab_size", "embedding_size", "hidden_size", "num_hidden_layers", "architectures")
                }
                entry["config_has_init_args"] = "init_args" in c.to_dict()
                entry["config_init_class"] = getattr(c, "init_class", None)
            except Exception as exc:
                entry["config_ok"] = False
                entry["config_error"] = f"{type(exc).__name__}: {exc}"
            buf = io.StringIO()
            try:
                with contextlib.redirect_stdout(buf):
                    mdl = ElectraDiscriminator.from_pretrained(tmp)
                entry["model_ok"] = True
                entry["model_hidden_size"] = mdl.config.hidden_size
                entry["model_num_layers"] = len(mdl.electra.encoder.layers)
            except Exception as exc:
                entry["model_ok"] = False
                entry["model_error"] = f"{type(exc).__name__}: {str(exc)[:300]}"
            res["cases"][name] = entry
    for name, content in total_cases.items():
        entry = {"model_config.json": content}
        with tempfile.TemporaryDirectory() as tmp:
            with open(os.path.join(tmp, "model_config.json"), "w") as fh:
                json.dump(content, fh)
            try:
                c = ElectraConfig.from_pretrained(tmp)
                entry["config_ok"] = True
                entry["config_subset"] = {
                    k: getattr(c, k, None)
                    for k in ("vocab_size", "hidden_size", "intermediate_size", "num_attention_heads", "architectures")
                }
                entry["config_leftover_init_args"] = c.to_dict().get("init_args")
            except Exception as exc:
                entry["config_ok"] = False
                entry["config_error"] = f"{type(exc).__name__}: {str(exc)[:300]}"
            try:
                paddle.seed(0)
                ElectraForTotalPretraining(make_config("E16_H32")).save_pretrained(tmp + "_w")
                shutil.copy(os.path.join(tmp + "_w", "model_state.pdparams"), tmp)
                shutil.rmtree(tmp + "_w")
                buf = io.StringIO()
                with contextlib.redirect_stdout(buf):
                    mdl = ElectraForTotalPretraining.from_pretrained(tmp)
                entry["model_ok"] = True
                entry["model_generator_hidden_size"] = mdl.generator.config.hidden_size
            except Exception as exc:
                entry["model_ok"] = False
                entry["model_error"] = f"{type(exc).__name__}: {str(exc)[:300]}"
        res["cases"][name] = entry
    return res


# ----------------------------------------------------------------------------- main


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, help="output directory")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)

    keys = {}
    meta = {
        "versions": {
            "paddle": paddle.__version__,
            "paddlenlp": paddlenlp.__version__,
            "python": sys.version.split()[0],
        },
        "variants": VARIANTS,
        "config_to_dict_E16_H32": make_config("E16_H32").to_dict(),
        "classes": {},
    }
    for cls in CLASSES:
        name = cls.__name__
        keys[name] = {}
        info = {
            "forward_type": str(type(cls.forward)),
            "bound_forward_type": None,
            "forward_signature": str(inspect.signature(cls.forward)),
            "bound_forward_signature": None,
            "mro": [c.__name__ for c in cls.__mro__[:4]],
            "per_variant": {},
        }
        for variant in VARIANTS:
            if name in NEEDS_E_EQ_H and VARIANTS[variant]["embedding_size"] != VARIANTS[variant]["hidden_size"]:
                # record what happens, but no keys (instantiation may succeed; forward cannot)
                try:
                    m = build(cls, variant)
                    keys[name][variant] = state_dict_entries(m)
                    info["per_variant"][variant] = {"instantiates": True, "note": "forward requires E == H"}
                    if name == "ErnieHealthDiscriminator":
                        ids, tt = inputs()
                        cand = paddle.stack([ids] * 6, axis=-1)
                        info["per_variant"][variant]["forward_with_E_ne_H"] = try_call(lambda: m(ids, cand, tt))
                except Exception as exc:
                    info["per_variant"][variant] = {"instantiates": False, "error": f"{type(exc).__name__}: {exc}"}
                continue
            m = build(cls, variant)
            keys[name][variant] = state_dict_entries(m)
            info["bound_forward_type"] = str(type(m.forward))
            info["bound_forward_signature"] = str(inspect.signature(m.forward))
            info["per_variant"][variant] = {
                "num_params": int(sum(int(np.prod(p.shape)) for p in m.parameters())),
                "tie_info": tie_info(m),
                "layer_norm_eps_when_config_eps_1e-7": layer_norm_eps(cls, variant),
                "module_tree_layer0_only": module_tree(m),
            }
        meta["classes"][name] = info

    meta["outputs"] = {v: output_probes(v) for v in VARIANTS}
    meta["attention_mask"] = {v: attention_mask_probes(v) for v in VARIANTS}
    meta["embeddings"] = {v: embeddings_probes(v) for v in VARIANTS}
    meta["pretraining"] = {v: pretraining_probes(v) for v in VARIANTS}
    meta["save_pretrained"] = save_pretrained_probe(args.out, meta)
    meta["aliases"] = {
        "ElectraForMaskedLM_is_ElectraGenerator": pe.modeling.ElectraForMaskedLM is ElectraGenerator,
        "ElectraForPretraining_is_ElectraForTotalPretraining": pe.modeling.ElectraForPretraining
        is ElectraForTotalPretraining,
    }

    with open(os.path.join(args.out, "paddlenlp_electra_keys.json"), "w") as fh:
        json.dump(keys, fh, indent=1)
    with open(os.path.join(args.out, "paddlenlp_electra_meta.json"), "w") as fh:
        json.dump(meta, fh, indent=1, default=str)
    print("wrote", args.out)


if __name__ == "__main__":
    try:
        main()
    except Exception:
        traceback.print_exc()
        sys.exit(1)
