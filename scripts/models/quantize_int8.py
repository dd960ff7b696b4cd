#!/usr/bin/env python3
"""Write an int8 variant of an fp32 sentence-embedding ONNX model.

    quantize_int8.py --in model.onnx --out model-int8.onnx --method dynamic|nbits

dynamic  onnxruntime.quantization.quantize_dynamic: int8 per-channel weights on the
         MatMuls with constant weights (the activation x activation attention MatMuls
         stay fp32), activations quantized per tensor at run time.
nbits    onnxruntime.quantization's MatMulNBitsQuantizer with bits=8: int8 weights in
         blocks of 32 with their own scales, activations quantized per row block at
         run time (accuracy_level 4).

The embedding table (a Gather) stays fp32 in both, so the file is ~60 MB, not 23 MB.
setup_models.sh checks the result against tests/fixtures/embed/reference.json and only
installs it if every sentence keeps cosine >= 0.99 to the reference.
"""

import argparse
import logging
import sys

import onnx


def attention_matmuls(model):
    """MatMuls whose inputs are both activations (Q.K^T and probs.V)."""
    consts = {i.name for i in model.graph.initializer}
    return [n.name for n in model.graph.node if n.op_type == "MatMul" and not any(x in consts for x in n.input)]


def dynamic(src, dst):
    from onnxruntime.quantization import QuantType, quantize_dynamic

    model = onnx.load(src)
    quantize_dynamic(
        src,
        dst,
        op_types_to_quantize=["MatMul"],
        nodes_to_exclude=attention_matmuls(model),
        per_channel=True,
        weight_type=QuantType.QInt8,
    )


def nbits(src, dst):
    from onnxruntime.quantization import matmul_nbits_quantizer as mq

    logging.getLogger("onnxruntime.quantization.matmul_nbits_quantizer").setLevel(logging.WARNING)
    model = onnx.load(src)
    cfg = mq.DefaultWeightOnlyQuantConfig(block_size=32, is_symmetric=True, accuracy_level=4, bits=8)
    q = mq.MatMulNBitsQuantizer(model, bits=8, block_size=32, is_symmetric=True, accuracy_level=4,
                                nodes_to_exclude=attention_matmuls(model), algo_config=cfg)
    q.process()
    q.model.save_model_to_file(dst, use_external_data_format=False)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--in", dest="src", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--method", choices=["dynamic", "nbits"], required=True)
    args = ap.parse_args()
    {"dynamic": dynamic, "nbits": nbits}[args.method](args.src, args.out)
    # Keep the facts the Rust embedder reads (vocab size, positions, pooling) on the new model.
    src_props = {p.key: p.value for p in onnx.load(args.src, load_external_data=False).metadata_props}
    out = onnx.load(args.out)
    props = {p.key: p.value for p in out.metadata_props}
    props.update(src_props)
    props["semvec.quantization"] = "int8-" + args.method
    onnx.helper.set_model_props(out, props)
    onnx.save_model(out, args.out)
    print("wrote %s (int8, %s)" % (args.out, args.method))


if __name__ == "__main__":
    sys.exit(main())
