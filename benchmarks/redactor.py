"""The redactor's cost on long texts: every statement's SQL is redacted for its audit line, and
every error message before it is sent, so a megabyte of SQL (refused as too large, but audited)
is redacted whole.

Two sides in one process, on the same texts and secrets: the redactor as it is, and its
pattern without the leading class of the characters a match can begin with (what it was
before). Best of N in CPU time, per text.

    python benchmarks/redactor.py [--secrets 5] [--size 1000000] [--scans 5]
"""

from __future__ import annotations

import argparse
import random
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sidecar.secrets import Redactor

WORDS = ["SELECT", "FROM", "WHERE", "id", "=", "42", "orders", "status", "LIKE", "'a%'", "AND"]


def texts(size: int) -> dict[str, str]:
    rng = random.Random(7)
    sql = " ".join(rng.choice(WORDS) for _ in range(size // 4))[:size]
    letters = "".join(
        rng.choice("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(size)
    )
    return {"sql": sql, "x": "x" * size, "letters": letters}


def best(pattern: re.Pattern[str], text: str, scans: int) -> float:
    fastest = float("inf")
    for _ in range(scans):
        started = time.process_time()
        pattern.sub("***", text)
        fastest = min(fastest, time.process_time() - started)
    return fastest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--secrets", type=int, default=5)
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--scans", type=int, default=5)
    args = parser.parse_args()
    redactor = Redactor()
    for number in range(args.secrets):
        redactor.register(f"k-agent{number}-{random.Random(number).getrandbits(64):016x}")
    now = redactor.pattern
    assert now is not None
    lookahead = re.match(r"\(\?=\[.*?\]\)", now.pattern)  # the class it begins with
    assert lookahead is not None
    before = re.compile(now.pattern[lookahead.end() :])
    print(f"{args.secrets} secrets, {args.size:,} characters, best of {args.scans} (CPU s)")
    for name, text in texts(args.size).items():
        assert now.sub("***", text) == before.sub("***", text)
        old, new = best(before, text, args.scans), best(now, text, args.scans)
        print(f"{name:8} before {old:7.3f}  now {new:7.3f}  {old / new:6.1f}x")


if __name__ == "__main__":
    main()
