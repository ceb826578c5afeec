"""How fast secret redaction is, and how often it cries wolf.

Prints, and asserts nothing:

* throughput of ``SecretRedactor.find`` over a fixed corpus of real source
  files (every .py/.txt/.json/.toml/.cfg file of the installed site-packages,
  in path order, up to 100 MB), as the median of several runs, in wall-clock
  and in CPU time (the CPU figure is steadier on a shared machine);
* two baselines in the same run, with ratios: only encoding and lower-casing
  the text (the floor any byte-level scanner pays), and one combined
  alternation regex of every anchor (the obvious single-regex design);
* findings on the corpus by kind, and every finding on this project's own
  ``src/`` (path, line, kind; never the value);
* the slowest of a few hostile one-megabyte lines.

Run: .venv/bin/python bench/redaction.py [--runs N]
"""

from __future__ import annotations

import argparse
import collections
import re
import statistics
import sys
import sysconfig
import time
from collections.abc import Callable
from pathlib import Path

from moatcode.guard.redact import SecretRedactor, create_detectors

ROOT = Path(__file__).resolve().parents[1]
SUFFIXES = {".py", ".txt", ".json", ".toml", ".cfg"}
MAX_BYTES = 100_000_000


def load_corpus() -> list[str]:
    site = Path(sysconfig.get_paths()["purelib"])
    texts: list[str] = []
    size = 0
    for path in sorted(site.rglob("*")):
        if path.suffix not in SUFFIXES or not path.is_file():
            continue
        text = path.read_text("utf-8", errors="replace")
        size += len(text.encode("utf-8", "surrogatepass"))
        texts.append(text)
        if size >= MAX_BYTES:
            break
    return texts


def measure(work: Callable[[], object], runs: int) -> tuple[float, float]:
    """Median wall-clock and CPU seconds of ``runs`` calls of ``work``."""
    walls, cpus = [], []
    for _ in range(runs):
        wall, cpu = time.perf_counter(), time.process_time()
        work()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus)


def combined_alternation() -> tuple[re.Pattern[bytes], re.Pattern[bytes]]:
    """Every anchor (literal and tail) as one alternation, per case rule."""
    exact: list[bytes] = []
    folded: list[bytes] = []
    for detector in create_detectors():
        for anchor in detector.anchors:
            branch = re.escape(anchor.literal.encode()) + anchor.tail
            (exact if anchor.case_sensitive else folded).append(branch)
    return re.compile(b"|".join(exact)), re.compile(b"|".join(folded))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs

    texts = load_corpus()
    megabytes = sum(len(t.encode("utf-8", "surrogatepass")) for t in texts) / 1e6
    print(f"corpus: {len(texts)} files, {megabytes:.1f} MB of UTF-8 (site-packages)")

    redactor = SecretRedactor()
    exact, folded = combined_alternation()

    def find_all() -> None:
        for text in texts:
            redactor.find(text)

    def encode_and_lower() -> None:
        for text in texts:
            text.encode("utf-8", "surrogatepass").lower()

    def alternation_scan() -> None:
        for text in texts:
            data = text.encode("utf-8", "surrogatepass")
            for _ in exact.finditer(data):
                pass
            for _ in folded.finditer(data.lower()):
                pass

    find_wall, find_cpu = measure(find_all, runs)
    print(f"\nSecretRedactor.find, median of {runs} runs:")
    print(f"  wall {megabytes / find_wall:7.1f} MB/s   cpu {megabytes / find_cpu:7.1f} MB/s")
    print("baselines (cpu time, same corpus):")
    for name, work, baseline_runs in (
        ("encode + lower only", encode_and_lower, runs),
        ("one alternation of all anchors, scan only", alternation_scan, 1),
    ):
        _, cpu = measure(work, baseline_runs)
        print(
            f"  {name:42s} {megabytes / cpu:7.1f} MB/s"
            f"   find takes {find_cpu / cpu:5.2f}x its time"
        )

    kinds: collections.Counter[str] = collections.Counter()
    for text in texts:
        kinds.update(f.kind for f in redactor.find(text))
    print(f"\nfindings on the corpus: {sum(kinds.values())}")
    for kind, count in kinds.most_common():
        print(f"  {count:6d}  {kind}")

    sources = sorted(p for p in (ROOT / "src").rglob("*") if p.suffix in SUFFIXES | {".md"})
    print(f"\nfindings on this project's src/ ({len(sources)} files):", end="")
    found = 0
    for path in sources:
        text = path.read_text("utf-8")
        for finding in redactor.find(text):
            found += 1
            line = text.count("\n", 0, finding.start) + 1
            print(f"\n  {path.relative_to(ROOT)}:{line}  {finding.kind}", end="")
    print(f" {found}" if not found else f"\n  total {found}")

    hostile = {
        "'a' * 1M": "a" * 1_000_000,
        "'key=' * 250k": "key=" * 250_000,
        "'password = \"' * 80k": 'password = "' * 80_000,
        "'://a:' * 200k": "://a:" * 200_000,
        "PEM headers * 31k": "-----BEGIN RSA PRIVATE KEY-----\n" * 31_000,
    }
    print("\nhostile one-megabyte lines (cpu seconds):")
    for name, text in hostile.items():
        started = time.process_time()
        redactor.find(text)
        print(f"  {name:24s} {time.process_time() - started:6.2f}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
