#!/usr/bin/env python3
"""Embedding throughput of Python onnxruntime, the yardstick for the Rust embedder.

Uses the same texts as crates/embed/examples/embed_throughput.rs: the fixture sentences of
tests/fixtures/embed/reference.json that are not truncated, cycled to --count texts,
embedded in batches of --batch, padded to the longest text of each batch.

    bench_python_ort.py --model-dir DIR/models/all-MiniLM-L6-v2 [--threads 1] [--batch 32]
"""

import argparse
import json
import os
import time

# Tokenization on one thread, like the Rust embedder inside a backend.
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURE = os.path.join(HERE, "..", "..", "tests", "fixtures", "embed", "reference.json")


def bench_texts(count):
    with open(FIXTURE) as f:
        sentences = [r["text"] for r in json.load(f)["sentences"] if not r["truncated"]]
    return [sentences[i % len(sentences)] for i in range(count)]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model-dir", required=True)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--count", type=int, default=1024)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()

    so = ort.SessionOptions()
    so.intra_op_num_threads = args.threads
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    so.add_session_config_entry("session.inter_op.allow_spinning", "0")
    so.log_severity_level = 3
    sess = ort.InferenceSession(os.path.join(args.model_dir, "model.onnx"), so, providers=["CPUExecutionProvider"])
    tok = Tokenizer.from_file(os.path.join(args.model_dir, "tokenizer.json"))
    tok.enable_truncation(256)
    tok.enable_padding()  # to the longest in the batch

    texts = bench_texts(args.count)

    def one_round():
        for i in range(0, len(texts), args.batch):
            encs = tok.encode_batch(texts[i:i + args.batch])
            ids = np.array([e.ids for e in encs], np.int64)
            mask = np.array([e.attention_mask for e in encs], np.int64)
            sess.run(["sentence_embedding"],
                     {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)})

    one_round()  # warm-up
    best = best_cpu = float("inf")
    for _ in range(args.rounds):
        t0, c0 = time.perf_counter(), time.process_time()
        one_round()
        best = min(best, time.perf_counter() - t0)
        best_cpu = min(best_cpu, time.process_time() - c0)
    print("python-ort model=%s threads=%d batch=%d texts=%d: %.1f sentences/s wall, %.1f sentences per CPU-second"
          % (os.path.basename(os.path.normpath(args.model_dir)), args.threads, args.batch, len(texts),
             len(texts) / best, len(texts) / best_cpu))


if __name__ == "__main__":
    main()
