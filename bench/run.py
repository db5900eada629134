"""The benchmarks: ``python bench/run.py [--quick]``.

Prints one markdown table (progress goes to stderr) and writes it to
``bench/results/latest.md``. Each section also runs alone, e.g.
``python bench/token_startup.py``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import adapter_overhead
import adapter_storm
import login_overhead
import memory
import refresh_storm
import token_startup
from common import Section, bound, log, machine, render, write_results

SECTIONS: list[Callable[[bool], Section]] = [
    token_startup.run,
    login_overhead.run,
    refresh_storm.run,
    memory.run,
    adapter_overhead.run,
    adapter_storm.run,
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run (~1 min)")
    args = parser.parse_args()
    bound(240 if args.quick else 900)
    started = time.perf_counter()
    load = os.getloadavg()[0]
    sections = [section(args.quick) for section in SECTIONS]
    mode = "Quick run" if args.quick else "Full run"
    elapsed = time.perf_counter() - started
    # Other work on the machine skews every figure: say how busy it was.
    header = f"{machine()} {mode}, {elapsed:.0f} s, {load:.1f} at its start."
    text = render(sections, header)
    print(text, end="")
    log(f"written to {write_results(text)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
