"""Points off for late submissions: a share of the score per day late, up to a cap.

The policy
----------
A notebook submitted after its lesson's due date loses ``percent_per_day`` percent of the score
it earned for every day it is late, where any part of a day counts as a whole day (one second
late costs as much as 23 hours), and never more than ``max_percent`` percent::

    penalty = score * min(max_percent, percent_per_day * ceil(seconds_late / 86400)) / 100

With the course's settings (10 % a day, capped at 100 %) a notebook worth 8 points submitted
1.5 days late loses 8 * 20 / 100 = 1.6 points; after 10 days it is worth nothing. A submission in
time (or a lesson without a due date) loses nothing.

How nbgrader applies it
-----------------------
nbgrader's ``AssignLatePenalties`` preprocessor runs during ``nbgrader autograde`` after the
notebook is scored. For each notebook of a submission that is late (``timestamp`` after the
due date plus any extension given to the student) it calls
:meth:`PerDayPenalty.late_submission_penalty` with the notebook's score, clips the answer to
``[0, score]`` and stores it in the gradebook as ``SubmittedNotebook.late_submission_penalty``.
nbgrader keeps the raw score: the lesson's grade is ``SubmittedAssignment.score`` minus
``SubmittedAssignment.late_submission_penalty`` (the sum over its notebooks), which is what
Formgrader shows and :mod:`grader.export` writes for Canvas.

Configuration
-------------
In ``nbgrader_config.py`` at the course root::

    c.AssignLatePenalties.plugin_class = "grader.late.PerDayPenalty"
    c.PerDayPenalty.percent_per_day = 10  # percent of the score, per day or part of one
    c.PerDayPenalty.max_percent = 100     # at most this percent of the score

Due dates belong to the lessons (nbgrader's assignments), in the gradebook: set one in
Formgrader's "Manage Assignments" page or with::

    nbgrader db assignment add LESSON --duedate="2027-01-15 23:59:00 UTC"

(``add`` updates the lesson when it exists). An extension for one student is set in Formgrader.
The policy can also be used from Python::

    PerDayPenalty(percent_per_day=5).late_submission_penalty("ada", 8.0, 36 * 3600)  # 0.8
"""

from __future__ import annotations

import math

from nbgrader.plugins import LateSubmissionPlugin
from traitlets import Float, TraitError, validate

SECONDS_PER_DAY = 24 * 60 * 60


class PerDayPenalty(LateSubmissionPlugin):
    """Late penalty of ``percent_per_day`` percent of the score per started day, capped.

    Parameters
    ----------
    percent_per_day : float, optional
        Percent of the notebook's score lost for each day late, or part of one (default 10).
        Must be finite and at least 0.
    max_percent : float, optional
        The most a late notebook loses, in percent of its score (default 100). Between 0
        and 100.
    **kwargs
        Passed on to :class:`nbgrader.plugins.LateSubmissionPlugin` (``parent``, ``config``).

    Raises
    ------
    traitlets.TraitError
        When a setting is negative, not finite, or ``max_percent`` is above 100 (at
        construction, from ``nbgrader_config.py`` too, or on assignment).
    """

    percent_per_day = Float(
        10.0, min=0.0,
        help="Percent of the score lost for each day late; any part of a day counts as a day.",
    ).tag(config=True)

    max_percent = Float(
        100.0, min=0.0, max=100.0,
        help="The most a late submission loses, in percent of its score.",
    ).tag(config=True)

    # traitlets' min/max let NaN through (every comparison with it is false), and NaN would make
    # every penalty NaN, which nbgrader would then store in the gradebook.
    @validate("percent_per_day", "max_percent")
    def _finite(self, proposal: dict) -> float:
        value = proposal["value"]
        if not math.isfinite(value):
            raise TraitError(f"PerDayPenalty.{proposal['trait'].name} must be a finite number, "
                             f"not {value!r}")
        return value

    def percent(self, total_seconds_late: float) -> float:
        """Percent of the score lost when ``total_seconds_late`` seconds late.

        Parameters
        ----------
        total_seconds_late : float
            Seconds after the due date (including any extension); 0 or less is in time.

        Returns
        -------
        float
            ``min(max_percent, percent_per_day * days)`` with ``days`` the number of days late
            rounded up, or 0 when in time.
        """
        if not total_seconds_late > 0:  # also NaN, which nbgrader never passes
            return 0.0
        days = math.ceil(total_seconds_late / SECONDS_PER_DAY)
        return min(self.max_percent, self.percent_per_day * days)

    def late_submission_penalty(self, student_id: str, score: float,
                                total_seconds_late: float) -> float:
        """Points taken off a notebook of ``student_id`` that earned ``score``.

        Parameters
        ----------
        student_id : str
            The student's nbgrader id (only logged: the policy is the same for everyone;
            extensions are part of ``total_seconds_late`` already).
        score : float
            The score the notebook earned before the penalty.
        total_seconds_late : float
            Seconds the submission came after its due date.

        Returns
        -------
        float
            The penalty in points, between 0 and ``score``; 0.0 when the submission was in time
            (nbgrader only asks about late ones, but a number is simpler for other callers than
            nbgrader's ``None``, which also means no penalty).
        """
        percent = self.percent(total_seconds_late)
        penalty = max(0.0, score) * percent / 100
        if penalty:
            self.log.info("%s: %.0f s late, %g%% of %g points off: %g",
                          student_id, total_seconds_late, percent, score, penalty)
        return penalty
