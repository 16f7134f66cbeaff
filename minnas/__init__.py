"""minnas: a compact reference library for a course on meta-learning for AutoML and
hardware-aware neural architecture search.

Sub-packages, in the order the course meets them:

- :mod:`minnas.foundations` -- least squares, Newton's method, entropy (numpy only).

Each module implements one method; its docstring names the source and writes the
equations the code follows.
"""

__version__ = "0.1.0"
