"""Every head traces to a static graph (Paddle 3 PIR) and Paddle Inference matches dygraph."""

import os

import numpy as np
import paddle
import pytest
from paddle.static import InputSpec

import paddle_electra as pe
from conftest import TINY, make_batch

HEADS = ["ElectraModel", "ElectraGenerator", "ElectraDiscriminator", "ElectraForSequenceClassification",
         "ElectraForTokenClassification", "ElectraForQuestionAnswering"]


class _Exported(paddle.nn.Layer):
    """Fixed positional inputs for the traced graph."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, token_type_ids, attention_mask):
        return self.model(input_ids, token_type_ids=token_type_ids, attention_mask=attention_mask)


@pytest.mark.parametrize("name", HEADS)
def test_head_exports_and_inference_matches(tmp_path, name):
    paddle.seed(0)
    model = getattr(pe, name)(pe.ElectraConfig(**TINY)).eval()
    spec = [InputSpec([None, None], "int64", name=n) for n in ("input_ids", "token_type_ids", "attention_mask")]
    prefix = str(tmp_path / "inference")
    paddle.jit.save(paddle.jit.to_static(_Exported(model), input_spec=spec, full_graph=True), prefix)
    assert os.path.exists(prefix + ".json") and os.path.exists(prefix + ".pdiparams")
    config = paddle.inference.Config(prefix + ".json", prefix + ".pdiparams")
    config.disable_glog_info()
    predictor = paddle.inference.create_predictor(config)
    for batch in (3, 1):  # dynamic batch and sequence axes, batch 1 included
        ids, types, mask = make_batch(batch=batch, seq=9 if batch == 3 else 5)
        for n, a in zip(predictor.get_input_names(), (ids, types, mask)):
            predictor.get_input_handle(n).copy_from_cpu(a)
        predictor.run()
        got = [predictor.get_output_handle(n).copy_to_cpu() for n in predictor.get_output_names()]
        want = model(paddle.to_tensor(ids), token_type_ids=paddle.to_tensor(types),
                     attention_mask=paddle.to_tensor(mask))
        want = want if isinstance(want, tuple) else (want,)
        assert len(got) == len(want)
        for g, w in zip(got, want):
            assert g.shape == tuple(w.shape)
            assert np.abs(g - w.numpy()).max() <= 1e-5
