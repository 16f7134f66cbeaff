"""Feedback HTML without the hidden tests.

nbgrader's ``GenerateFeedback`` exports the autograded notebook to HTML as it is, and autograding
puts the instructor's full test cells back in: the student would read the hidden tests (their
inputs and seeds, between ``### BEGIN HIDDEN TESTS`` and ``### END HIDDEN TESTS``), what they
printed, and the traceback of a failing hidden assert, which quotes the hidden lines.

:class:`HideHiddenTests` runs in the feedback pipeline after ``GetGrades`` and edits the
in-memory copy of each test cell that has hidden tests (the autograded notebook on disk stays as
it is):

* source: the hidden block is removed, markers included, with nbgrader's own
  ``ClearHiddenTests`` logic, so the cell reads as it did in the student's release;
* stream and display outputs are dropped (the student's own ``print`` may show hidden inputs),
  and one stdout note says so;
* an error is kept when it was raised on a visible line (IPython's context lines from the hidden
  part are cut out of its traceback); otherwise, or when its line cannot be told from the
  traceback, it becomes an error of the same type with a generic message and no source.

:func:`configure` puts it into nbgrader's feedback preprocessors, and makes the page with
:class:`FeedbackExporter`: nbconvert's HTML exporter, less its last step, which parses the whole
page again with Python's ``html.parser`` to add two accessibility attributes (most of a feedback
page's cost); the same attributes are added here by pattern.
"""

from __future__ import annotations

import re

from nbconvert.exporters import HTMLExporter, TemplateExporter
from nbconvert.exporters.exporter import ResourcesDict
from nbconvert.filters.highlight import Highlight2HTML
from nbconvert.filters.widgetsdatatypefilter import WidgetsDataTypeFilter
from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
from nbformat.notebooknode import NotebookNode
from nbformat.v4 import new_output
from nbgrader import utils
from nbgrader.preprocessors import ClearHiddenTests, GetGrades
from traitlets.config import Config

__all__ = ["HIDDEN_FAILURE", "HIDDEN_OUTPUT_NOTE", "FeedbackExporter", "HideHiddenTests",
           "configure"]

HIDDEN_OUTPUT_NOTE = "[output of the hidden tests is not shown]\n"
HIDDEN_FAILURE = ("a hidden test failed (hidden tests check your function on inputs you were "
                  "not shown)")

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# A frame header of IPython's traceback: "Cell In[12], line 25" (IPython >= 8.6) or
# "Input In [12], in <cell line: 25>()" (IPython 8.0 to 8.5); group 1: the execution count.
_FRAME = re.compile(r"(?:Cell In|Input In )\[(\d+)\], (?:line |in <cell line: )(\d+)")
# A numbered source line of a frame: "      7 code" or "----> 7 code" (ANSI codes stripped).
_SOURCE_LINE = re.compile(r"^\s*(?:-+>\s*)?(\d+)(?:\s|$)")


class HideHiddenTests(ClearHiddenTests):
    """Remove hidden tests, their output and their failures from the test cells.

    The delimiters are ``ClearHiddenTests``'s and are configured there or on this class.
    Only test cells (nbgrader metadata ``grade: true``, ``solution: false``) that contain a hidden
    block are changed; every other cell is left as it is.
    """

    def preprocess(self, nb: NotebookNode,
                   resources: ResourcesDict) -> tuple[NotebookNode, ResourcesDict]:
        """Process every cell; unlike ``ClearHiddenTests``, leave the notebook metadata alone."""
        return super(ClearHiddenTests, self).preprocess(nb, resources)

    def preprocess_cell(self, cell: NotebookNode, resources: ResourcesDict,
                        cell_index: int) -> tuple[NotebookNode, ResourcesDict]:
        """Hide the hidden tests of one test cell (see the module docstring)."""
        begin = self._begin_line(cell.source)
        if begin is None or not utils.is_grade(cell) or utils.is_solution(cell):
            return cell, resources
        self._remove_hidden_test_region(cell)
        if cell.cell_type == "code":
            cell.outputs = _visible_outputs(cell.outputs, cell.get("execution_count"), begin)
        return cell, resources

    def _begin_line(self, source: str) -> int | None:
        """The 1-based line of ``source`` where the hidden block starts, or None."""
        for number, line in enumerate(source.split("\n"), start=1):
            if self.begin_test_delimeter in line:
                return number
        return None


