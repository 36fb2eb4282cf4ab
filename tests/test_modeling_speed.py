"""Dygraph speed paths in modeling.py change no number: row-gathered attention heads equal strided views bit for bit."""

import numpy as np
import paddle
import pytest

import paddle_electra as pe
from paddle_electra import modeling


def _model(hidden, heads, embedding):
    paddle.seed(11)
    m = pe.ElectraModel(pe.ElectraConfig(vocab_size=300, hidden_size=hidden, embedding_size=embedding,
                                         num_attention_heads=heads, num_hidden_layers=2, intermediate_size=37,
                                         max_position_embeddings=80))
    m.eval()
    return m


@pytest.mark.parametrize("hidden,heads,embedding,batch,seq", [
    (64, 4, 32, 3, 17), (64, 4, 64, 1, 1), (48, 3, 16, 2, 64), (32, 1, 32, 5, 9)])
def test_row_gathered_heads_equal_strided_views_bitwise(monkeypatch, hidden, heads, embedding, batch, seq):
    m = _model(hidden, heads, embedding)
    rs = np.random.RandomState(batch * 100 + seq)
    ids = paddle.to_tensor(rs.randint(5, 300, (batch, seq)).astype("int64"))
    mask = np.ones((batch, seq), dtype="int64")
    mask[0, seq // 2 + 1:] = 0
    mask = paddle.to_tensor(mask)
    calls = []
    real_gather = paddle.gather
    monkeypatch.setattr(paddle, "gather", lambda *a, **k: calls.append(1) or real_gather(*a, **k))
    with paddle.no_grad():
        fast = m(ids, attention_mask=mask, output_attentions=True, output_hidden_states=True, return_dict=True)
        assert len(calls) == 4 * 2  # q, k, v and the context, in each of the 2 layers
        monkeypatch.setenv("PADDLE_ELECTRA_STRIDED_HEADS", "1")
        plain = m(ids, attention_mask=mask, output_attentions=True, output_hidden_states=True, return_dict=True)
        assert len(calls) == 8  # the switch turns the gathers off
    for a, b in zip([fast.last_hidden_state, *fast.hidden_states, *fast.attentions],
                    [plain.last_hidden_state, *plain.hidden_states, *plain.attentions]):
        assert np.array_equal(a.numpy(), b.numpy())


def test_training_keeps_strided_views(monkeypatch):
    """With autograd on (training), the measured-for-inference gather path is not taken."""
    m = _model(64, 4, 32)
    calls = []
    real_gather = paddle.gather
    monkeypatch.setattr(paddle, "gather", lambda *a, **k: calls.append(1) or real_gather(*a, **k))
    out = m(paddle.to_tensor([[5, 6, 7, 8]]))
    out.sum().backward()
    assert calls == [] and m.encoder.layers[0].self_attn.q_proj.weight.grad is not None


def test_head_rows_are_the_transposes():
    (q, k, v), back = modeling._head_rows(2, 3, 4)
    b, t, h = np.meshgrid(np.arange(2), np.arange(3), np.arange(4), indexing="ij")
    # fused projection rows: token (b, t), part p, head h is row ((b*3 + t)*3 + p)*4 + h
    for part, rows in enumerate((q, k, v)):
        want = np.transpose(((b * 3 + t) * 3 + part) * 4 + h, (0, 2, 1)).reshape(-1)  # [B, heads, L] order
        assert rows.numpy().tolist() == want.tolist()
    # back: row (b, t, h) of [B*L*heads] comes from row (b*4 + h)*3 + t of [B*heads*L]
    assert back.numpy().tolist() == ((b * 4 + h) * 3 + t).reshape(-1).tolist()
