"""`babyllama report`: Markdown, self-contained HTML, LaTeX tables and PNG/PDF figures from run and
sweep folders (babyllama.report.build).

    babyllama report runs/sweep_lr --out report/
    babyllama report runs/quickstart runs/longer runs/sizing --out report/ --title "My experiments"
"""
from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.description = __doc__
    parser.add_argument("paths", nargs="+", metavar="RUN_OR_SWEEP_DIR",
                        help="run folders, sweep folders (with sweep.json) or folders holding run folders")
    parser.add_argument("--out", required=True, help="folder for report.md, report.html, report.tex, tables/, "
                                                     "figures/")
    parser.add_argument("--title", default="Experiments", help="the report's title (default Experiments)")


def run(args: argparse.Namespace) -> int:
    from babyllama.report.build import build_report

    path = build_report(args.paths, args.out, title=args.title)
    print(f"wrote {path}, {path.with_suffix('.html')}, {path.with_suffix('.tex')} and tables/, figures/")
    return 0
