"""Command line for the RAG example: create the schema, ingest text files, ask questions.

    python app.py init
    python app.py ingest corpus/*.md
    python app.py ask "How do central banks fight inflation?" [-k 3] [--mode semantic|hybrid|auto]

DATABASE_URL selects the database (default: the project cluster of scripts/lib.sh, database rag).
"""

import argparse
import os
from pathlib import Path

from sqlalchemy import create_engine
from sqlalchemy.orm import Session

import rag

DEFAULT_URL = "postgresql+psycopg://postgres@/rag?host=/tmp&port=28815"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    sub.add_parser("init", help="create the extension, tables and indexes")
    p_ingest = sub.add_parser("ingest", help="store text files as documents (title: first line)")
    p_ingest.add_argument("files", nargs="+", type=Path)
    p_ask = sub.add_parser("ask", help="retrieve the chunks that best answer a question")
    p_ask.add_argument("question")
    p_ask.add_argument("-k", type=int, default=3)
    p_ask.add_argument("--mode", choices=["auto", "semantic", "hybrid"], default="auto")
    args = ap.parse_args()

    engine = create_engine(os.environ.get("DATABASE_URL", DEFAULT_URL))
    if args.command == "init":
        rag.init_schema(engine)
    elif args.command == "ingest":
        with Session(engine) as session, session.begin():
            for path in args.files:
                body = path.read_text()
                title = body.splitlines()[0].lstrip("# ").strip() if body.strip() else path.name
                doc = rag.ingest(session, title=title, body=body, source=str(path))
                print(f"{path}: document {doc.id}, {len(doc.chunks)} chunks")
    else:
        with Session(engine) as session:
            hits = rag.retrieve(session, args.question, k=args.k, mode=args.mode)
            for h in hits:
                print(f"{h.score:.4f}  {h.document.title} #{h.chunk.chunk_no}: {h.chunk.content[:100]!r}")
            print("\n--- context for the prompt ---\n" + rag.context_for_prompt(hits))


if __name__ == "__main__":
    main()
