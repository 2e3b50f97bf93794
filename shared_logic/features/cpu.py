"""The CPU-bound workload: the first n Fibonacci numbers, `rounds` times over.

Module-level and pure so the async shell can send it to a process pool (it pickles by
reference). The digest lets a client check the work was done.
"""

from __future__ import annotations

import hashlib
from typing import TypedDict


class FibReport(TypedDict):
    n: int
    rounds: int
    last_digits: int
    sha256: str


def fibonacci_report(n: int, rounds: int) -> FibReport:
    """F(0)..F(n-1), each written in decimal and newline-terminated, hashed with SHA-256.

    Every round repeats the whole computation (no caching), so `rounds` scales the work
    linearly; the digest is the same each round.
    """
    digest = ""
    last = 0
    for _ in range(rounds):
        hasher = hashlib.sha256()
        a, b = 0, 1
        for _ in range(n):
            hasher.update(b"%d\n" % a)
            last = a
            a, b = b, a + b
        digest = hasher.hexdigest()
    return {"n": n, "rounds": rounds, "last_digits": len(str(last)), "sha256": digest}
