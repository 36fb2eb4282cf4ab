#!/usr/bin/env bash
# Create the reference virtual environments the cross-library tests run against.
#
#   .venv-paddlenlp  paddlepaddle 3.3.1 + paddlenlp 2.8.1   tests/loading/test_paddlenlp_interop.py
#                    (override with PADDLE_ELECTRA_PADDLENLP_PYTHON)
#   .venv-tf         tensorflow-cpu 2.21.0                  tests/loading/test_convert_tf.py
#                    (override with PADDLE_ELECTRA_TF_PYTHON)
#   .venv-paddlenlp  + paddlehub 2.4.0 and this checkout    tests/apps/test_hub_module.py
#                    (target "paddlehub"; override with PADDLE_ELECTRA_PADDLEHUB_PYTHON)
#
# Usage: tools/make_reference_envs.sh [paddlenlp] [tf] [paddlehub]     (no argument: all of them)
#
# Idempotent: a venv whose interpreter already imports the pinned versions is left alone;
# an existing venv missing them is completed in place. Needs network access to PyPI the
# first time (about 2-3 minutes and 1.8 GB for PaddleNLP, then about 1.5 minutes and 0.3 GB more for PaddleHub).
# Exits non-zero on any failure.
# PYTHON selects the interpreter the venvs are made from (default: python3).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"

# make_env DIR CHECK_SNIPPET PIP_ARGS...
#   DIR: venv folder; CHECK_SNIPPET: python code that exits 0 when the env is complete.
make_env() {
    local dir="$1" check="$2"
    shift 2
    if [ -x "$dir/bin/python" ] && "$dir/bin/python" -c "$check" >/dev/null 2>&1; then
        echo "[make_reference_envs] $dir: up to date, skipped"
        return 0
    fi
    if [ ! -x "$dir/bin/python" ]; then
        echo "[make_reference_envs] $dir: creating the venv with $PYTHON"
        "$PYTHON" -m venv "$dir"
    fi
    echo "[make_reference_envs] $dir: pip install $*"
    "$dir/bin/pip" install -q "$@"
    if ! "$dir/bin/python" -c "$check"; then
        echo "[make_reference_envs] $dir: installed, but the check still fails: $check" >&2
        return 1
    fi
    echo "[make_reference_envs] $dir: ready"
}

# ---------------------------------------------------------------- PaddleNLP 2.8.1
# huggingface_hub / aistudio-sdk / datasets are capped because paddlenlp 2.8.1 imports
# APIs their newer releases removed.
paddlenlp_env() {
    make_env .venv-paddlenlp \
        "import paddle, paddlenlp; assert paddle.__version__ == '3.3.1', paddle.__version__; \
assert paddlenlp.__version__.startswith('2.8.1'), paddlenlp.__version__; \
from paddlenlp.transformers.electra.modeling import ElectraModel" \
        paddlepaddle==3.3.1 paddlenlp==2.8.1 "huggingface_hub<0.26" "aistudio-sdk<0.3" "datasets<3"
}

# ---------------------------------------------------------------- TensorFlow 2.21.0
# (owned by the TF converter tests: tests/loading/test_convert_tf.py, tests/tf_helpers/)
tf_env() {
    make_env .venv-tf \
        "import tensorflow as tf; assert tf.__version__ == '2.21.0', tf.__version__" \
        tensorflow-cpu==2.21.0
}

# ---------------------------------------------------------------- PaddleHub 2.4.0
# (owned by the PaddleHub module tests: tests/apps/test_hub_module.py)
# Installed into the PaddleNLP venv: paddlehub depends on paddlenlp, and the PaddleNLP tests pass
# with the protobuf it needs (3.20.3: paddlehub imports visualdl's protobuf-3 generated code;
# gradio 5 dropped APIs paddlehub imports). paddle_electra goes in editable, because generated
# modules import it; the check asks the installed distribution (not the checkout on sys.path).
# onnxruntime: modules made from an export run its ONNX models (the resolver picks a release that
# works with protobuf 3.20.3).
paddlehub_env() {
    make_env .venv-paddlenlp \
        "import importlib.metadata as md, paddle, paddlenlp, paddlehub, onnxruntime; \
assert paddlehub.__version__ == '2.4.0', paddlehub.__version__; \
assert paddlenlp.__version__.startswith('2.8.1'), paddlenlp.__version__; md.version('paddle_electra'); \
from paddlehub.module.nlp_module import TransformerModule" \
        paddlepaddle==3.3.1 paddlenlp==2.8.1 paddlehub==2.4.0 protobuf==3.20.3 "gradio<5" \
        "huggingface_hub<0.26" "aistudio-sdk<0.3" "datasets<3" "onnxruntime>=1.20" -e .
}

targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(paddlenlp tf paddlehub)
for target in "${targets[@]}"; do
    case "$target" in
        paddlenlp) paddlenlp_env ;;
        tf) tf_env ;;
        paddlehub) paddlehub_env ;;
        *) echo "usage: $0 [paddlenlp] [tf] [paddlehub]  (unknown environment: $target)" >&2; exit 2 ;;
    esac
done
