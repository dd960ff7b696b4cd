#!/usr/bin/env python3
"""Print fashion-mnist images (Debian's dataset-fashion-mnist, the ann-benchmarks data) as
tab-separated `id, label, '[v1,...,v784]'` rows for COPY. Standard library only.

usage: fashion_mnist.py train|test COUNT [OFFSET]
"""
import gzip
import struct
import sys

DIR = "/usr/share/datasets/fashion-mnist"


def main():
    split, count = sys.argv[1], int(sys.argv[2])
    offset = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    prefix = "train" if split == "train" else "t10k"
    with gzip.open(f"{DIR}/{prefix}-images-idx3-ubyte.gz") as f:
        magic, n, rows, cols = struct.unpack(">IIII", f.read(16))
        assert magic == 2051, "not an IDX image file"
        dim = rows * cols
        f.read(dim * offset)
        images = [f.read(dim) for _ in range(min(count, n - offset))]
    with gzip.open(f"{DIR}/{prefix}-labels-idx1-ubyte.gz") as f:
        magic, n = struct.unpack(">II", f.read(8))
        assert magic == 2049, "not an IDX label file"
        f.read(offset)
        labels = f.read(len(images))
    out = sys.stdout
    for i, (img, label) in enumerate(zip(images, labels)):
        out.write(f"{offset + i + 1}\t{label}\t[{','.join(map(str, img))}]\n")


if __name__ == "__main__":
    main()
