#!/usr/bin/env bash
# Create the reference virtual environments the cross-library tests run against.
#
#   .venv-paddlenlp  paddlepaddle 3.3.1 + paddlenlp 2.8.1   tests/test_paddlenlp_interop.py
#                    (override with PADDLE_ELECTRA_PADDLENLP_PYTHON)
#   .venv-tf         tensorflow-cpu 2.21.0                  tests/test_convert_tf.py
#                    (override with PADDLE_ELECTRA_TF_PYTHON)
#
# Usage: tools/make_reference_envs.sh [paddlenlp] [tf]     (no argument: all of them)
#
# Idempotent: a venv whose interpreter already imports the pinned versions is left alone;
# an existing venv missing them is completed in place. Needs network access to PyPI the
# first time (about 2-3 minutes and 1.8 GB for PaddleNLP). Exits non-zero on any failure.
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
# (owned by the TF converter tests: tests/test_convert_tf.py, tests/tf_helpers/)
tf_env() {
    make_env .venv-tf \
        "import tensorflow as tf; assert tf.__version__ == '2.21.0', tf.__version__" \
        tensorflow-cpu==2.21.0
}

targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(paddlenlp tf)
for target in "${targets[@]}"; do
    case "$target" in
        paddlenlp) paddlenlp_env ;;
        tf) tf_env ;;
        *) echo "usage: $0 [paddlenlp] [tf]  (unknown environment: $target)" >&2; exit 2 ;;
    esac
done
