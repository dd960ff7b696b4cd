#!/usr/bin/env python3
"""Reference sentence embeddings computed with numpy straight from model.safetensors.

This forward pass shares no code with convert_bert_onnx.py or the ONNX graph: it
reads the BERT weights and runs embeddings -> encoder layers -> mean pooling ->
L2 normalization in float64, so it is a yardstick for the fp32 ONNX model, the
int8 model and the Rust embedder alike.

    reference_numpy.py --model-dir DIR --write-fixture tests/fixtures/embed/reference.json
    reference_numpy.py --fixture tests/fixtures/embed/reference.json --check-onnx model.onnx \
        [--min-cosine 0.99] [--tokenizer tokenizer.json]

--write-fixture tokenizes the fixture sentences with the `tokenizers` package
(tokenizer.json, truncation to 256 tokens, no padding) and stores, per sentence,
the token ids, the 384-d reference embedding and its top-5 neighbours.
--check-onnx runs an ONNX model with Python onnxruntime on the same sentences
and exits 1 if any cosine to the reference falls below --min-cosine.
"""

import argparse
import json
import math
import os
import sys

import numpy as np

MAX_TOKENS = 256
TOP_K = 5

LONG_HISTORY = (
    "The history of the printing press begins long before Gutenberg. Woodblock printing spread across East Asia "
    "during the first millennium, and movable type made of fired clay was described in China in the eleventh "
    "century. Korean printers later cast metal type and produced books that survive to this day. In Europe, "
    "Johannes Gutenberg combined an oil-based ink, a hand mould for casting uniform metal letters and a screw "
    "press adapted from wine making. His workshop in Mainz printed the famous forty-two line Bible around 1455. "
    "Within fifty years presses operated in more than two hundred cities, and millions of volumes had been "
    "printed. Cheaper books changed how scholars worked, helped standardize spelling and grammar, and let new "
    "religious and scientific ideas travel faster than any authority could suppress them. Printers became "
    "publishers, booksellers and sometimes censors' targets. Newspapers appeared in the seventeenth century, "
    "and steam-powered presses in the nineteenth century multiplied output again, making daily papers cheap "
    "enough for ordinary workers. Rotary presses, linotype machines and offset lithography followed, each one "
    "lowering the cost of a printed page. Today digital printing and the web have taken over much of that role, "
    "yet historians still describe the arrival of movable type as one of the turning points of the modern age, "
    "comparable in its consequences to the spread of writing itself. Libraries grew, literacy rose and the idea "
    "of an author who owns a text slowly took shape in law."
)

LONG_TECH = (
    "To configure the replication cluster, first stop the application servers so that no writes arrive during "
    "the switchover. On the primary, set wal_level to replica, raise max_wal_senders to at least ten and create "
    "a role with the replication attribute. Take a base backup with pg_basebackup, streaming the write-ahead log "
    "so the copy is consistent, and restore it on each standby. Write the primary_conninfo setting with the "
    "host, port, user and application name, then create the standby.signal file and start the server. Check "
    "pg_stat_replication on the primary: every standby should appear with state streaming and a small replay "
    "lag. If a standby falls too far behind, the primary may recycle segments it still needs; replication "
    "slots prevent that but can fill the disk when a standby disappears, so monitor their retained size. "
    "For failover, promote the most advanced standby with pg_promote, repoint the others at it and update the "
    "connection string used by the application. Test the whole procedure regularly in a staging environment, "
    "measure how long each step takes and write the numbers into the runbook. Remember that synchronous "
    "commit trades latency for durability: with synchronous_standby_names set, a transaction waits until at "
    "least one standby confirms the flush, which protects against data loss but slows every write when the "
    "network is congested. Finally, document who is allowed to trigger a failover and how to roll back. "
    "Alerting thresholds, dashboards and the on-call rotation belong in the same document."
)

