#!/usr/bin/env python3
"""Write an fp32 ONNX graph (opset 17) for a BERT-family sentence-transformer.

Built node by node with the `onnx` package from the model's safetensors and
config.json: no torch, no network.  The graph is

    embeddings   word + position + token_type, LayerNorm
    N layers     multi-head self-attention (attention mask as an additive bias),
                 residual + LayerNorm, feed-forward with exact erf GELU,
                 residual + LayerNorm
    pooling      mean over the tokens the attention mask keeps (or [CLS])
    normalize    optional L2 normalization

Inputs  input_ids, attention_mask, token_type_ids: int64 [batch, sequence]
Outputs sentence_embedding: float [batch, hidden]
        last_hidden_state:  float [batch, sequence, hidden] (with --last-hidden-state,
                            or alone with --hidden-only, for runtimes that pool themselves)

Usage:
    convert_bert_onnx.py --safetensors model.safetensors --config config.json \
        --out model.onnx [--pooling mean|cls] [--normalize]
"""

import argparse
import hashlib
import json
import math
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from safetensors.numpy import load_file

OPSET = 17


class GraphBuilder:
    def __init__(self):
        self.nodes = []
        self.initializers = []
        self._names = set()

    def const(self, name, array):
        array = np.ascontiguousarray(array)
        assert name not in self._names, name
        self._names.add(name)
        self.initializers.append(numpy_helper.from_array(array, name))
        return name

    def op(self, op_type, inputs, name, **attrs):
        """Adds one node with a single output called `name`."""
        assert name not in self._names, name
        self._names.add(name)
        self.nodes.append(helper.make_node(op_type, inputs, [name], name=name + "/" + op_type, **attrs))
        return name


class Weights:
    """Looks tensors up by their sentence-transformers / HF name, whatever the prefix."""

    def __init__(self, path):
        self.tensors = load_file(path)
        prefixes = ["", "bert.", "model.", "0.auto_model.", "auto_model."]
        for prefix in prefixes:
            if prefix + "embeddings.word_embeddings.weight" in self.tensors:
                self.prefix = prefix
                break
        else:
            sys.exit(
                "error: %s holds no BERT embeddings (looked for 'embeddings.word_embeddings.weight' "
                "under prefixes %s)" % (path, prefixes)
            )

    def get(self, name):
        full = self.prefix + name
        if full in self.tensors:
            return self.tensors[full].astype(np.float32)
        # Old checkpoints spell LayerNorm parameters gamma/beta.
        alt = full.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta")
        if alt in self.tensors:
            return self.tensors[alt].astype(np.float32)
        sys.exit("error: tensor %r is missing from the safetensors file" % full)


