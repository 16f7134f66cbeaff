"""What an autograde run leaves for the instructor: tables, CSVs, a histogram and the flags.

In the working folder: ``grades.csv`` (one row per student and lesson), ``integrity.csv`` (one
row per flag), ``report.md`` (the score table, per lesson and exercise the mean, median and
share of full marks, and every flag) and ``grades_histogram.png`` (the totals).

Student names (folder names), unknown entries, details, flag messages and cell ids are written
by the students, so none of them is trusted: on screen and in ``report.md`` each goes through
:func:`_plain`, in the CSVs through :func:`_csv_text`.
"""

from __future__ import annotations

import csv
import re
import statistics
import unicodedata
from pathlib import Path

from grader.integrity import ATTENTION

_STATUS = {"missing": "-", "failed": "FAILED"}

# Characters that can end a line, move the cursor or colour the terminal, or reorder what is shown:
# C0 and C1 controls (newline, CR, tab, ESC...), DEL, Unicode line/paragraph separators and the
# bidirectional marks, embeddings, overrides and isolates; and lone surrogates (a folder name that
# is not UTF-8), which cannot be written to a UTF-8 file at all.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u061c\u200e\u200f\u202a-\u202e"
                      r"\u2066-\u2069\ud800-\udfff]")
# What a spreadsheet starts a formula with (OWASP, CSV injection); tab and CR are gone by then.
_FORMULA_START = ("=", "+", "-", "@")


def _plain(text: object) -> str:
    """``text`` as one inert line for the terminal and the fenced blocks of report.md: control
    characters become spaces, backticks (which could close the fence) become ``'``."""
    return _CONTROL.sub(" ", str(text)).replace("`", "'")


def _csv_text(text: object) -> str:
    """``text`` as a CSV field a spreadsheet shows as text: no control characters, and a leading
    ``'`` where it would otherwise start a formula (leading spaces do not
    stop some spreadsheets)."""
    text = _CONTROL.sub(" ", str(text))
    return "'" + text if text.lstrip().startswith(_FORMULA_START) else text