SENTENCES = [
    # animals
    "A cat is sleeping on the warm windowsill.",
    "The kitten curled up in a patch of sunlight and dozed.",
    "Dogs bark loudly when strangers approach the house.",
    "My neighbour's puppy will not stop barking at the mail carrier.",
    "Elephants remember the routes to distant watering holes.",
    "A flock of geese flew south in a long V formation.",
    # food
    "She baked a loaf of sourdough bread this morning.",
    "Fresh bread straight from the oven smells wonderful.",
    "This restaurant serves the best spicy ramen in town.",
    "I prefer green tea to coffee in the afternoon.",
    "Add two cups of flour, a pinch of salt and mix well.",
    "The chocolate cake was far too sweet for my taste.",
    # programming / databases
    "How do I create an index on a PostgreSQL table?",
    "Creating a B-tree index speeds up lookups on large tables.",
    "Rust's borrow checker prevents data races at compile time.",
    "Memory safety without garbage collection is a key feature of Rust.",
    "The query planner chose a sequential scan instead of the index.",
    "Vector similarity search finds the nearest embeddings to a query.",
    "Python list comprehensions are concise but can hurt readability.",
    "The build failed because a dependency was missing from the lockfile.",
    # sports
    "The striker scored twice in the final ten minutes of the match.",
    "Our football team won the championship after a penalty shootout.",
    "She ran the marathon in under three hours.",
    "Tennis players need quick reflexes and strong footwork.",
    # weather / nature
    "Heavy rain is expected across the region tomorrow.",
    "The forecast says a storm will bring strong winds tonight.",
    "Snow covered the mountain peaks by early October.",
    "The desert is scorching hot during the day and cold at night.",
    # finance
    "The central bank raised interest rates by half a percentage point.",
    "Stock markets fell sharply after the inflation report.",
    "He opened a savings account to put money aside for a house.",
    # travel
    "The train to Paris departs from platform nine at noon.",
    "Our flight was delayed for four hours because of fog.",
    "Backpacking through the mountains requires careful planning.",
    # health
    "Regular exercise lowers the risk of heart disease.",
    "Drinking enough water helps you stay focused during the day.",
    "The doctor prescribed antibiotics for the infection.",
    # music / art
    "The orchestra performed Beethoven's ninth symphony.",
    "He learned to play the guitar by watching online videos.",
    "The museum opened a new exhibition of impressionist paintings.",
    # space / science
    "The telescope captured images of a distant galaxy.",
    "Astronauts aboard the space station conducted experiments.",
    "Photosynthesis converts sunlight into chemical energy.",
    "Water boils at one hundred degrees Celsius at sea level.",
    # questions and short texts
    "What time is it?",
    "Where is the nearest pharmacy?",
    "Thanks!",
    "hello world",
    "a",
    "?",
    "...",
    "",
    "OK",
    # punctuation heavy / odd casing / numbers
    "WHY IS EVERYONE SHOUTING IN THIS THREAD?!?!",
    "e-mail: support@example.com -- call +1 (555) 010-9999, ext. #42; ok?",
    "Version 2.0.0-rc.15 fixed bug #1234 (see CHANGELOG.md).",
    "3.14159 2.71828 1.41421 1.73205",
    "C'est la vie, n'est-ce pas ?",
    # unicode
    "Café crème et croissant au petit-déjeuner.",
    "Der schnelle braune Fuchs springt über den faulen Hund.",
    "東京は日本の首都です。",
    "Привет, как дела?",
    "Emoji test: 🚀🔥 launch day 🎉",
    "naïve façade coöperate résumé",
    "مرحبا بالعالم",
    "The ﬁnancial ofﬁce uses ligatures ﬁ and ﬂ.",
    # long texts (> 256 tokens) to exercise truncation
    LONG_HISTORY,
    LONG_TECH,
    "Repeat after me: " + " ".join(["semantic search inside the database"] * 60),
]


# --------------------------------------------------------------------------------------------
# numpy BERT forward pass
# --------------------------------------------------------------------------------------------

_erf = np.frompyfunc(math.erf, 1, 1)


def gelu(x):
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)).astype(np.float64))


