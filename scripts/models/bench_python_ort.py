#!/usr/bin/env python3
"""Embedding throughput of Python onnxruntime, the yardstick for the Rust embedder.

By default it uses the same texts as crates/embed/examples/embed_throughput.rs: the fixture
sentences of tests/fixtures/embed/reference.json that are not truncated, cycled to --count texts.
With --texts FILE (one JSON string per line) it embeds those texts instead, in file order; that is
how `semvec-bench embed-throughput` runs it on the same Debian descriptions it gives semvec.
Texts are embedded in batches of --batch (1 = one call per text), padded to the longest text of
each batch; the figure is the best of --rounds timed passes after a warm-up.

    bench_python_ort.py --model-dir DIR/models/all-MiniLM-L6-v2 [--threads 1] [--batch 32]
    bench_python_ort.py --model FILE.onnx --tokenizer tokenizer.json --texts texts.jsonl \\
        --threads 2 --batch 32 --warmup 32 --json out.json [--dump 8]

--json writes {"rows_per_s", "rows_per_cpu_s", "best_s", "best_cpu_s", "texts", "threads",
"batch", ...}; --dump N adds "embeddings": the vectors of the first N texts (from the last pass).
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


def file_texts(path, count):
    with open(path, encoding="utf-8") as f:
        texts = [json.loads(line) for line in f if line.strip()]
    if not texts:
        raise SystemExit("%s holds no texts" % path)
    return texts if count is None else [texts[i % len(texts)] for i in range(count)]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model-dir", help="folder with model.onnx and tokenizer.json")
    ap.add_argument("--model", help="the ONNX file (overrides --model-dir)")
    ap.add_argument("--tokenizer", help="tokenizer.json (overrides --model-dir)")
    ap.add_argument("--threads", type=int, default=1, help="ONNX Runtime intra-op threads")
    ap.add_argument("--batch", type=int, default=32, help="texts per inference (1 = one call per text)")
    ap.add_argument("--count", type=int, default=None,
                    help="texts to embed (default: 1024 fixture sentences, or every text of --texts)")
    ap.add_argument("--texts", help="file of texts, one JSON string per line")
    ap.add_argument("--max-tokens", type=int, default=256, help="truncate longer token sequences")
    ap.add_argument("--rounds", type=int, default=3, help="timed passes; the best one counts")
    ap.add_argument("--warmup", type=int, default=None,
                    help="texts embedded before timing (default: one whole pass)")
    ap.add_argument("--json", help="also write the result as JSON to this file")
    ap.add_argument("--dump", type=int, default=0, help="with --json: include the first N embeddings")
    args = ap.parse_args()
    model = args.model or (args.model_dir and os.path.join(args.model_dir, "model.onnx"))
    tokenizer = args.tokenizer or (args.model_dir and os.path.join(args.model_dir, "tokenizer.json"))
    if not model or not tokenizer:
        ap.error("give --model-dir, or --model and --tokenizer")
    if args.batch < 1 or args.threads < 1 or args.rounds < 1:
        ap.error("--batch, --threads and --rounds must be at least 1")

    so = ort.SessionOptions()
    so.intra_op_num_threads = args.threads
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    so.add_session_config_entry("session.inter_op.allow_spinning", "0")
    so.log_severity_level = 3
    sess = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
    feeds_token_types = any(i.name == "token_type_ids" for i in sess.get_inputs())
    tok = Tokenizer.from_file(tokenizer)
    tok.enable_truncation(args.max_tokens)
    tok.enable_padding()  # to the longest in the batch

    if args.texts:
        texts = file_texts(args.texts, args.count)
    else:
        texts = bench_texts(1024 if args.count is None else args.count)

    def embed(chunk):
        encs = tok.encode_batch(chunk)
        ids = np.array([e.ids for e in encs], np.int64)
        mask = np.array([e.attention_mask for e in encs], np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask}
        if feeds_token_types:
            feeds["token_type_ids"] = np.zeros_like(ids)
        return sess.run(["sentence_embedding"], feeds)[0]

    def one_pass(items, keep=0):
        kept = []
        for i in range(0, len(items), args.batch):
            out = embed(items[i:i + args.batch])
            if len(kept) < keep:
                kept.extend(out[:keep - len(kept)].tolist())
        return kept

    if args.warmup is None:
        one_pass(texts)
    elif args.warmup > 0:
        one_pass(texts[:args.warmup])
    best = best_cpu = float("inf")
    dumped = []
    for _ in range(args.rounds):
        t0, c0 = time.perf_counter(), time.process_time()
        dumped = one_pass(texts, args.dump)
        best = min(best, time.perf_counter() - t0)
        best_cpu = min(best_cpu, time.process_time() - c0)
    name = os.path.basename(os.path.dirname(os.path.abspath(model)))
    print("python-ort model=%s threads=%d batch=%d texts=%d: %.1f sentences/s wall, %.1f sentences per CPU-second"
          % (name, args.threads, args.batch, len(texts), len(texts) / best, len(texts) / best_cpu))
    if args.json:
        result = {
            "model": os.path.abspath(model),
            "tokenizer": os.path.abspath(tokenizer),
            "onnxruntime": ort.__version__,
            "threads": args.threads,
            "batch": args.batch,
            "texts": len(texts),
            "rounds": args.rounds,
            "best_s": best,
            "best_cpu_s": best_cpu,
            "rows_per_s": len(texts) / best,
            "rows_per_cpu_s": len(texts) / best_cpu if best_cpu > 0 else None,
        }
        if args.dump:
            result["embeddings"] = dumped
        with open(args.json, "w") as f:
            json.dump(result, f)


if __name__ == "__main__":
    main()
