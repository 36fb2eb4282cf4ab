"""paddle_electra dygraph vs HF transformers torch eager, same weights, one process.

ELECTRA-small discriminator shapes (12 layers, H 256, vocab 21128), seq 128,
padded batch; prints min wall / CPU time over 4 alternating runs and the ratio.

    OMP_NUM_THREADS=2 python tools/bench_dygraph.py 32
    OMP_NUM_THREADS=2 PADDLE_ELECTRA_KEEP_MKL_DEFAULTS=1 python tools/bench_dygraph.py 32   # without the MKL fix
"""
import os, sys, time, tempfile
import numpy as np, paddle, torch, transformers
import paddle_electra as pe
threads = int(os.environ.get("OMP_NUM_THREADS", "2")); torch.set_num_threads(threads); paddle.base.core.set_num_threads(threads)
B = int(sys.argv[1]) if len(sys.argv) > 1 else 32
hc = transformers.ElectraConfig(vocab_size=21128, embedding_size=128, hidden_size=256, num_hidden_layers=12, num_attention_heads=4, intermediate_size=1024)
torch.manual_seed(0); hf = transformers.ElectraModel(hc).eval()
d = tempfile.mkdtemp(); hf.save_pretrained(d); pm = pe.ElectraModel.from_pretrained(d)
ids = np.random.RandomState(0).randint(106, 21128, (B, 128)); mask = np.ones_like(ids); mask[::2, 100:] = 0
ti, tm = torch.tensor(ids), torch.tensor(mask); pi, pmk = paddle.to_tensor(ids), paddle.to_tensor(mask)
def run_t():
    with torch.no_grad(): return hf(input_ids=ti, attention_mask=tm).last_hidden_state.numpy()
def run_p():
    with paddle.no_grad(): return pm(pi, attention_mask=pmk).numpy()
print("maxdiff", np.abs(run_t() - run_p()).max())
res = {"torch": [], "paddle": []}
for _ in range(4):
    for name, f in (("torch", run_t), ("paddle", run_p)):
        w, c = time.perf_counter(), time.process_time(); f(); res[name].append((time.perf_counter() - w, time.process_time() - c))
for k, v in res.items():
    print(k, "wall min %.0f ms  cpu min %.0f ms" % (min(x[0] for x in v) * 1e3, min(x[1] for x in v) * 1e3))
print("ratio wall %.2f cpu %.2f" % (min(x[0] for x in res["paddle"]) / min(x[0] for x in res["torch"]), min(x[1] for x in res["paddle"]) / min(x[1] for x in res["torch"])))