def build(weights, config, pooling, normalize, with_hidden, hidden_only):
    hidden = int(config["hidden_size"])
    heads = int(config["num_attention_heads"])
    layers = int(config["num_hidden_layers"])
    eps = float(config.get("layer_norm_eps", 1e-12))
    act = config.get("hidden_act", "gelu")
    if act != "gelu":
        sys.exit("error: hidden_act %r is not supported (only exact 'gelu')" % act)
    if config.get("position_embedding_type", "absolute") != "absolute":
        sys.exit("error: only absolute position embeddings are supported")
    if hidden % heads:
        sys.exit("error: hidden_size %d is not a multiple of num_attention_heads %d" % (hidden, heads))
    head_dim = hidden // heads

    g = GraphBuilder()
    one_f = g.const("one_f", np.array(1.0, np.float32))
    axis1 = g.const("axes_1", np.array([1], np.int64))

    # --- embeddings -------------------------------------------------------
    word = g.const("word_embeddings", weights.get("embeddings.word_embeddings.weight"))
    pos_table = g.const("position_embeddings", weights.get("embeddings.position_embeddings.weight"))
    type_table = g.const("token_type_embeddings", weights.get("embeddings.token_type_embeddings.weight"))
    x_word = g.op("Gather", [word, "input_ids"], "emb_word", axis=0)
    x_type = g.op("Gather", [type_table, "token_type_ids"], "emb_type", axis=0)
    # Positions 0..S-1 are the first S rows of the table: slice it by the sequence length.
    seq_len = g.op("Shape", ["input_ids"], "seq_len", start=1, end=2)  # 1-D [S]
    x_pos = g.op(
        "Slice", [pos_table, g.const("zero_1d", np.array([0], np.int64)), seq_len, g.const("axes_0", np.array([0], np.int64))],
        "emb_pos")  # [S, H], broadcasts over batch
    x = g.op("Add", [x_word, x_type], "emb_word_type")
    x = g.op("Add", [x, x_pos], "emb_sum")
    x = g.op(
        "LayerNormalization",
        [x, g.const("emb_ln_w", weights.get("embeddings.LayerNorm.weight")),
         g.const("emb_ln_b", weights.get("embeddings.LayerNorm.bias"))],
        "emb_out",
        axis=-1,
        epsilon=eps,
    )

    # --- attention bias: 0 where the mask keeps a token, a large negative where it pads
    mask_f = g.op("Cast", ["attention_mask"], "mask_f", to=TensorProto.FLOAT)
    inv = g.op("Sub", [one_f, mask_f], "mask_inv")
    bias = g.op("Mul", [inv, g.const("neg_big", np.array(-1e9, np.float32))], "mask_bias2d")
    bias = g.op("Unsqueeze", [bias, g.const("axes_1_2", np.array([1, 2], np.int64))], "mask_bias")  # [B,1,1,S]

    split_shape = g.const("split_heads_shape", np.array([0, 0, heads, head_dim], np.int64))
    merge_shape = g.const("merge_heads_shape", np.array([0, 0, hidden], np.int64))
    scale = g.const("attn_scale", np.array(1.0 / math.sqrt(head_dim), np.float32))
    sqrt2 = g.const("sqrt2", np.array(math.sqrt(2.0), np.float32))
    half = g.const("half", np.array(0.5, np.float32))

    def linear(inp, prefix, tag):
        w = weights.get(prefix + ".weight")  # torch layout [out, in]
        b = weights.get(prefix + ".bias")
        y = g.op("MatMul", [inp, g.const(tag + "_w", w.T)], tag + "_mm")
        return g.op("Add", [y, g.const(tag + "_b", b)], tag)

    def layer_norm(inp, prefix, tag):
        return g.op(
            "LayerNormalization",
            [inp, g.const(tag + "_w", weights.get(prefix + ".weight")),
             g.const(tag + "_b", weights.get(prefix + ".bias"))],
            tag,
            axis=-1,
            epsilon=eps,
        )

    for i in range(layers):
        p = "encoder.layer.%d." % i
        t = "l%d_" % i
        q = linear(x, p + "attention.self.query", t + "q")
        k = linear(x, p + "attention.self.key", t + "k")
        v = linear(x, p + "attention.self.value", t + "v")
        q = g.op("Transpose", [g.op("Reshape", [q, split_shape], t + "q_heads")], t + "q_t", perm=[0, 2, 1, 3])
        k = g.op("Transpose", [g.op("Reshape", [k, split_shape], t + "k_heads")], t + "k_t", perm=[0, 2, 3, 1])
        v = g.op("Transpose", [g.op("Reshape", [v, split_shape], t + "v_heads")], t + "v_t", perm=[0, 2, 1, 3])
        scores = g.op("MatMul", [q, k], t + "scores")  # [B, heads, S, S]
        scores = g.op("Mul", [scores, scale], t + "scores_scaled")
        scores = g.op("Add", [scores, bias], t + "scores_masked")
        probs = g.op("Softmax", [scores], t + "probs", axis=-1)
        ctx = g.op("MatMul", [probs, v], t + "ctx")  # [B, heads, S, head_dim]
        ctx = g.op("Transpose", [ctx], t + "ctx_t", perm=[0, 2, 1, 3])
        ctx = g.op("Reshape", [ctx, merge_shape], t + "ctx_merged")
        attn = linear(ctx, p + "attention.output.dense", t + "attn_out")
        x = layer_norm(g.op("Add", [attn, x], t + "attn_res"), p + "attention.output.LayerNorm", t + "attn_ln")

        h = linear(x, p + "intermediate.dense", t + "ffn_in")
        # exact GELU: 0.5 * h * (1 + erf(h / sqrt(2)))
        e = g.op("Erf", [g.op("Div", [h, sqrt2], t + "gelu_div")], t + "gelu_erf")
        e = g.op("Add", [e, one_f], t + "gelu_1p")
        h = g.op("Mul", [g.op("Mul", [h, half], t + "gelu_half"), e], t + "gelu")
        h = linear(h, p + "output.dense", t + "ffn_out")
        x = layer_norm(g.op("Add", [h, x], t + "ffn_res"), p + "output.LayerNorm", t + "out")

    outputs = []
    hidden_state = g.op("Identity", [x], "last_hidden_state")
    if with_hidden or hidden_only:
        outputs.append(helper.make_tensor_value_info(hidden_state, TensorProto.FLOAT, ["batch", "sequence", hidden]))

    if not hidden_only:
        if pooling == "mean":
            m = g.op("Unsqueeze", [mask_f, g.const("axes_2", np.array([2], np.int64))], "pool_mask")  # [B,S,1]
            summed = g.op("ReduceSum", [g.op("Mul", [x, m], "pool_masked"), axis1], "pool_sum", keepdims=0)
            count = g.op("ReduceSum", [mask_f, axis1], "pool_count", keepdims=1)  # [B,1]
            count = g.op("Max", [count, g.const("count_floor", np.array(1e-9, np.float32))], "pool_count_safe")
            pooled = g.op("Div", [summed, count], "pool_mean")
        elif pooling == "cls":
            pooled = g.op("Gather", [x, g.const("idx_0", np.array(0, np.int64))], "pool_cls", axis=1)
        else:
            sys.exit("error: unknown pooling %r" % pooling)
        if normalize:
            norm = g.op("ReduceL2", [pooled], "l2_norm", axes=[1], keepdims=1)
            norm = g.op("Max", [norm, g.const("norm_floor", np.array(1e-12, np.float32))], "l2_norm_safe")
            pooled = g.op("Div", [pooled, norm], "normalized")
        out = g.op("Identity", [pooled], "sentence_embedding")
        outputs.insert(0, helper.make_tensor_value_info(out, TensorProto.FLOAT, ["batch", hidden]))

    inputs = [
        helper.make_tensor_value_info(name, TensorProto.INT64, ["batch", "sequence"])
        for name in ("input_ids", "attention_mask", "token_type_ids")
    ]
    graph = helper.make_graph(g.nodes, "bert_sentence_encoder", inputs, outputs, g.initializers)
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="semvec convert_bert_onnx.py",
    )
    model.ir_version = 8  # opset 17 era; accepted by every onnxruntime >= 1.14
    return model


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--safetensors", required=True)
    ap.add_argument("--config", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--pooling", choices=["mean", "cls"], default="mean")
    ap.add_argument("--normalize", action="store_true", help="L2-normalize sentence_embedding inside the graph")
    ap.add_argument("--last-hidden-state", action="store_true", help="also output last_hidden_state")
    ap.add_argument("--hidden-only", action="store_true",
                    help="output only last_hidden_state (pooling left to the caller)")
    args = ap.parse_args()

    with open(args.config) as f:
        config = json.load(f)
    weights = Weights(args.safetensors)
    vocab_rows = int(weights.get("embeddings.word_embeddings.weight").shape[0])
    max_pos = int(weights.get("embeddings.position_embeddings.weight").shape[0])
    model = build(weights, config, args.pooling, args.normalize, args.last_hidden_state, args.hidden_only)
    # Facts the Rust embedder checks at load time (tokenizer/model agreement, sequence limit).
    meta = {
        "semvec.vocab_size": str(vocab_rows),
        "semvec.max_position_embeddings": str(max_pos),
        "semvec.hidden_size": str(config["hidden_size"]),
        "semvec.pooling": "none" if args.hidden_only else args.pooling,
        "semvec.normalize": "false" if args.hidden_only else str(bool(args.normalize)).lower(),
        "semvec.source_sha256": sha256(args.safetensors),
    }
    onnx.helper.set_model_props(model, meta)
    onnx.checker.check_model(model, full_check=True)
    onnx.save_model(model, args.out)
    print("wrote %s (%d layers, hidden %d, vocab %d, pooling %s, normalize %s)" % (
        args.out, config["num_hidden_layers"], config["hidden_size"], vocab_rows, meta["semvec.pooling"],
        meta["semvec.normalize"]))


if __name__ == "__main__":
    main()
