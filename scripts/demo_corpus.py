#!/usr/bin/env python3
"""Print Debian's English package descriptions as tab-separated `package, summary, body` rows
for COPY (the demo corpus). Reads apt's Translation-en list through apt-helper; standard library
only. usage: demo_corpus.py [LIMIT]  (every Nth package is taken so the sample spans the archive)
"""
import glob
import subprocess
import sys


def records(text):
    pkg = summary = None
    body = []
    for line in text.splitlines():
        if line.startswith("Package: "):
            pkg = line[9:].strip()
        elif line.startswith("Description-en: "):
            summary = line[16:].strip()
            body = []
        elif line.startswith(" ") and summary is not None:
            part = line[1:].strip()
            body.append("" if part == "." else part)
        elif line == "":
            if pkg and summary:
                yield pkg, summary, " ".join(b for b in body if b)
            pkg = summary = None
            body = []
    if pkg and summary:
        yield pkg, summary, " ".join(b for b in body if b)


def clean(s):
    return s.replace("\\", "\\\\").replace("\t", " ").replace("\n", " ")


def main():
    limit = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    lists = sorted(glob.glob("/var/lib/apt/lists/*_dists_bookworm_main_i18n_Translation-en*"))
    if not lists:
        sys.exit("no Translation-en list: run apt-get update -o Acquire::Languages=en")
    text = subprocess.run(["/usr/lib/apt/apt-helper", "cat-file", lists[0]], check=True,
                          capture_output=True, text=True).stdout
    rows = list(records(text))
    step = max(1, len(rows) // limit) if limit else 1
    for pkg, summary, body in rows[::step][: limit or None]:
        print(f"{clean(pkg)}\t{clean(summary)}\t{clean(body)}")


if __name__ == "__main__":
    main()
