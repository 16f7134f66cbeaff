"""Hyperparameter optimisation, numpy and scipy only.

- :mod:`~minnas.hpo.space` -- search spaces (real, integer, categorical; log scales), unit cube.
- :mod:`~minnas.hpo.search` -- grid and random search, and the result type of every optimiser.
- :mod:`~minnas.hpo.testfunctions` -- classic test functions with known minima, SVM tuning tasks.
- :mod:`~minnas.hpo.gp` -- Gaussian-process regression.
- :mod:`~minnas.hpo.bayesopt` -- acquisition functions and Bayesian optimisation (ask/tell).
- :mod:`~minnas.hpo.metafeatures` -- meta-features of a classification task, and task distances.
- :mod:`~minnas.hpo.metadataset` -- the offline meta-dataset: CV errors of SVM configurations.
- :mod:`~minnas.hpo.warmstart` -- warm-starting: best on average, kNN on meta-features, PMF with EI.
"""
