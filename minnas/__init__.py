"""minnas: a compact reference library for a course on meta-learning for AutoML and
hardware-aware neural architecture search.

Sub-packages, in the order the course meets them:

- :mod:`minnas.foundations` -- least squares, Newton's method, entropy (numpy only).
- :mod:`minnas.hpo` -- hyperparameter optimisation (numpy and scipy only): search spaces,
  random and grid search, test functions, Gaussian processes, Bayesian optimisation,
  meta-features, the offline meta-dataset and warm-starting.
- :mod:`minnas.nas` -- neural architecture search with PyTorch: candidate operations, latency
  measurement and lookup tables, DARTS, FBNet, MnasNet, and Once-for-All (the supernet in
  :mod:`~minnas.nas.ofa`, its search in :mod:`~minnas.nas.ofa_search`, and the trained supernet
  of lesson 10 in :mod:`~minnas.nas.pretrained`).
- :mod:`minnas.data`, :mod:`minnas.train` and :mod:`minnas.plot` -- the offline datasets, the
  one training loop and the figures that the NAS modules share.

Each module implements one method; its docstring names the source and writes the
equations the code follows.
"""

__version__ = "0.1.0"
