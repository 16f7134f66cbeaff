"""Foundations of the course, numpy only.

- :mod:`~minnas.foundations.least_squares` -- normal equations, QR, SVD, ridge, gradient descent.
- :mod:`~minnas.foundations.newton` -- Newton's method for roots and minima, Armijo backtracking.
- :mod:`~minnas.foundations.entropy` -- entropy, cross-entropy, KL, log-softmax, information gain.
"""
