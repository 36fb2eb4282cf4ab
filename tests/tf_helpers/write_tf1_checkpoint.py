"""Write and read TF1 checkpoints with real TensorFlow, for tests/loading/test_convert_tf.py.

Runs inside the separate TensorFlow venv (``.venv-tf``), never in the main one:

    python write_tf1_checkpoint.py write VALUES.npz PREFIX [--step N] [--shards K]
        Build a tf.compat.v1 graph with one variable per array in VALUES.npz
        (same name, same value), and save it with tf.compat.v1.train.Saver as
        a genuine TF1 checkpoint ``PREFIX-N.{index,data-*,meta}`` plus the
        ``checkpoint`` state file (``--step -1``: ``PREFIX.*``, no suffix).
        ``__dtypes__`` in the npz (a JSON object name -> TF dtype name) casts
        entries, e.g. to bfloat16 or string, which npz cannot hold. ``--shards K`` spreads the variables over K CPU
        devices and saves with ``sharded=True`` (K data files).

    python write_tf1_checkpoint.py dump PREFIX OUT.npz
        Read PREFIX with tf.train.load_checkpoint and save every numeric
        variable to OUT.npz (bfloat16 widened to float32), plus ``__dtypes__``
        (name -> TF dtype name of every variable, strings included), so the
        main venv can compare TF's reading with paddle_electra's.

    python write_tf1_checkpoint.py batch JOBS.json
        Run several of the above in one process (TensorFlow imports once):
        JOBS.json is a list of argument lists, e.g.
        [["write", "v.npz", "/d/model.ckpt", "--step", "7"], ["dump", "/d/model.ckpt-7", "o.npz"]].
"""

import argparse
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

DTYPES_KEY = "__dtypes__"


def _load_values(path):
    with np.load(path, allow_pickle=False) as data:
        values = {k: data[k] for k in data.files}
    dtypes = json.loads(str(values.pop(DTYPES_KEY))) if DTYPES_KEY in values else {}
    return values, dtypes


def write(values_path, prefix, step, shards):
    values, dtypes = _load_values(values_path)
    graph = tf.Graph()
    with graph.as_default():
        variables = []
        for i, (name, value) in enumerate(values.items()):
            with tf.device(f"/cpu:{i % shards}"):
                dtype = dtypes.get(name)
                if dtype == "string":
                    init = tf.constant(value.astype(bytes))
                elif dtype is not None:
                    init = tf.cast(tf.constant(value), getattr(tf, dtype))
                else:
                    init = tf.constant(value)
                variables.append(tf.compat.v1.Variable(init, name=name, use_resource=False))
        saver = tf.compat.v1.train.Saver(var_list=variables, sharded=shards > 1, max_to_keep=1)
        config = tf.compat.v1.ConfigProto(device_count={"CPU": shards})
        with tf.compat.v1.Session(graph=graph, config=config) as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            names = {v.op.name for v in variables}
            missing = sorted(set(values) - names)
            if missing:
                raise SystemExit(f"TF renamed variables (duplicate names?): {missing[:5]}")
            path = saver.save(sess, prefix, global_step=None if step < 0 else step)
    print(path)


def dump(prefix, out_path):
    reader = tf.train.load_checkpoint(prefix)
    dtypes = reader.get_variable_to_dtype_map()
    out = {}
    for name, dtype in dtypes.items():
        if dtype == tf.string:
            continue
        value = reader.get_tensor(name)
        if dtype == tf.bfloat16:
            value = np.asarray(value).astype(np.float32)
        out[name] = np.asarray(value)
    out[DTYPES_KEY] = np.array(json.dumps({k: v.name for k, v in dtypes.items()}))
    np.savez(out_path, **out)
    print(f"dumped {len(out) - 1} variables")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("write")
    w.add_argument("values")
    w.add_argument("prefix")
    w.add_argument("--step", type=int, default=0)
    w.add_argument("--shards", type=int, default=1)
    d = sub.add_parser("dump")
    d.add_argument("prefix")
    d.add_argument("out")
    b = sub.add_parser("batch")
    b.add_argument("jobs")
    args = parser.parse_args(argv)
    if args.cmd == "write":
        write(args.values, args.prefix, args.step, args.shards)
    elif args.cmd == "dump":
        dump(args.prefix, args.out)
    else:
        with open(args.jobs, encoding="utf-8") as f:
            for job in json.load(f):
                main(job)


if __name__ == "__main__":
    sys.exit(main())