def _width(text: str) -> int:
    """Columns ``text`` takes in a terminal: wide (CJK) characters two, combining marks and
    invisible format characters none (``len`` would misalign the table)."""
    return sum(0 if unicodedata.category(c) in ("Mn", "Me", "Cf")
               else 2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _columns(rows: list[list[str]], left: set[int]) -> list[str]:
    """``rows`` as aligned text with a dashed rule under the first (the header): the columns in
    ``left`` are padded on the right, the others (numbers) on the left."""
    widths = [max(_width(r[i]) for r in rows) for i in range(len(rows[0]))]

    def pad(text: str, i: int) -> str:
        space = " " * (widths[i] - _width(text))
        return text + space if i in left else space + text

    rows = [rows[0], ["-" * w for w in widths], *rows[1:]]
    return ["  ".join(pad(c, i) for i, c in enumerate(r)).rstrip() for r in rows]


def integrity_summary(grades) -> str:
    """A short word for a student's flags: ``ok``, or counts by kind, attention
    kinds in capitals."""
    counts: dict[str, int] = {}
    for g in grades:
        for f in g.flags:
            counts[f.kind] = counts.get(f.kind, 0) + 1
    if not counts:
        return "ok"
    return ", ".join(f"{n} {kind.upper() if kind in ATTENTION else kind}"
                     for kind, n in sorted(counts.items()))


def score_table(results) -> str:
    """One row per student: the score per lesson, the total and the integrity column;
    then the flags."""
    manual = results.pending() > 0  # a column only while answers wait for a person
    rows = [["student", *results.lessons, "total", *(["manual pending"] if manual else []),
             "integrity"]]
    for student in results.students:
        grades = [results.grades[student, lesson] for lesson in results.lessons]
        cells = [_STATUS.get(g.status, f"{g.score:g}/{g.max_score:g}") for g in grades]
        pending = [f"{results.pending(student):g}"] if manual else []
        rows.append([_plain(student), *cells, f"{results.total(student):g}/{results.max_total():g}",
                     *pending, integrity_summary(grades)])
    lines = _columns(rows, left={0, len(rows[0]) - 1})
    for g in results.grades.values():
        for f in g.flags:
            # Flag's own format, each part made plain.
            cell = f" [{_plain(f.cell)}]" if f.cell else ""
            lines.append(f"{_plain(g.student)}/{_plain(g.lesson)}: {_plain(f.kind)}: "
                         f"{_plain(f.message)}{cell}")
    for folder in results.unknown:
        lines.append(f"ignored {_plain(folder)}: not a lesson folder (expected "
                     "STUDENT/NN_name/NN_name.ipynb)")
    if results.isolation:
        lines.append(f"isolation: {_plain(results.isolation)}")
    return "\n".join(lines)


def manual_line(results) -> str:
    """How much manual grading the run left: answers and points awaiting a person in Formgrader."""
    waiting = [g for g in results.grades.values() if g.pending > 0]
    if not waiting:
        return "Manual grading: nothing pending."
    return (f"Manual grading: {results.pending():g} points in {len(waiting)} submission(s) await a "
            "grader (Formgrader's manual grading view); the scores above do not include them yet.")


def exercise_summary(results) -> list[dict]:
    """Per lesson and per graded cell, over the graded submissions: mean, median, share
    of full marks."""
    rows = []
    for lesson in results.lessons:
        graded = [g for g in results.grades.values()
                  if g.lesson == lesson and g.status != "missing"]
        if not graded:
            continue
        totals = [g.score for g in graded]
        rows.append(_stats(lesson, "(total)", totals, graded[0].max_score))
        cells = [results.cell_scores.get((g.student, lesson), {}) for g in graded]
        names = next((list(c) for c in cells if c), [])
        for name in names:
            max_score = next(c[name][1] for c in cells if name in c)
            rows.append(_stats(lesson, name, [c[name][0] if name in c else 0.0 for c in cells],
                               max_score))
    return rows


def _stats(lesson: str, exercise: str, scores: list[float], max_score: float) -> dict:
    return {"lesson": lesson, "exercise": exercise, "n": len(scores), "max": max_score,
            "mean": statistics.fmean(scores), "median": statistics.median(scores),
            "full": sum(s >= max_score for s in scores) / len(scores)}


def summary_table(results, totals_only: bool = False) -> str:
    """The exercise summary as aligned text (``totals_only``: one row per lesson)."""
    rows = [r for r in exercise_summary(results) if not totals_only or r["exercise"] == "(total)"]
    header = ["lesson", "exercise", "n", "max", "mean", "median", "full marks"]
    body = [[_plain(r["lesson"]), _plain(r["exercise"]), str(r["n"]), f"{r['max']:g}",
             f"{r['mean']:.2f}", f"{r['median']:g}", f"{100 * r['full']:.0f}%"] for r in rows]
    return "\n".join(_columns([header, *body], left={0, 1}))


def write_all(results) -> None:
    """Write grades.csv, integrity.csv, report.md and grades_histogram.png into
    the working folder."""
    out = results.workdir
    with (out / "grades.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["student", "lesson", "score", "max_score", "status", "detail", "flags",
                         "manual_pending", "kernel_cpu_s", "late_penalty", "submitted_at"])
        for (student, lesson), g in sorted(results.grades.items()):
            writer.writerow([*map(_csv_text, [student, lesson]), f"{g.score:g}", f"{g.max_score:g}",
                             *map(_csv_text, [g.status, g.detail, "; ".join(map(str, g.flags))]),
                             f"{g.pending:g}", f"{g.kernel_cpu_s:.1f}", f"{g.late_penalty:g}",
                             g.timestamp.isoformat() if g.timestamp else ""])
    with (out / "integrity.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["student", "lesson", "kind", "cell", "message", "needs_attention"])
        for (student, lesson), g in sorted(results.grades.items()):
            for f in g.flags:
                writer.writerow([*map(_csv_text, [student, lesson, f.kind, f.cell, f.message]),
                                 f.kind in ATTENTION])
    histogram(results, out / "grades_histogram.png")
    attention = results.attention()
    # Only the grader writes outside the fences; what a submission wrote is inside them, made plain.
    text = [(f"# Autograde report\n\n{len(results.students)} students, {len(results.lessons)} "
             f"lessons, {results.seconds:.1f} s. Isolation: {_plain(results.isolation)}.\n"),
            (f"Needs attention: {len(attention)} submission(s)." if attention
             else "Nothing needs attention."),
            manual_line(results),
            "\n## Scores\n", "```", score_table(results), "```",
            "\n## Per lesson and exercise\n", "```", summary_table(results), "```",
            "\n![totals](grades_histogram.png)\n"]
    (out / "report.md").write_text("\n".join(text) + "\n", encoding="utf-8")


def histogram(results, path: Path) -> Path:
    """A histogram of the students' totals."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    totals = [results.total(s) for s in results.students]
    top = results.max_total() or 1
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.hist(totals, bins=min(20, max(5, len(totals))), range=(0, top), color="#4c72b0",
            edgecolor="white")
    ax.set_xlabel(f"total score (of {top:g})")
    ax.set_ylabel("students")
    ax.set_title(f"{len(totals)} students, median {statistics.median(totals):g}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
