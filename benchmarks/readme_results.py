"""Copy saved benchmark tables into the README, between markers, so that no number in it is typed
by hand:

    <!-- results: benchmarks/results/recsys-cuda.md -->
    ...replaced by that file, less its title...
    <!-- /results -->

    python benchmarks/readme_results.py           # rewrite README.md
    python benchmarks/readme_results.py --check   # exit 1 if README.md is out of date
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"(<!-- results: (?P<path>\S+) -->\n)(?P<body>.*?)(<!-- /results -->)", re.DOTALL)


def body_of(path: Path) -> str:
    lines = path.read_text().splitlines()
    if lines and lines[0].startswith("# "):
        lines = lines[1:]
    return "\n".join(lines).strip() + "\n"


def render(readme: str, root: Path = ROOT) -> str:
    return BLOCK.sub(lambda m: m.group(1) + "\n" + body_of(root / m.group("path")) + "\n" + m.group(4), readme)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only say whether README.md is up to date")
    args = parser.parse_args()
    readme = ROOT / "README.md"
    text = readme.read_text()
    new = render(text)
    if args.check:
        if new != text:
            sys.exit("README.md is out of date with benchmarks/results: run python benchmarks/readme_results.py")
        return
    readme.write_text(new)
    print(f"wrote {readme}")


if __name__ == "__main__":
    main()