def layer_norm(x, w, b, eps):
    mu = x.mean(axis=-1, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def softmax(x):
    x = x - x.max(axis=-1, keepdims=True)
    e = np.exp(x)
    return e / e.sum(axis=-1, keepdims=True)


class NumpyBert:
    def __init__(self, model_dir):
        from safetensors.numpy import load_file

        with open(os.path.join(model_dir, "config.json")) as f:
            cfg = json.load(f)
        raw = load_file(os.path.join(model_dir, "model.safetensors"))
        prefix = "bert." if "bert.embeddings.word_embeddings.weight" in raw else ""
        self.w = {k[len(prefix):]: v.astype(np.float64) for k, v in raw.items() if k.startswith(prefix)}
        self.heads = cfg["num_attention_heads"]
        self.layers = cfg["num_hidden_layers"]
        self.eps = cfg.get("layer_norm_eps", 1e-12)

    def dense(self, x, name):
        return x @ self.w[name + ".weight"].T + self.w[name + ".bias"]

    def embed_one(self, ids):
        """ids: list of token ids of ONE sequence (no padding). Returns the normalized mean-pooled vector."""
        w = self.w
        ids = np.asarray(ids, dtype=np.int64)
        n = len(ids)
        x = w["embeddings.word_embeddings.weight"][ids]
        x = x + w["embeddings.position_embeddings.weight"][:n]
        x = x + w["embeddings.token_type_embeddings.weight"][0]
        x = layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], self.eps)
        hidden = x.shape[-1]
        hd = hidden // self.heads
        for i in range(self.layers):
            p = "encoder.layer.%d." % i
            q = self.dense(x, p + "attention.self.query").reshape(n, self.heads, hd).transpose(1, 0, 2)
            k = self.dense(x, p + "attention.self.key").reshape(n, self.heads, hd).transpose(1, 0, 2)
            v = self.dense(x, p + "attention.self.value").reshape(n, self.heads, hd).transpose(1, 0, 2)
            att = softmax(q @ k.transpose(0, 2, 1) / math.sqrt(hd))
            ctx = (att @ v).transpose(1, 0, 2).reshape(n, hidden)
            a = self.dense(ctx, p + "attention.output.dense")
            x = layer_norm(a + x, w[p + "attention.output.LayerNorm.weight"],
                           w[p + "attention.output.LayerNorm.bias"], self.eps)
            h = gelu(self.dense(x, p + "intermediate.dense"))
            h = self.dense(h, p + "output.dense")
            x = layer_norm(h + x, w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"], self.eps)
        pooled = x.mean(axis=0)
        return pooled / max(np.linalg.norm(pooled), 1e-12)


# --------------------------------------------------------------------------------------------

def load_tokenizer(path):
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(path)
    tok.no_padding()
    tok.enable_truncation(MAX_TOKENS)
    return tok


def neighbours(emb, k=TOP_K):
    sims = emb @ emb.T
    out, margins = [], []
    for i in range(len(emb)):
        s = sims[i].copy()
        s[i] = -np.inf
        order = [int(j) for j in np.argsort(-s, kind="stable")]
        out.append(order[:k])
        ranked = s[order[: k + 1]]
        margins.append(float(np.min(ranked[:-1] - ranked[1:])))
    return out, margins


def write_fixture(args):
    tok = load_tokenizer(os.path.join(args.model_dir, "tokenizer.json"))
    model = NumpyBert(args.model_dir)
    assert len(SENTENCES) == len(set(SENTENCES)), "duplicate fixture sentences"
    records, vectors = [], []
    for text in SENTENCES:
        enc = tok.encode(text)
        full = tok.encode(text, add_special_tokens=True)  # already truncated; count untruncated below
        tok.no_truncation()
        untruncated = len(tok.encode(text, add_special_tokens=False).ids)
        tok.enable_truncation(MAX_TOKENS)
        vec = model.embed_one(enc.ids)
        vectors.append(vec)
        records.append({"text": text, "input_ids": enc.ids, "token_count": untruncated,
                        "truncated": untruncated + 2 > MAX_TOKENS})
        assert full.ids == enc.ids
    emb = np.stack(vectors)
    nbrs, margins = neighbours(emb)
    for rec, vec, nb, margin in zip(records, vectors, nbrs, margins):
        rec["embedding"] = [round(float(v), 6) for v in vec]
        rec["top5"] = nb
        rec["top5_min_margin"] = round(margin, 6)
    worst = min(margins)
    fixture = {
        "model": "all-MiniLM-L6-v2",
        "dim": int(emb.shape[1]),
        "max_tokens": MAX_TOKENS,
        "pooling": "mean",
        "normalize": True,
        "generator": "scripts/models/reference_numpy.py (float64 numpy forward pass from model.safetensors)",
        "sentences": records,
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.write_fixture)), exist_ok=True)
    with open(args.write_fixture, "w") as f:
        json.dump(fixture, f, ensure_ascii=False, indent=None, separators=(",", ":"))
        f.write("\n")
    print("wrote %s: %d sentences, dim %d, smallest top-5 rank margin %.2e"
          % (args.write_fixture, len(records), emb.shape[1], worst))
    if worst < 1e-4:
        print("warning: some top-5 neighbours are nearly tied; fp32 may reorder them", file=sys.stderr)


