"""Make a real run and photograph its report: the README's screenshot of `kernelevolve report`.

    python benchmarks/report_screenshot.py                      # the interpreter: docs/report.png
    python benchmarks/report_screenshot.py --platform cuda --steps 12 --out docs/report-cuda.png
    python benchmarks/report_screenshot.py --page RUN.html --out docs/report-cuda.png   # a page made elsewhere

It runs `kernelevolve optimize` on examples/softmax from its seed (the tuner alone, unless
--llm is given) in a scratch store, writes the run's report with `kernelevolve report`, and takes a
screenshot of the page with headless chromium (Debian's `chromium` package). With --page it
photographs a report made elsewhere (a GPU machine without a browser) instead.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "softmax"
RUN = "softmax-report"


def kernelevolve(*args: str, cwd: Path) -> None:
    # PYTHONPATH: this checkout's code, whichever copy is installed
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    command = [sys.executable, "-m", "kernelevolve.cli", *args]
    print("$ kernelevolve " + " ".join(args), flush=True)
    subprocess.run(command, cwd=cwd, env=env, check=True)


def screenshot(page: Path, png: Path, width: int, height: int) -> None:
    browser = next((found for name in ("chromium", "chromium-browser", "google-chrome")
                    if (found := shutil.which(name))), None)
    if browser is None:
        raise SystemExit("no chromium on PATH: apt-get install chromium")
    subprocess.run([browser, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    f"--window-size={width},{height}", f"--screenshot={png}", page.resolve().as_uri()],
                   check=True, capture_output=True, timeout=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--platform", default="interpreter", help="interpreter (default), cuda or rocm")
    parser.add_argument("--steps", type=int, default=6, help="evaluated candidates in the run")
    parser.add_argument("--llm", action="append", default=[], help="an LLM spec, as for optimize (repeatable)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "report.png", help="the PNG to write")
    parser.add_argument("--size", default="1400x1700", help="the browser window, WIDTHxHEIGHT")
    parser.add_argument("--page", type=Path, help="photograph this report instead of making a run")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if args.page is not None:
        screenshot(args.page, args.out, width, height)
        print(f"wrote {args.out}")
        return
    with tempfile.TemporaryDirectory(prefix="kernelevolve-screenshot-") as scratch:
        work = Path(scratch)
        # Paths relative to the repository, so the command the report shows reads as a user's.
        shutil.copytree(EXAMPLE, work / "examples" / "softmax")
        llm = [flag for spec in args.llm for flag in ("--llm", spec)]
        # The interpreter times nothing: without --search-untimed the run would stop at its first correct kernel.
        untimed = ["--search-untimed"] if args.platform == "interpreter" else []
        kernelevolve("optimize", "examples/softmax/problem.py", "--seed", "examples/softmax/kernel.py",
                     "--steps", str(args.steps), "--platform", args.platform, "--run", RUN, *untimed, *llm, cwd=work)
        kernelevolve("report", RUN, "--out", "reports", cwd=work)
        screenshot(work / "reports" / f"{RUN}.html", args.out, width, height)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
