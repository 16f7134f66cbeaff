"""What an autograde run leaves for the instructor: tables, CSVs, a histogram and the flags.

In the working folder: ``grades.csv`` (one row per student and lesson), ``integrity.csv`` (one
row per flag), ``report.md`` (the score table, per lesson and exercise the mean, median and
share of full marks, and every flag) and ``grades_histogram.png`` (the totals).
"""

from __future__ import annotations

import csv
import statistics
from pathlib import Path

from grader.integrity import ATTENTION

_STATUS = {"missing": "-", "failed": "FAILED"}


def integrity_summary(grades) -> str:
    """A short word for a student's flags: ``ok``, or counts by kind, attention kinds in capitals."""
    counts: dict[str, int] = {}
    for g in grades:
        for f in g.flags:
            counts[f.kind] = counts.get(f.kind, 0) + 1
    if not counts:
        return "ok"
    return ", ".join(f"{n} {kind.upper() if kind in ATTENTION else kind}" for kind, n in sorted(counts.items()))


def score_table(results) -> str:
    """One row per student: the score per lesson, the total and the integrity column; then the flags."""
    header = ["student", *results.lessons, "total", "integrity"]
    rows = []
    for student in results.students:
        grades = [results.grades[student, lesson] for lesson in results.lessons]
        cells = [_STATUS.get(g.status, f"{g.score:g}/{g.max_score:g}") for g in grades]
        rows.append([student, *cells, f"{results.total(student):g}/{results.max_total():g}",
                     integrity_summary(grades)])
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    fmt = lambda r: "  ".join(c.ljust(w) if i in (0, len(r) - 1) else c.rjust(w)  # noqa: E731
                              for i, (c, w) in enumerate(zip(r, widths))).rstrip()
    lines = [fmt(header), fmt(["-" * w for w in widths]), *map(fmt, rows)]
    for g in results.grades.values():
        for f in g.flags:
            lines.append(f"{g.student}/{g.lesson}: {f}")
    for folder in results.unknown:
        lines.append(f"ignored {folder}: not a lesson folder (expected STUDENT/NN_name/NN_name.ipynb)")
    if results.isolation:
        lines.append(f"isolation: {results.isolation}")
    return "\n".join(lines)


def exercise_summary(results) -> list[dict]:
    """Per lesson and per graded cell, over the graded submissions: mean, median, share of full marks."""
    rows = []
    for lesson in results.lessons:
        graded = [g for g in results.grades.values() if g.lesson == lesson and g.status != "missing"]
        if not graded:
            continue
        totals = [g.score for g in graded]
        rows.append(_stats(lesson, "(total)", totals, graded[0].max_score))
        cells = [results.cell_scores.get((g.student, lesson), {}) for g in graded]
        names = next((list(c) for c in cells if c), [])
        for name in names:
            max_score = next(c[name][1] for c in cells if name in c)
            rows.append(_stats(lesson, name, [c[name][0] if name in c else 0.0 for c in cells], max_score))
    return rows


def _stats(lesson: str, exercise: str, scores: list[float], max_score: float) -> dict:
    return {"lesson": lesson, "exercise": exercise, "n": len(scores), "max": max_score,
            "mean": statistics.fmean(scores), "median": statistics.median(scores),
            "full": sum(s >= max_score for s in scores) / len(scores)}


def summary_table(results, totals_only: bool = False) -> str:
    """The exercise summary as aligned text (``totals_only``: one row per lesson)."""
    rows = [r for r in exercise_summary(results) if not totals_only or r["exercise"] == "(total)"]
    header = ["lesson", "exercise", "n", "max", "mean", "median", "full marks"]
    body = [[r["lesson"], r["exercise"], str(r["n"]), f"{r['max']:g}", f"{r['mean']:.2f}",
             f"{r['median']:g}", f"{100 * r['full']:.0f}%"] for r in rows]
    widths = [max(len(x[i]) for x in [header, *body]) for i in range(len(header))]
    fmt = lambda r: "  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))  # noqa: E731
    return "\n".join([fmt(header), fmt(["-" * w for w in widths]), *map(fmt, body)])


def write_all(results) -> None:
    """Write grades.csv, integrity.csv, report.md and grades_histogram.png into the working folder."""
    out = results.workdir
    with (out / "grades.csv").open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["student", "lesson", "score", "max_score", "status", "detail", "flags"])
        for (student, lesson), g in sorted(results.grades.items()):
            writer.writerow([student, lesson, f"{g.score:g}", f"{g.max_score:g}", g.status, g.detail,
                             "; ".join(map(str, g.flags))])
    with (out / "integrity.csv").open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["student", "lesson", "kind", "cell", "message", "needs_attention"])
        for (student, lesson), g in sorted(results.grades.items()):
            for f in g.flags:
                writer.writerow([student, lesson, f.kind, f.cell, f.message, f.kind in ATTENTION])
    histogram(results, out / "grades_histogram.png")
    attention = results.attention()
    text = [f"# Autograde report\n\n{len(results.students)} students, {len(results.lessons)} lessons, "
            f"{results.seconds:.1f} s. Isolation: {results.isolation}.\n",
            f"Needs attention: {len(attention)} submission(s)." if attention else "Nothing needs attention.",
            "\n## Scores\n", "```", score_table(results), "```",
            "\n## Per lesson and exercise\n", "```", summary_table(results), "```",
            "\n![totals](grades_histogram.png)\n"]
    (out / "report.md").write_text("\n".join(text) + "\n")


def histogram(results, path: Path) -> Path:
    """A histogram of the students' totals."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    totals = [results.total(s) for s in results.students]
    top = results.max_total() or 1
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.hist(totals, bins=min(20, max(5, len(totals))), range=(0, top), color="#4c72b0", edgecolor="white")
    ax.set_xlabel(f"total score (of {top:g})")
    ax.set_ylabel("students")
    ax.set_title(f"{len(totals)} students, median {statistics.median(totals):g}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