def _visible_outputs(outputs: list[NotebookNode], count: int | None,
                     begin: int) -> list[NotebookNode]:
    """The outputs of a test cell that a student may see: one note in place of any stream and
    display outputs, then the errors as :func:`_visible_error` makes them."""
    errors = [_visible_error(out, count, begin) for out in outputs if out.output_type == "error"]
    if len(errors) < len(outputs):
        return [new_output("stream", name="stdout", text=HIDDEN_OUTPUT_NOTE), *errors]
    return errors


def _visible_error(error: NotebookNode, count: int | None, begin: int) -> NotebookNode:
    """The error output a student may see.

    Parameters
    ----------
    error : NotebookNode
        An error output of the test cell, with IPython's traceback.
    count : int or None
        The cell's ``execution_count``, which names its frames (``Cell In[count], line n``).
    begin : int
        The 1-based line where ``### BEGIN HIDDEN TESTS`` is in the cell's full source.

    Returns
    -------
    NotebookNode
        ``error`` with the hidden lines cut out of its traceback when every frame of this cell
        is on a visible line; else an error with the same ``ename``, the evalue
        :data:`HIDDEN_FAILURE` and a one-line traceback. No frame of this cell counts as hidden.
    """
    traceback, lines = _cut_hidden_lines(error.get("traceback", []), count, begin)
    if lines and max(lines) < begin:
        return new_output("error", ename=error.ename, evalue=error.evalue, traceback=traceback)
    return new_output("error", ename=error.ename, evalue=HIDDEN_FAILURE,
                      traceback=[f"{error.ename}: {HIDDEN_FAILURE}"])


def _cut_hidden_lines(traceback: list[str], count: int | None,
                      begin: int) -> tuple[list[str], list[int]]:
    """Drop the numbered source lines at or after ``begin`` from the frames of cell ``count``.

    Returns the traceback without them and the line numbers that this cell's frames point at.
    """
    kept, frame_lines = [], []
    for entry in traceback:  # IPython writes one frame per entry
        entry_lines, in_cell = [], False
        for line in entry.split("\n"):
            plain = _ANSI.sub("", line)
            if frame := _FRAME.search(plain):
                in_cell = count is not None and int(frame[1]) == count
                if in_cell:
                    frame_lines.append(int(frame[2]))
            elif in_cell and (numbered := _SOURCE_LINE.match(plain)) and int(numbered[1]) >= begin:
                continue
            entry_lines.append(line)
        kept.append("\n".join(entry_lines))
    return kept, frame_lines


class FeedbackExporter(HTMLExporter):
    """nbconvert's ``HTMLExporter`` (7.17), with its accessibility pass done without re-parsing.

    ``HTMLExporter.from_notebook_node`` registers two filters, renders the template, then parses
    the page with BeautifulSoup to give every image without one an ``alt`` text and every cell
    input and output ``tabindex="0"``. This does the first two steps as it does, and the third
    on the rendered text.
    """

    IMAGE_WITHOUT_ALT = re.compile(r"<img(?![^>]*\balt=)")
    FOCUSABLE = re.compile(
        r'<div (class="[^"]*\b(?:jp-Cell-inputWrapper|jp-OutputArea-output)\b[^"]*")')

    def from_notebook_node(self, nb: NotebookNode, resources: ResourcesDict | None = None, **kw):
        language = nb.metadata.get("language_info", {})
        lexer = language.get("pygments_lexer", language.get("name"))
        self.register_filter("highlight_code", self.filters.get(
            "highlight_code", Highlight2HTML(pygments_lexer=lexer, parent=self)))
        resources = self._init_resources(resources)
        self.register_filter("filter_data_type", WidgetsDataTypeFilter(
            notebook_metadata=self._nb_metadata, parent=self, resources=resources))
        html, resources = TemplateExporter.from_notebook_node(self, nb, resources, **kw)
        html = self.IMAGE_WITHOUT_ALT.sub('<img alt="No description has been provided '
                                          'for this image"', html)
        return self.FOCUSABLE.sub(r'<div \1 tabindex="0"', html), resources


def configure(cfg: Config) -> None:
    """Put :class:`HideHiddenTests` into nbgrader's feedback preprocessors (after ``GetGrades``).

    Parameters
    ----------
    cfg : traitlets.config.Config
        The configuration ``GenerateFeedback`` (or ``NbGraderAPI``) is created with; changed in
        place.
    """
    cfg.GenerateFeedback.preprocessors = [GetGrades, HideHiddenTests, CSSHTMLHeaderPreprocessor]
    cfg.GenerateFeedback.exporter_class = FeedbackExporter
