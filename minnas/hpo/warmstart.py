r"""Warm-starting HPO from earlier tasks: kNN on meta-features, and PMF with expected improvement.

A meta-dataset (:mod:`minnas.hpo.metadataset`) holds the errors :math:`Y \in \mathbb R^{T
\times C}` of the same :math:`C` configurations on :math:`T` tasks and the tasks' meta-features
:math:`M \in \mathbb R^{T \times F}`. On a new task :math:`t^\star` we want :math:`\arg\min_c
y_{t^\star c}` after few evaluations: everything here orders the :math:`C` known configurations
(by index), and what is learned from the other tasks decides the order.

Sources
-------
- M. Feurer, J. T. Springenberg and F. Hutter, "Initializing Bayesian hyperparameter
  optimization via meta-learning", *AAAI* 2015: the kNN warm start (3), :func:`knn_warm_start`.
- N. Fusi, R. Sheth and M. Elibol, "Probabilistic matrix factorization for automated machine
  learning", *NeurIPS* 2018: a latent factor model of the tasks x pipelines matrix and EI
  over the configurations of a new task (:class:`PMF`, :class:`PMFOptimizer`). They use a
  non-linear GP-LVM; this file keeps the linear special case, PMF: closed-form steps.
- R. Salakhutdinov and A. Mnih, "Probabilistic matrix factorization", *NeurIPS* 2007: the
  model (4) and its MAP estimate (5).
- C. M. Bishop, *Pattern Recognition and Machine Learning*, Springer 2006, section 3.3: (7)-(8).

Equations implemented
---------------------
(1) Per-task normalisation (z-score): :math:`z_{tc} = (y_{tc} - m_t) / s_t`, with :math:`m_t`
    and :math:`s_t` the mean and standard deviation of task :math:`t`'s errors over the
    configurations (:math:`s_t = 1` if they are all equal): tasks differ in how hard they are;
    after (1) only the *shape* of each row is compared.
(2) Best on average: the rank :math:`r_{tc}` of configuration :math:`c` within task :math:`t`
    (1 = lowest error, ties share their mean rank), and the order of increasing
    :math:`\bar r_c = \frac1T \sum_t r_{tc}`: a static portfolio, the same for every new task.
(3) kNN warm start (Feurer et al. 2015): z-scored meta-features and the L1 distance
    :math:`d(t^\star, t) = \|\tilde m_{t^\star} - \tilde m_t\|_1`
    (:func:`~minnas.hpo.metafeatures.task_distances`); the :math:`k` nearest training tasks
    :math:`t_1, \dots, t_k`; the initial design takes the best configuration of
    :math:`t_1, \dots, t_k` in turn, then their second best, ..., skipping repeats.
(4) PMF: :math:`z_{tc} = u_t^\top v_c + \varepsilon_{tc}`,
    :math:`\varepsilon_{tc} \sim \mathcal N(0, \sigma^2)`, priors
    :math:`u_t, v_c \sim \mathcal N(0, \sigma_p^2 I_K)`, with :math:`K` latent dimensions.
(5) Its MAP estimate minimises, over the observed entries :math:`\Omega`,

    .. math:: \sum_{(t,c) \in \Omega} (z_{tc} - u_t^\top v_c)^2
              + \lambda \Big(\sum_t \|u_t\|^2 + \sum_c \|v_c\|^2\Big),
              \qquad \lambda = \sigma^2 / \sigma_p^2.

    Alternating least squares, :meth:`PMF.fit`; :math:`\sigma^2` = mean squared residual.
(6) A new task. Its latent vector gets the empirical prior of the training tasks,
    :math:`u \sim \mathcal N(\mu_U, \Sigma_U)` (mean and covariance of the rows of
    :math:`U`), and its raw errors are an unknown affine map of its z-scores,
    :math:`y_c = a + b\,z_c`. Measured in the units of a typical training task,
    :math:`y'_c = (y_c - \bar m) / \bar s` (:math:`\bar m, \bar s` the means of
    :math:`m_t, s_t`), and with :math:`w = b\,(u - \mu_U)`,

    .. math:: y'_c = a + b\,v_c^\top\mu_U + v_c^\top w + \varepsilon_c
              = \phi_c^\top\theta + \varepsilon_c, \qquad
              \phi_c = (1,\ v_c^\top\mu_U,\ v_c), \quad \theta = (a, b, w),

    which is *linear* in :math:`\theta`. Prior :math:`\theta \sim \mathcal N(\theta_0, S_0)`,
    :math:`\theta_0 = (0, 1, 0)`, :math:`S_0 = \mathrm{diag}(\tau_a^2, \tau_b^2, \Sigma_U)`,
    where :math:`\tau_a, \tau_b` are the standard deviations of :math:`m_t / \bar s` and
    :math:`s_t / \bar s` over the training tasks (how far a task's offset and scale stray);
    noise :math:`\varepsilon_c \sim \mathcal N(0, \sigma^2)`. All learned: nothing to tune.
(7) Bayesian linear regression on the observed configurations :math:`O` (Bishop eq. 3.49-3.51):

    .. math:: S_N = \big(S_0^{-1} + \Phi_O^\top\Phi_O / \sigma^2\big)^{-1}, \qquad
              \theta_N = S_N \big(S_0^{-1}\theta_0 + \Phi_O^\top y'_O / \sigma^2\big),

    computed in an equivalent form that needs no :math:`S_0^{-1}` (:meth:`PMF.posterior`).
(8) Predictive distribution of every configuration, back in the task's units:
    :math:`f_c \sim \mathcal N(\bar m + \bar s\,\phi_c^\top\theta_N,\
    \bar s^2\,\phi_c^\top S_N\phi_c)`; with no observation, the prior.
(9) PMF + EI (Fusi et al. 2018): evaluate the configuration with the highest expected
    improvement (:mod:`minnas.hpo.bayesopt`, eq. 2) under (8) among those not yet evaluated;
    the first pick, with no incumbent yet, is the lowest prior mean: the configurations that
    the training tasks liked, on average, come first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike
from scipy.linalg import cho_solve
from scipy.stats import rankdata

from minnas._validation import as_float_array, check_int, check_number
from minnas.hpo.bayesopt import log_expected_improvement
from minnas.hpo.gp import cholesky_with_jitter
from minnas.hpo.metafeatures import task_distances

if TYPE_CHECKING:  # only for the type hints: no import cycle with the meta-dataset's module
    from minnas.hpo.metadataset import MetaDataset

__all__ = ["PMF", "PMFOptimizer", "PMFStep", "best_on_average", "knn_warm_start",
           "normalize_errors"]


# ----------------------------------------------------------------- normalisation (1)
def normalize_errors(errors: ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """z-score each task's errors over its (observed) configurations, equation (1).

    Parameters
    ----------
    errors : array_like, shape (T, C)
        One row per task; NaN marks a configuration not evaluated on that task.

    Returns
    -------
    Z : ndarray, shape (T, C)
        :math:`(y_{tc} - m_t) / s_t`, NaN where ``errors`` is NaN.
    mean, std : ndarray, shape (T,)
        :math:`m_t` and :math:`s_t` (``ddof=0``); :math:`s_t = 1` for a constant row.

    Notes
    -----
    Per-task ranks would be more robust to outliers, but a new task's raw errors are an affine
    map of its z-scores, which eq. (6) needs; ranks are not.
    """
    Y = _check_errors(errors, allow_nan=True)
    mean = np.nanmean(Y, axis=1)
    std = np.nanstd(Y, axis=1)
    std = np.where(std > 0, std, 1.0)
    return (Y - mean[:, None]) / std[:, None], mean, std


# ----------------------------------------------------------------- best on average (2)
def best_on_average(errors: ArrayLike, n: int | None = None) -> list[int]:
    """Configurations in order of their mean rank over tasks, equation (2).

    Parameters
    ----------
    errors : array_like, shape (T, C)
        Errors of the training tasks (lower is better), all finite.
    n : int, optional
        How many indices to return (default: all ``C``).

    Returns
    -------
    list of int
        Indices of the ``n`` configurations with the lowest mean rank, best first; ties in the
        mean rank keep the lower index first.
    """
    Y = _check_errors(errors)
    n = Y.shape[1] if n is None else check_int(n, "n", low=1, high=Y.shape[1])
    ranks = rankdata(Y, axis=1)  # 1 = lowest error of the task; ties get their mean rank
    return np.argsort(ranks.mean(axis=0), kind="stable")[:n].tolist()


# ------------------------------------------------------------------- kNN warm start (3)
def knn_warm_start(meta: MetaDataset, target_metafeatures: ArrayLike,
                   train_tasks: Sequence[int], k: int = 3, n_configs: int = 3) -> list[int]:
    """Best configurations of the ``k`` training tasks nearest to the target, equation (3).

    Feurer et al. (2015): distances between z-scored meta-features (scaled with the training
    tasks' statistics, :func:`~minnas.hpo.metafeatures.task_distances`, L1); the best
    configuration of the nearest task, then of the second nearest, ..., then the second best
    of each, and so on, without repeats. BO then continues from these points
    (:class:`~minnas.hpo.bayesopt.BayesianOptimizer` with ``candidates`` and
    ``initial_points``).

    Parameters
    ----------
    meta : MetaDataset
        Supplies ``metafeatures`` (T, F) and ``errors`` (T, C) of the training tasks.
    target_metafeatures : array_like, shape (F,)
        Raw meta-features of the new task.
    train_tasks : sequence of int
        Rows of ``meta`` that may be used (the new task's own row must not be among them).
    k : int, default 3
        Number of neighbours, ``1 <= k <= len(train_tasks)``.
    n_configs : int, default 3
        Length of the initial design, ``1 <= n_configs <= C``. With the defaults the design
        is the best configuration of each of the 3 nearest tasks (``k = n_configs``, as in
        Feurer et al.); both were chosen by leave-one-task-out on the tuning split of the
        course's meta-dataset (``benchmarks/warmstart.py --tune``, protocol in
        ``benchmarks/README.md``), never on the tasks the benchmark reports.

    Returns
    -------
    list of int
        ``n_configs`` distinct configuration indices, the nearest task's best first.
    """
    Y = _check_errors(meta.errors)
    M = as_float_array(meta.metafeatures, "meta.metafeatures", ndim=2)
    if M.shape[0] != Y.shape[0]:
        raise ValueError(f"meta has {M.shape[0]} rows of meta-features but {Y.shape[0]} "
                         "rows of errors")
    train = np.asarray(train_tasks)
    if train.ndim != 1 or train.size == 0 or not np.issubdtype(train.dtype, np.integer):
        raise ValueError("train_tasks must be a non-empty list of task indices (integers)")
    if train.min() < 0 or train.max() >= Y.shape[0] or len(np.unique(train)) < train.size:
        raise ValueError(f"train_tasks must be distinct indices in [0, {Y.shape[0] - 1}]")
    k = check_int(k, "k", low=1, high=train.size)
    n_configs = check_int(n_configs, "n_configs", low=1, high=Y.shape[1])
    target = as_float_array(target_metafeatures, "target_metafeatures", ndim=1)
    distances = task_distances(target, M[train])  # eqs. (11)-(12) of metafeatures
    neighbours = train[np.argsort(distances, kind="stable")[:k]]
    ranked = np.argsort(Y[neighbours], axis=1, kind="stable")  # (k, C): best config first
    design: list[int] = []
    for c in ranked.T.reshape(-1):  # round r: the r-th best of each neighbour, nearest first
        if int(c) not in design:
            design.append(int(c))
            if len(design) == n_configs:
                break
    return design


# ------------------------------------------------------------------------------ PMF (4)-(8)
class PMF:
    r"""Probabilistic matrix factorisation of a tasks x configurations error matrix, eqs. (4)-(8).

    Parameters
    ----------
    n_latent : int, default 5
        :math:`K`, the dimension of the latent vectors :math:`u_t` and :math:`v_c`.
    lam : float, default 0.1
        :math:`\lambda = \sigma^2 / \sigma_p^2 > 0`, the ridge penalty of (5). The defaults
        of ``n_latent`` and ``lam`` were chosen by leave-one-task-out on the tuning split of
        the course's meta-dataset (``benchmarks/warmstart.py --tune``, protocol in
        ``benchmarks/README.md``), never on the tasks the benchmark reports.
    n_iter : int, default 100
        Maximum number of alternating least-squares sweeps (one sweep updates all
        :math:`u_t`, then all :math:`v_c`).
    tol : float, default 1e-7
        Stop once a sweep lowers the objective (5) by less than ``tol`` times its value.
    normalize : bool, default True
        z-score each task's errors first, eq. (1). (Without it, :math:`m_t = 0, s_t = 1`.)
    seed : int or numpy.random.Generator, optional
        For the random initial :math:`V`; same seed, same factors.

    Attributes
    ----------
    U_ : ndarray, shape (T, K)
        Latent task vectors :math:`u_t`.
    V_ : ndarray, shape (C, K)
        Latent configuration vectors :math:`v_c` (the "embedding" of the configurations).
    task_mean_, task_std_ : ndarray, shape (T,)
        :math:`m_t, s_t` of (1).
    Z_ : ndarray, shape (T, C)
        The factorised matrix: the z-scores (1) of ``Y`` (NaN where ``Y`` is missing).
    noise_ : float
        :math:`\sigma^2`, the mean squared residual of the fit on the observed z-scores.
    objective_ : list of float
        The value of (5) after each sweep (it never increases).
    u_mean_, u_cov_ : ndarray, shapes (K,) and (K, K)
        :math:`\mu_U, \Sigma_U` of (6), the prior of a new task's latent vector.
    offset_, scale_ : float
        :math:`\bar m, \bar s` of (6), the mean offset and scale of the training tasks.
    tau_a_, tau_b_ : float
        :math:`\tau_a, \tau_b` of (6), prior standard deviations of a new task's offset and
        scale (in units of :math:`\bar s`).
    """

    def __init__(self, n_latent: int = 5, lam: float = 0.1, n_iter: int = 100,
                 tol: float = 1e-7, normalize: bool = True,
                 seed: int | np.random.Generator | None = None) -> None:
        self.n_latent = check_int(n_latent, "n_latent", low=1)
        self.lam = check_number(lam, "lam", low=0, strict=True)
        self.n_iter = check_int(n_iter, "n_iter", low=1)
        self.tol = check_number(tol, "tol", low=0, finite=False)
        self.normalize = bool(normalize)
        self.seed = seed

    def __repr__(self) -> str:
        fitted = f", fitted on {self.U_.shape[0]} tasks" if hasattr(self, "V_") else ""
        return f"PMF(n_latent={self.n_latent}, lam={self.lam}{fitted})"

    # ------------------------------------------------------------------- fit (4)-(5)
    @staticmethod
    def _ridge_rows(Z: np.ndarray, mask: np.ndarray, B: np.ndarray, lam: float) -> np.ndarray:
        """Solve, for each row i of Z, min_a sum_{j observed} (Z_ij - a^T B_j)^2 + lam ||a||^2."""
        K = B.shape[1]
        A = np.zeros((Z.shape[0], K))
        full = mask.all(axis=1)  # complete rows share one Gram matrix: solve them together
        if full.any():
            A[full] = np.linalg.solve(B.T @ B + lam * np.eye(K), B.T @ Z[full].T).T
        for i in np.flatnonzero(~full):
            Bo = B[mask[i]]  # the latent vectors of this row's observed entries
            A[i] = np.linalg.solve(Bo.T @ Bo + lam * np.eye(K), Bo.T @ Z[i, mask[i]])
        return A

    def _objective(self, Z: np.ndarray, mask: np.ndarray, U: np.ndarray,
                   V: np.ndarray) -> float:
        R = np.where(mask, Z - U @ V.T, 0.0)
        return float(np.sum(R ** 2) + self.lam * (np.sum(U ** 2) + np.sum(V ** 2)))

    def fit(self, Y: ArrayLike) -> PMF:
        r"""Fit :math:`U, V` to the observed entries of ``Y`` by alternating ridge regressions, (5).

        With :math:`V` fixed, each :math:`u_t` is a ridge regression of task :math:`t`'s observed
        row on the rows :math:`v_c` of its observed configurations, :math:`u_t =
        (V_{\Omega_t}^\top V_{\Omega_t} + \lambda I)^{-1} V_{\Omega_t}^\top z_{t\Omega_t}`, and
        symmetrically for each :math:`v_c`. Each step lowers (5).

        Parameters
        ----------
        Y : array_like, shape (T, C)
            Errors, one row per task; NaN marks a missing entry. Every task needs at least
            one observed entry.

        Returns
        -------
        self
        """
        if self.normalize:
            Z, self.task_mean_, self.task_std_ = normalize_errors(Y)
        else:
            Z = _check_errors(Y, allow_nan=True)
            self.task_mean_, self.task_std_ = np.zeros(len(Z)), np.ones(len(Z))
        mask = ~np.isnan(Z)
        rng = np.random.default_rng(self.seed)
        V = 0.1 * rng.standard_normal((Z.shape[1], self.n_latent))
        U = np.zeros((Z.shape[0], self.n_latent))
        self.objective_: list[float] = []
        for _ in range(self.n_iter):
            U = self._ridge_rows(Z, mask, V, self.lam)      # u_t given V, eq. (5)
            V = self._ridge_rows(Z.T, mask.T, U, self.lam)  # v_c given U
            self.objective_.append(self._objective(Z, mask, U, V))
            if len(self.objective_) > 1 and \
                    self.objective_[-2] - self.objective_[-1] <= self.tol * self.objective_[-2]:
                break
        self.U_, self.V_, self.Z_ = U, V, Z
        residual = (Z - U @ V.T)[mask]
        self.noise_ = max(float(np.mean(residual ** 2)), 1e-6)
        # The prior of a new task, eq. (6): empirical mean and covariance of the task vectors,
        # and how far the tasks' offsets m_t and scales s_t stray from their means.
        self.u_mean_ = U.mean(axis=0)
        cov = np.cov(U, rowvar=False, bias=True).reshape(self.n_latent, self.n_latent)
        self.u_cov_ = cov + 1e-6 * max(float(np.trace(cov)) / self.n_latent, 1e-6) \
            * np.eye(self.n_latent)
        self.scale_ = float(np.mean(self.task_std_))  # s-bar
        self.offset_ = float(np.mean(self.task_mean_))  # m-bar
        self.tau_a_ = float(np.std(self.task_mean_ / self.scale_))
        self.tau_b_ = float(np.std(self.task_std_ / self.scale_))
        return self

    def reconstruct(self) -> np.ndarray:
        """The fitted matrix :math:`m_t + s_t\\,u_t^\\top v_c`, shape (T, C), in the units of Y.

        Entries missing from ``Y`` are thereby predicted (matrix completion).
        """
        self._check_fitted()
        return self.task_mean_[:, None] + self.task_std_[:, None] * (self.U_ @ self.V_.T)

    # ------------------------------------------------------------- a new task (6)-(8)
    def features(self) -> np.ndarray:
        r"""The regression features :math:`\phi_c = (1, v_c^\top\mu_U, v_c)` of (6), (C, K + 2)."""
        self._check_fitted()
        C = self.V_.shape[0]
        return np.column_stack([np.ones(C), self.V_ @ self.u_mean_, self.V_])

    def prior(self) -> tuple[np.ndarray, np.ndarray]:
        r""":math:`\theta_0` and :math:`S_0` of eq. (6), shapes (K + 2,) and (K + 2, K + 2)."""
        self._check_fitted()
        K = self.n_latent
        theta0 = np.concatenate([[0.0, 1.0], np.zeros(K)])
        S0 = np.zeros((K + 2, K + 2))
        S0[0, 0], S0[1, 1] = self.tau_a_ ** 2, self.tau_b_ ** 2
        S0[2:, 2:] = self.u_cov_
        return theta0, S0

    def posterior(self, observed: Mapping[int, float]) -> tuple[np.ndarray, np.ndarray]:
        r"""Posterior mean :math:`\theta_N` and covariance :math:`S_N` of eq. (7).

        Computed in the form that needs no :math:`S_0^{-1}` (a GP with the linear kernel
        :math:`k(c, c') = \phi_c^\top S_0 \phi_{c'}`, lesson 05):
        :math:`G = \Phi_O S_0 \Phi_O^\top + \sigma^2 I`,
        :math:`\theta_N = \theta_0 + S_0\Phi_O^\top G^{-1}(y'_O - \Phi_O\theta_0)`,
        :math:`S_N = S_0 - S_0\Phi_O^\top G^{-1}\Phi_O S_0`.

        Parameters
        ----------
        observed : dict {configuration index: error}
            The new task's evaluations so far (may be empty: then the prior).
        """
        idx, y = self._check_observed(observed)
        theta0, S0 = self.prior()
        if len(idx) == 0:
            return theta0, S0
        Phi = self.features()[idx]
        y_std = (y - self.offset_) / self.scale_  # y' of eq. (6)
        G = Phi @ S0 @ Phi.T + self.noise_ * np.eye(len(idx))
        L, _ = cholesky_with_jitter(G)
        SPhiT = S0 @ Phi.T
        theta = theta0 + SPhiT @ cho_solve((L, True), y_std - Phi @ theta0)
        S = S0 - SPhiT @ cho_solve((L, True), SPhiT.T)
        return theta, 0.5 * (S + S.T)

    def infer_task(self, observed: Mapping[int, float]) -> tuple[np.ndarray, np.ndarray]:
        r"""Predicted error of every configuration on a new task, eqs. (6)-(8).

        Parameters
        ----------
        observed : dict {configuration index: error}
            The new task's evaluations so far, in the units of ``Y``; may be empty.

        Returns
        -------
        mean, std : ndarray, shape (C,)
            :math:`\bar m + \bar s\,\phi_c^\top\theta_N` and
            :math:`\bar s\,(\phi_c^\top S_N\phi_c)^{1/2}` (of the noise-free error :math:`f_c`).
        """
        theta, S = self.posterior(observed)
        Phi = self.features()
        mean = self.offset_ + self.scale_ * (Phi @ theta)
        var = np.maximum(np.einsum("ck,kl,cl->c", Phi, S, Phi), 0.0)
        return mean, self.scale_ * np.sqrt(var)

    # ------------------------------------------------------------------ input checks
    def _check_fitted(self) -> None:
        if not hasattr(self, "V_"):
            raise ValueError("this PMF is not fitted yet; call fit(Y) first")

    def _check_observed(self, observed: Mapping[int, float]) -> tuple[np.ndarray, np.ndarray]:
        self._check_fitted()
        if not isinstance(observed, Mapping):
            raise ValueError("observed must be a dict {configuration index: error}, "
                             f"got {type(observed).__name__}")
        C = self.V_.shape[0]
        idx = np.array([check_int(i, "a configuration index", low=0, high=C - 1) for i in observed],
                       dtype=int)
        y = as_float_array(list(observed.values()), "observed errors", ndim=1,
                           allow_empty=True)
        return idx, y


# ------------------------------------------------------------------------- PMF + EI (9)
@dataclass
class PMFStep:
    """One proposal of :class:`PMFOptimizer`, kept for plots.

    Attributes
    ----------
    n_observed : int
        How many evaluations the posterior saw.
    mean, std : ndarray, shape (C,)
        The predictive distribution (8) of every configuration.
    acquisition : ndarray, shape (C,)
        log EI of each configuration (``-inf`` for evaluated ones; all ``nan`` for a pick by
        the prior mean).
    index : int
        The proposed configuration.
    """

    n_observed: int
    mean: np.ndarray
    std: np.ndarray
    acquisition: np.ndarray
    index: int


class PMFOptimizer:
    """Expected improvement over the configurations under the PMF posterior, eq. (9).

    An ask/tell loop over configuration indices ``0 .. C-1`` of the fitted :class:`PMF`.

    Parameters
    ----------
    pmf : PMF
        Fitted on the training tasks (not on the new one).
    n_initial : int, default 1
        The first ``n_initial`` picks take the lowest prior mean (8), in order; EI after that.
    seed : int or numpy.random.Generator, optional
        Breaks exact ties in the acquisition at random (otherwise the lowest index wins).

    Attributes
    ----------
    indices, func_vals : the evaluated configurations and their errors, in order.
    history_ : list of PMFStep, one per proposal.

    Examples
    --------
    >>> pmf = PMF(seed=0).fit(meta.errors[train])            # doctest: +SKIP
    >>> opt = PMFOptimizer(pmf)                               # doctest: +SKIP
    >>> for _ in range(10):                                   # doctest: +SKIP
    ...     c = opt.ask()
    ...     opt.tell(c, errors_of_new_task[c])
    """

    def __init__(self, pmf: PMF, n_initial: int = 1,
                 seed: int | np.random.Generator | None = None) -> None:
        if not isinstance(pmf, PMF):
            raise ValueError(f"pmf must be a PMF, got {type(pmf).__name__}")
        pmf._check_fitted()
        self.pmf = pmf
        self.n_configs = pmf.V_.shape[0]
        self.n_initial = check_int(n_initial, "n_initial", low=1)
        self._rng = np.random.default_rng(seed)
        self.indices: list[int] = []
        self.func_vals: list[float] = []
        self.history_: list[PMFStep] = []
        self._pending: int | None = None
        self._prior_order = np.argsort(pmf.infer_task({})[0], kind="stable")

    def __repr__(self) -> str:
        return f"PMFOptimizer(n_observed={len(self.indices)}, n_configs={self.n_configs})"

    def ask(self) -> int:
        """The next configuration index; asking again before :meth:`tell` gives the same one."""
        if self._pending is not None:
            return self._pending
        free = np.ones(self.n_configs, dtype=bool)
        free[self.indices] = False
        if not free.any():
            raise ValueError(f"all {self.n_configs} configurations have been evaluated")
        observed = dict(zip(self.indices, self.func_vals))
        mean, std = self.pmf.infer_task(observed)
        if len(self.indices) < self.n_initial:
            index = int(next(c for c in self._prior_order if free[c]))
            acq = np.full(self.n_configs, np.nan)
        else:
            acq = np.full(self.n_configs, -np.inf)
            acq[free] = log_expected_improvement(mean[free], std[free], min(self.func_vals))
            candidates = np.flatnonzero(free)
            ties = candidates[acq[candidates] == acq[candidates].max()]
            index = int(ties[0] if len(ties) == 1 else self._rng.choice(ties))
        self.history_.append(PMFStep(n_observed=len(self.indices), mean=mean, std=std,
                                     acquisition=acq, index=index))
        self._pending = index
        return index

    def tell(self, index: int, y: float) -> None:
        """Record the error ``y`` of configuration ``index`` (asked for or not)."""
        index = check_int(index, "index", low=0, high=self.n_configs - 1)
        if index in self.indices:
            raise ValueError(f"configuration {index} has been evaluated already")
        y = check_number(y, "y")
        self.indices.append(index)
        self.func_vals.append(y)
        self._pending = None

    @property
    def best(self) -> tuple[int, float]:
        """The best configuration so far and its error."""
        if not self.func_vals:
            raise ValueError("no evaluations yet: tell the optimizer at least one value")
        i = int(np.argmin(self.func_vals))
        return self.indices[i], self.func_vals[i]


# ------------------------------------------------------------------------- input checks
def _check_errors(errors: ArrayLike, allow_nan: bool = False) -> np.ndarray:
    """A (T, C) error matrix, each task with an observed entry; NaN = missing if ``allow_nan``."""
    Y = as_float_array(errors, "errors", ndim=2, finite=False)
    bad = np.isinf(Y) if allow_nan else ~np.isfinite(Y)
    if np.any(bad):
        raise ValueError("errors contains " + ("infinite values" if allow_nan else
                                               "NaN or infinite values"))
    empty = np.flatnonzero(np.all(np.isnan(Y), axis=1))
    if empty.size:
        raise ValueError(f"task(s) {empty.tolist()} have no observed error; every task needs at "
                         "least one observed entry")
    return Y
