"""`make mutation`: mutation testing of deploys/ with mutmut, scored; exit 1 under the floor.

mutmut (configured in setup.cfg, [mutmut]) copies the repository into mutants/, makes one
mutant per small change of a function in deploys/ and runs the host-free tests of deploys/
that reach the changed function against each. This prints the share of mutants the tests
killed (a timeout counts as killed, a mutant no test reaches as survived) and the survivors.

    python tests/mutation.py                       # every mutant (hours on 2 cores)
    python tests/mutation.py --mutants 'deploys.join.*'
    python tests/mutation.py --sample 120 --seed 15  # a fixed random sample (docs/mutation.md)
"""

from __future__ import annotations

import argparse
import collections
import fnmatch
import json
import os
import random
import subprocess
import sys
from pathlib import Path

FLOOR = 85.0  # percent of mutants killed
ROOT = Path(__file__).resolve().parent.parent
MUTMUT = [sys.executable, "-m", "mutmut"]
KILLED = {"killed", "timeout", "caught by type check", "segfault"}
# mutmut's own steps, without running anything: copy the tree, write the mutants and their .meta files
GENERATE = """
import os
from mutmut.__main__ import create_mutants
from mutmut.utils.file_utils import copy_also_copy_files, copy_src_dir
os.makedirs("mutants", exist_ok=True)
copy_src_dir()
copy_also_copy_files()
create_mutants(1)
"""


def results() -> dict[str, int | None]:
    """Every mutant of deploys/ with its exit code (None: not run yet)."""
    found: dict[str, int | None] = {}
    for meta in sorted((ROOT / "mutants" / "deploys").rglob("*.meta")):
        found.update(json.loads(meta.read_text())["exit_code_by_key"])
    return found


def widen(stats: Path) -> None:
    """Give each function every test of the test files that reach it.

    mutmut runs, for a mutant, only the tests that called its function while it collected its
    stats; a module-scoped fixture (the planned runs of tests/deploys) is computed in the setup
    of the first test that asks for it, so the module's other tests, which assert on the same
    plan, would never be run against the mutant.
    """
    data = json.loads(stats.read_text())
    by_file: dict[str, set[str]] = collections.defaultdict(set)
    for test in data["duration_by_test"]:
        by_file[test.split("::")[0]].add(test)
    table = data["tests_by_mangled_function_name"]
    for function, tests in table.items():
        files = {test.split("::")[0] for test in tests}
        table[function] = sorted(set(tests).union(*(by_file[f] for f in files)))
    stats.write_text(json.dumps(data))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mutants", help="only the mutants whose names match this glob, e.g. 'deploys.join.*'")
    parser.add_argument("--sample", type=int, help="a random sample of this many mutants")
    parser.add_argument("--seed", type=int, default=15, help="the sample's seed (same seed, same sample)")
    parser.add_argument("--workers", type=int, default=1, help="mutants tested at once (default 1)")
    parser.add_argument("--per-test", action="store_true",
                        help="only the tests mutmut saw reach a function (default: every test of their files)")
    args = parser.parse_args(argv)
    from mutmut.stats import status_by_exit_code

    os.chdir(ROOT)
    subprocess.run([sys.executable, "-c", GENERATE], check=True, stdout=subprocess.DEVNULL)
    names = sorted(results())
    if args.mutants:
        names = [name for name in names if fnmatch.fnmatch(name, args.mutants)]
    if args.sample:
        names = sorted(random.Random(args.seed).sample(names, min(args.sample, len(names))))
    if not names:
        print(f"no mutant matches {args.mutants!r}", file=sys.stderr)
        return 2
    chosen = names if (args.mutants or args.sample) else []  # none named: mutmut runs (or reuses) every mutant
    run = [*MUTMUT, "run", "--max-children", str(args.workers)]
    stats = ROOT / "mutants" / "mutmut-stats.json"
    if not args.per_test:
        if not stats.exists():  # mutmut collects its stats (and tests one mutant)
            subprocess.run([*run, names[0]], check=True)
        widen(stats)
    subprocess.run([*run, *chosen], check=True)
    codes = results()
    statuses = {name: status_by_exit_code[codes.get(name)] for name in names}
    killed = sorted(name for name, status in statuses.items() if status in KILLED)
    survivors = sorted(name for name, status in statuses.items() if status not in KILLED)
    score = 100.0 * len(killed) / len(statuses)
    print()
    for name in survivors:
        print(f"survived ({statuses[name]}): {name}")
    print(f"mutation score: {len(killed)}/{len(statuses)} mutants killed = {score:.1f}% (floor {FLOOR:.0f}%)")
    return 0 if score >= FLOOR else 1


if __name__ == "__main__":
    raise SystemExit(main())
