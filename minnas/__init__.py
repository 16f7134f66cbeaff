"""minnas: a compact reference library for a course on meta-learning for AutoML and
hardware-aware neural architecture search.

Sub-packages, in the order the course meets them:

- :mod:`minnas.foundations` -- least squares, Newton's method, entropy (numpy only).
- :mod:`minnas.hpo` -- search spaces, random and grid search, Gaussian processes, Bayesian
  optimisation, meta-features and warm-starting (numpy and scipy only).
- :mod:`minnas.nas` -- neural architecture search with PyTorch: candidate operations, DARTS.
- :mod:`minnas.data` and :mod:`minnas.train` -- offline datasets and the one training loop
  that the NAS modules share.

Each module implements one method; its docstring names the source and writes the
equations the code follows.
"""

__version__ = "0.1.0"
