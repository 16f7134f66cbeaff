"""``python -m grader``: release the lessons, autograde a class, or run the demo.

    python -m grader release            # regenerate lessons/ from solutions/
    python -m grader release --check    # exit 1 when lessons/ is stale
    python -m grader autograde SUBMISSIONS [--workdir DIR]
    python -m grader demo               # release, then grade the sample class in grader/examples/
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

from grader import course


def cmd_release(args: argparse.Namespace) -> int:
    if args.check:
        stale = course.stale_lessons()
        for name in stale:
            print(f"stale: lessons/{name} differs from a fresh release of solutions/{name}")
        print("lessons/ is up to date" if not stale else "run: python -m grader release")
        return 1 if stale else 0
    for path in course.release():
        print(f"released {path.relative_to(course.REPO)}")
    return 0


def _grade_and_report(submissions: Path, workdir: Path, feedback: bool) -> int:
    start = time.perf_counter()
    results = course.autograde(submissions, workdir, feedback=feedback)
    print(course.score_table(results))
    print(f"\ngraded {len(results.grades)} notebooks in {time.perf_counter() - start:.1f} s")
    print(f"grades CSV: {results.csv_path}")
    if feedback:
        print(f"feedback:   {results.feedback_dir}/<student>/<lesson>/")
    return 1 if results.problems() else 0


def cmd_autograde(args: argparse.Namespace) -> int:
    return _grade_and_report(args.submissions, args.workdir, feedback=not args.no_feedback)


def cmd_demo(args: argparse.Namespace) -> int:
    for path in course.release():
        print(f"released {path.relative_to(course.REPO)}")
    workdir = args.workdir / "demo"
    shutil.rmtree(workdir, ignore_errors=True)  # a fresh gradebook every time
    print(f"\ngrading the sample class in {course.EXAMPLES.relative_to(course.REPO)}/ ...")
    return _grade_and_report(course.EXAMPLES, workdir, feedback=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grader", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("release", help="regenerate lessons/ from solutions/")
    p.add_argument("--check", action="store_true", help="only report whether lessons/ is stale")
    p.set_defaults(func=cmd_release)

    workdir_help = "grading working folder (default: $MINNAS_GRADING_DIR or ~/minnas-grading)"
    p = sub.add_parser("autograde", help="grade SUBMISSIONS/<student>/<NN_lesson>/<NN_lesson>.ipynb")
    p.add_argument("submissions", type=Path)
    p.add_argument("--workdir", type=Path, default=course.default_workdir(), help=workdir_help)
    p.add_argument("--no-feedback", action="store_true", help="skip the feedback HTML")
    p.set_defaults(func=cmd_autograde)

    p = sub.add_parser("demo", help="release, then grade the sample class in grader/examples/")
    p.add_argument("--workdir", type=Path, default=course.default_workdir(), help=workdir_help)
    p.set_defaults(func=cmd_demo)

    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, course.GradingError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
