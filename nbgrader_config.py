"""nbgrader's configuration for this course, and the one place for the grading limits.

nbgrader reads this file when it runs from the repository root: the ``nbgrader`` commands,
JupyterLab's Formgrader, Validate and Assignment List when ``jupyter lab`` was started here.
``python -m grader`` reads it too, so Validate and autograde share the cell time limit and
every other limit is set here once (command-line options of ``python -m grader`` override
them for one run).

Layout: ``solutions/`` is nbgrader's source folder and ``lessons/`` its release folder (both in
git); what grading produces lives in the grading folder, outside git:
``$MINNAS_GRADING_DIR`` or ``~/minnas-grading``, holding ``gradebook.db``, ``submitted/``,
``autograded/`` and ``feedback/``. The exchange (release, fetch, submit, collect, feedback)
is ``$MINNAS_EXCHANGE_DIR``, or ``exchange/`` in the grading folder; on a shared machine or
JupyterHub, point everyone at one shared folder, e.g. ``/srv/nbgrader/exchange``.
"""

import os
from pathlib import Path

from grader import feedback

c = get_config()  # noqa: F821 - provided by traitlets when it loads this file

course = Path(__file__).resolve().parent
grading = Path(os.environ.get("MINNAS_GRADING_DIR") or Path.home() / "minnas-grading")
grading = grading.expanduser().resolve()
grading.mkdir(parents=True, exist_ok=True)  # SQLite creates the gradebook, not its folder

c.CourseDirectory.course_id = "minnas"
c.CourseDirectory.root = str(course)
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "lessons"
# Absolute paths: nbgrader joins them onto the root, which keeps them as they are.
c.CourseDirectory.submitted_directory = str(grading / "submitted")
c.CourseDirectory.autograded_directory = str(grading / "autograded")
c.CourseDirectory.feedback_directory = str(grading / "feedback")
c.CourseDirectory.db_url = f"sqlite:///{grading / 'gradebook.db'}"
exchange = Path(os.environ.get("MINNAS_EXCHANGE_DIR") or grading / "exchange").expanduser()
c.Exchange.root = str(exchange)
if "MINNAS_EXCHANGE_DIR" not in os.environ:  # the course-local one; a shared one is the admin's
    exchange.mkdir(exist_ok=True)

# Limits of one kernel. nbgrader's Validate and autograde read the cell limit from
# Execute.timeout; python -m grader reads it and the Limits section below.
c.Execute.timeout = 120  # seconds per cell
c.Limits.notebook_s = 600  # seconds per notebook
c.Limits.memory_bytes = 4 * 2**30  # address space of each kernel process (and of all, in a cgroup)
c.Limits.max_processes = 256  # processes and threads at once
c.Limits.cell_output_chars = 2_000_000
c.Limits.notebook_output_chars = 20_000_000
c.Limits.cell_messages = 2_000  # output messages per cell
c.Limits.notebook_bytes = 32 * 2**20  # size of a submitted notebook

# nbgrader scores a test cell 0 when anything reaches stderr; a warning is not a wrong answer.
c.IgnorePattern.enabled = True
c.IgnorePattern.pattern = r"\w*Warning: "

# Feedback handed back to students shows no hidden test (grader/feedback.py).
feedback.configure(c)

# Late submissions: points off per day late (grader/late.py); due dates are set per lesson in
# Formgrader or with `nbgrader db assignment add LESSON --duedate="2027-01-15 23:59:00 UTC"`.
c.AssignLatePenalties.plugin_class = "grader.late.PerDayPenalty"
c.PerDayPenalty.percent_per_day = 10  # of the score earned, for each day or part of one
c.PerDayPenalty.max_percent = 100

# `nbgrader export` writes Canvas's gradebook CSV (grader/export.py); our grader writes it too.
c.ExportApp.plugin_class = "grader.export.CanvasExportPlugin"
