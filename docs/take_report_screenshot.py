"""Make docs/report.png: the top of the HTML report of the report tests' store (the
committed sample in data/raw plus 200 BBC articles given outlets and dates, see
tests/report_inputs.py), as headless Chromium (Debian's `chromium`) shows it with
the network cut off, the same way the tests open it (tests/chromium.py).

    .venv/bin/python docs/take_report_screenshot.py [--height 2300]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from chromium import Browser  # noqa: E402  (tests/ holds the browser driver and the input builder)
from report_inputs import analyst_input  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--height", type=int, default=2300, help="CSS pixels of the page to keep, from the top (default: 2300)")
    parser.add_argument("--target", type=Path, default=ROOT / "docs" / "report.png")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="textpipe-report-shot-") as scratch:
        input_dir, output = analyst_input(Path(scratch) / "input"), Path(scratch) / "output"
        textpipe = str(Path(sys.executable).with_name("textpipe"))
        subprocess.run([textpipe, "run", "--input", str(input_dir), "--output", str(output), "--topics", "12"], check=True, timeout=600)
        with Browser(Path(scratch), width=1200, height=900) as browser:
            browser.open((output / "report.html").as_uri())
            outside = [url for url in browser.requests() if not url.startswith(("file:", "data:"))]
            if outside:
                raise SystemExit(f"the report asked for {outside}")
            width = browser.evaluate("document.documentElement.scrollWidth")
            browser.screenshot(args.target, clip={"x": 0, "y": 0, "width": width, "height": args.height})
    print(f"wrote {args.target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
