"""Understanding mail, in one process on one core: parse + vet + bounce check + visible reply
(sanitising and HTML-to-text happen inside parse) over the generated mail corpus.

    .venv/bin/python benchmarks/email_parse.py [--quick] [--mails N] [--corpus DIR] [--profile]

The corpus is made by ``tests/email/corpus.py`` (seed 42, a fifth of the GBK mail as raw
8-bit bytes); ``--corpus DIR`` runs on a pre-generated directory with the same
``manifest.json`` format instead (``--mails N`` then takes its first N mails).

Prints JSON lines, one object per figure. CPU time is the process's own (``time.process_time``),
so other work on the machine slows the wall clock but not the CPU-ms per mail. ``--profile``
prints a pyinstrument profile of one pass to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from channels.email.bounces import detect
from channels.email.parse import parse_message
from channels.email.quotes import visible_reply
from channels.email.vetting import Context, vet
from tests.email.corpus import generate

CONTEXT = Context(our_addresses={"support@helpdesk.example"}, mail_domain="helpdesk.example")


def understand(raw: bytes) -> int:
    parsed = parse_message(raw)
    vet(parsed, CONTEXT)
    detect(parsed)
    return len(visible_reply(parsed.text, parsed.html))


def measure(name: str, mails: list[bytes], rounds: int) -> dict[str, object]:
    for raw in mails[:50]:  # warm caches (codec lookups, regex compilation)
        understand(raw)
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(rounds):
        for raw in mails:
            understand(raw)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    count = len(mails) * rounds
    return {"figure": name, "mails": count, "mails_per_s_cpu": round(count / cpu, 1),
            "cpu_ms_per_mail": round(cpu * 1000 / count, 3),
            "mails_per_s_wall": round(count / wall, 1),
            "load_average_1m": round(os.getloadavg()[0], 2)}


def load(directory: Path, limit: int | None) -> tuple[list[bytes], list[str]]:
    """The mails of a corpus directory and their body kinds, in manifest order."""
    manifest = json.loads((directory / "manifest.json").read_text("utf-8"))["messages"][:limit]
    return ([(directory / item["file"]).read_bytes() for item in manifest],
            [item["kind"] for item in manifest])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer mails, one round")
    parser.add_argument("--mails", type=int, default=0)
    parser.add_argument("--corpus", type=Path, help="a pre-generated corpus directory")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    rounds = 1 if args.quick else 3
    if args.corpus:
        mails, kinds = load(args.corpus, args.mails or None)
    else:
        with tempfile.TemporaryDirectory() as directory:
            generate(args.mails or (1000 if args.quick else 5000), Path(directory), seed=42,
                     raw8bit_gbk=0.2)
            mails, kinds = load(Path(directory), None)
    html = [raw for raw, kind in zip(mails, kinds, strict=True) if kind != "plain"]
    print(json.dumps(measure("understand_all", mails, rounds)))
    print(json.dumps(measure("understand_html", html, rounds)))
    if args.profile:
        from pyinstrument import Profiler

        profiler = Profiler()
        with profiler:
            for raw in mails:
                understand(raw)
        print(profiler.output_text(unicode=True), file=sys.stderr)


if __name__ == "__main__":
    main()
