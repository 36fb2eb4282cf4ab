"""paddle_electra dygraph vs HF transformers torch eager, same weights, one process.

ELECTRA-small discriminator shapes (12 layers, H 256, vocab 21128), seq 128,
padded batch; prints min wall / CPU time over 4 alternating runs and the ratio.

    OMP_NUM_THREADS=2 python tools/bench_dygraph.py 32
    OMP_NUM_THREADS=2 PADDLE_ELECTRA_KEEP_MKL_DEFAULTS=1 python tools/bench_dygraph.py 32   # without the MKL fix
"""
import os
import sys
import tempfile
import time

import numpy as np
import paddle
import torch
import transformers

import paddle_electra as pe

SEQ_LEN = 128
ROUNDS = 4


def build_pair(save_dir):
    """One randomly initialised HF model and the paddle_electra model loaded from its files."""
    config = transformers.ElectraConfig(vocab_size=21128, embedding_size=128, hidden_size=256,
                                        num_hidden_layers=12, num_attention_heads=4, intermediate_size=1024)
    torch.manual_seed(0)
    hf = transformers.ElectraModel(config).eval()
    hf.save_pretrained(save_dir)
    return hf, pe.ElectraModel.from_pretrained(save_dir)


def make_batch(batch):
    """Random ids; every second row padded from position 100, so the mask path is timed too."""
    ids = np.random.RandomState(0).randint(106, 21128, (batch, SEQ_LEN))
    mask = np.ones_like(ids)
    mask[::2, 100:] = 0
    return ids, mask


def timed(fn):
    """(wall seconds, CPU seconds of this process) for one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def main():
    threads = int(os.environ.get("OMP_NUM_THREADS", "2"))
    torch.set_num_threads(threads)
    paddle.base.core.set_num_threads(threads)
    batch = int(sys.argv[1]) if len(sys.argv) > 1 else 32
    with tempfile.TemporaryDirectory() as save_dir:
        hf, ours = build_pair(save_dir)
    ids, mask = make_batch(batch)
    torch_ids, torch_mask = torch.tensor(ids), torch.tensor(mask)
    paddle_ids, paddle_mask = paddle.to_tensor(ids), paddle.to_tensor(mask)

    def run_torch():
        with torch.no_grad():
            return hf(input_ids=torch_ids, attention_mask=torch_mask).last_hidden_state.numpy()

    def run_paddle():
        with paddle.no_grad():
            return ours(paddle_ids, attention_mask=paddle_mask).numpy()

    print("maxdiff", np.abs(run_torch() - run_paddle()).max())  # also the warm-up call of each
    times = {"torch": [], "paddle": []}
    for _ in range(ROUNDS):  # alternate, so load on the machine hits both alike
        times["torch"].append(timed(run_torch))
        times["paddle"].append(timed(run_paddle))
    best = {name: (min(t[0] for t in runs), min(t[1] for t in runs)) for name, runs in times.items()}
    for name, (wall, cpu) in best.items():
        print(f"{name} wall min {wall * 1e3:.0f} ms  cpu min {cpu * 1e3:.0f} ms")
    wall_ratio, cpu_ratio = (best["paddle"][i] / best["torch"][i] for i in (0, 1))
    print(f"ratio wall {wall_ratio:.2f} cpu {cpu_ratio:.2f}")


if __name__ == "__main__":
    main()