def onnx_embed(model_path, tokenizer_path, texts, batch=1, threads=1):
    """Embeds texts with Python onnxruntime, `batch` texts per run padded to the longest."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(model_path, so, providers=["CPUExecutionProvider"])
    tok = load_tokenizer(tokenizer_path)
    tok.enable_padding(pad_id=0, pad_token="[PAD]")
    out = []
    for i in range(0, len(texts), batch):
        encs = tok.encode_batch(texts[i:i + batch])
        ids = np.array([e.ids for e in encs], np.int64)
        mask = np.array([e.attention_mask for e in encs], np.int64)
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        out.extend(sess.run(["sentence_embedding"], feed)[0])
    return np.stack(out)


def check_onnx(args):
    """Exits 1 unless every fixture sentence keeps cosine >= --min-cosine, alone and in batches of 32."""
    with open(args.fixture) as f:
        fixture = json.load(f)
    texts = [r["text"] for r in fixture["sentences"]]
    ref = np.array([r["embedding"] for r in fixture["sentences"]], np.float64)
    worst_all = 1.0
    for batch in (1, 32):
        got = onnx_embed(args.check_onnx, args.tokenizer, texts, batch=batch).astype(np.float64)
        cos = np.sum(ref * got, axis=1) / (np.linalg.norm(ref, axis=1) * np.linalg.norm(got, axis=1))
        nbrs, _ = neighbours(got / np.linalg.norm(got, axis=1, keepdims=True))
        same = sum(1 for r, n in zip(fixture["sentences"], nbrs) if r["top5"] == n)
        worst = int(np.argmin(cos))
        worst_all = min(worst_all, float(cos[worst]))
        print("%s batch %d: min cosine %.6f (sentence %d), mean %.6f, identical top-5 for %d/%d sentences"
              % (args.check_onnx, batch, cos[worst], worst, cos.mean(), same, len(texts)))
    if worst_all < args.min_cosine:
        print("rejected: min cosine %.6f is below the bar of %.4f" % (worst_all, args.min_cosine))
        sys.exit(1)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model-dir", help="folder with model.safetensors, config.json, tokenizer.json")
    ap.add_argument("--write-fixture")
    ap.add_argument("--fixture")
    ap.add_argument("--check-onnx")
    ap.add_argument("--tokenizer", help="tokenizer.json for --check-onnx")
    ap.add_argument("--min-cosine", type=float, default=0.99)
    args = ap.parse_args()
    if args.write_fixture:
        if not args.model_dir:
            ap.error("--write-fixture needs --model-dir")
        write_fixture(args)
    elif args.check_onnx:
        if not (args.fixture and args.tokenizer):
            ap.error("--check-onnx needs --fixture and --tokenizer")
        check_onnx(args)
    else:
        ap.error("nothing to do: give --write-fixture or --check-onnx")


if __name__ == "__main__":
    main()
