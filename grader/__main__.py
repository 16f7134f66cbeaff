"""``python -m grader``: release the lessons, autograde a class, or run the demo.

    python -m grader release           # regenerate lessons/ from solutions/ (and record them
                                       # in the gradebook)
    python -m grader release 07_darts  # ... only the lessons named
    python -m grader release --check   # exit 1 when lessons/ is stale
    python -m grader autograde [SUBMISSIONS] [--workdir DIR] [--jobs N] [--cell-timeout S] ...
    python -m grader demo              # release, then grade the sample class in
                                       # grader/examples/class/
    python -m grader check NOTEBOOK    # a student's notebook against its visible tests

Limits, the grading folder and the exchange are set in nbgrader_config.py, which nbgrader's own
tools (Formgrader, Validate, the exchange) read too; options here override it for one run.
``autograde`` grades what ``nbgrader collect`` gathered (the grading folder's submitted/) unless
given a SUBMISSIONS folder. It exits 0 when every submission was graded and nothing was flagged
for attention, 1 when something needs the instructor (see report.md), 2 on a usage error.
``check`` exits 0 when every visible test passes, 1 when one fails.
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import sys
from pathlib import Path

from grader import config, course, report
from grader.execute import Limits


def cmd_release(args: argparse.Namespace) -> int:
    if args.check:
        stale = course.stale_lessons()
        for name in stale:
            print(f"stale: lessons/{name} differs from a fresh release of solutions/{name}")
        print("lessons/ is up to date" if not stale else "run: python -m grader release")
        return 1 if stale else 0
    try:
        written = course.release(only=args.lessons)
    except ValueError as err:
        print(err, file=sys.stderr)
        return 2
    for path in written:
        print(f"released {path.relative_to(course.REPO)}")
    # Formgrader and `nbgrader db assignment list` show the lessons with their points from now on.
    workdir = course.default_workdir()
    course.register(workdir, only=args.lessons)
    print(f"recorded in the gradebook of {workdir}")
    return 0


def _limits(args: argparse.Namespace) -> Limits:
    return dataclasses.replace(config.limits(), cell_s=args.cell_timeout,
                               notebook_s=args.notebook_timeout,
                               memory_bytes=int(args.memory_gb * 2**30))


def _grade_and_report(submissions: Path, args: argparse.Namespace, workdir: Path,
                      feedback: bool) -> int:
    results = course.autograde(submissions, workdir, feedback=feedback, jobs=args.jobs,
                               limits=_limits(args), only=args.lesson, scheduler=args.scheduler)
    print(report.score_table(results))
    print()
    print(report.summary_table(results, totals_only=True))
    handed_in = [g for g in results.grades.values() if g.status != "missing"]
    failed = sum(g.status == "failed" for g in handed_in)
    where = (f"on the Dask cluster at {args.scheduler}" if args.scheduler
             else f"with {args.jobs or course.default_jobs()} jobs")
    print(f"\n{len(handed_in)} notebooks ({len(handed_in) - failed} graded, {failed} failed) "
          f"in {results.seconds:.1f} s " + where)
    print(f"report:     {results.workdir / 'report.md'} "
          "(per exercise, flags, grades_histogram.png)")
    print(f"grades CSV: {results.csv_path}; Canvas: {results.workdir / 'canvas_grades.csv'}; "
          f"flags: {results.workdir / 'integrity.csv'}")
    if feedback:
        print(f"feedback:   {results.feedback_dir}/<student>/<lesson>/")
    print(report.manual_line(results))
    attention = results.attention()
    if attention:
        print(f"needs attention: {len(attention)} submission(s), listed above")
    return 1 if attention else 0


def cmd_check(args: argparse.Namespace) -> int:
    failed = 0
    for path in args.notebooks:
        grade, tests = course.check(path, limits=_limits(args))
        print(f"{path}: lesson {grade.lesson}, visible tests only")
        if grade.status != "graded":
            print(f"  could not be graded: {grade.detail}")
            failed += 1
            continue
        for test in tests:
            verdict = "pass" if test.passed else "FAIL"
            reason = f"  {test.message}" if test.message else ""
            print(f"  {verdict} {test.score:g}/{test.max_score:g}  {test.name}{reason}")
        for flag in grade.flags:
            print(f"  note: {flag}")
        total = sum(t.max_score for t in tests)
        print(f"  {grade.score:g}/{total:g} points from the visible tests; hidden tests and "
              "answers graded by hand count too when the lesson is graded")
        failed += not all(t.passed for t in tests)
    return 1 if failed else 0


def cmd_autograde(args: argparse.Namespace) -> int:
    return _grade_and_report(args.submissions, args, args.workdir, feedback=not args.no_feedback)


def cmd_demo(args: argparse.Namespace) -> int:
    for path in course.release():
        print(f"released {path.relative_to(course.REPO)}")
    course.register(args.workdir)  # the course's gradebook knows the lessons and their points
    workdir = args.workdir / "demo"
    shutil.rmtree(workdir, ignore_errors=True)  # a fresh gradebook every time
    print(f"\ngrading the sample class in {course.EXAMPLES.relative_to(course.REPO)}/ ...")
    status = _grade_and_report(course.EXAMPLES, args, workdir, feedback=True)
    print(f"Formgrader on these grades: MINNAS_GRADING_DIR={workdir} jupyter lab")
    return status


def _grading_options(p: argparse.ArgumentParser) -> None:
    limits = config.limits()
    p.add_argument("--jobs", type=int, default=None,
                   help="notebooks graded at once (default: all cores, "
                        f"{course.default_jobs()} here)")
    p.add_argument("--cell-timeout", type=int, default=limits.cell_s,
                   help="seconds per cell (default %(default)s)")
    p.add_argument("--notebook-timeout", type=int, default=limits.notebook_s,
                   help="seconds per notebook (default %(default)s)")
    p.add_argument("--memory-gb", type=float, default=limits.memory_bytes / 2**30,
                   help="address-space limit of each kernel in GiB (default %(default)g)")
    p.epilog = "Defaults come from nbgrader_config.py (Execute.timeout and the Limits section)."


def _scheduler_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--scheduler", metavar="ADDRESS", default=None,
                   help="grade on the Dask cluster of this scheduler (e.g. tcp://10.0.0.5:8786; "
                        "its workers need the course installed); default: this machine, "
                        "--jobs at once")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grader", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("release", help="regenerate lessons/ from solutions/")
    p.add_argument("--check", action="store_true", help="only report whether lessons/ is stale")
    p.add_argument("lessons", nargs="*", metavar="LESSON",
                   help="release only these lessons (e.g. 07_darts)")
    p.set_defaults(func=cmd_release)

    workdir_help = "grading working folder (default: $MINNAS_GRADING_DIR or ~/minnas-grading)"
    p = sub.add_parser("autograde",
                       help="grade SUBMISSIONS/<student>/<NN_lesson>/<NN_lesson>.ipynb")
    p.add_argument("submissions", type=Path, nargs="?", default=None,
                   help="default: WORKDIR/submitted, where `nbgrader collect` puts the submissions")
    p.add_argument("--workdir", type=Path, default=course.default_workdir(), help=workdir_help)
    p.add_argument("--lesson", action="append", default=[], metavar="LESSON",
                   help="grade only this lesson (repeatable; default: all)")
    p.add_argument("--no-feedback", action="store_true", help="skip the feedback HTML")
    _grading_options(p)
    _scheduler_option(p)
    p.set_defaults(func=cmd_autograde)

    p = sub.add_parser("demo",
                       help="release, then grade the sample class in grader/examples/class/")
    p.add_argument("--workdir", type=Path, default=course.default_workdir(), help=workdir_help)
    _grading_options(p)
    _scheduler_option(p)
    p.set_defaults(func=cmd_demo, lesson=[])

    p = sub.add_parser("check", help="run a notebook's visible tests as the grader would")
    p.add_argument("notebooks", type=Path, nargs="+", metavar="NOTEBOOK")
    _grading_options(p)
    p.set_defaults(func=cmd_check)

    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, course.GradingError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
