"""MetaNAS and warm-started DARTS on held-out MNIST-1D tasks, against DARTS from scratch.

Setting: :mod:`minnas.nas.metanas` with its defaults: 5-way 10-shot tasks (10 query and 20 test
samples per class, noise level uniform in [0, 0.3]) from MNIST-1D, a supernet of 3 cells with
2 nodes and 5 operations, transductive batch norm. The meta-training pool and the held-out pool
come from ``task_pools(seed=0)`` (disjoint samples); held-out task ``i`` is
``TaskDistribution(held-out pool).sample(first_task + i)``. The settings (tasks of 10 shots,
noise up to 0.3, the 5 operations, 2 nodes, 300 meta-iterations) were chosen in prototype runs
that looked at held-out tasks 1000-1005 (and lesson 11 shows tasks 1000-1002); the default
``--first-task 2000`` draws tasks that no choice has seen. One torch thread per process.

For every meta seed ``s`` in ``--seeds``: :func:`~minnas.nas.metanas.meta_train` with seed
``s`` (seed 0 is the shipped checkpoint's recipe) meta-learns ``(w, alpha)``; the same with
``include_alpha=False`` meta-learns the weights of a supernet whose ``alpha`` stays at its
start. Then, on every held-out task (adaptation seed ``s``, scratch initialisation seed
``100 + s``):

1. **Search curves.** DARTS from scratch (new supernet) and warm-started DARTS (from the
   meta-learned supernet), ``--budget`` steps each (:func:`~minnas.nas.metanas.adapt`); the
   query (validation) accuracy after every step. Reported: the step at which the warm start
   first reaches scratch's accuracy after the full budget, as a share of the budget.
2. **After the same small adaptation.** ``--steps`` DARTS steps, then the derived cell with the
   adapted weights, its weights trained ``--fine-tune`` more steps (:func:`derive`); test
   accuracy of: the meta-learned ``(w, alpha)``; (a) DARTS from scratch; (b) the weights
   meta-learned with ``alpha`` fixed, adapted the same way (``alpha`` free during adaptation);
   (c) 5 random cells (:func:`~minnas.nas.darts.random_genotype`, seeds ``10 s + j``) with the
   meta-learned weights, each trained ``steps + fine_tune`` steps (as many weight steps as the
   others), the best of the five chosen by query accuracy.
3. **Derived cells per task**: how many distinct normal and reduction cells the meta-learned
   supernet's adaptation derives across the held-out tasks.

Usage (from the repository root)::

    python benchmarks/metanas.py                 # 3 meta seeds x 6 tasks, 3 processes
    python benchmarks/metanas.py --quick --out ""   # a smoke test, printed only
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import machine, quartiles, settings, versions, write_section

from minnas.nas import darts, metanas
from minnas.train import evaluate

FULL = dict(seeds=[0, 1, 2], tasks=6, first_task=2000, budget=30, steps=10, fine_tune=10,
            iterations=300, jobs=3)
QUICK = dict(seeds=[0], tasks=2, first_task=2000, budget=6, steps=2, fine_tune=2, iterations=3,
             jobs=1)
N_RANDOM = 5
SECTION = "## MetaNAS and warm-started DARTS on held-out tasks (lesson 11)"


def test_acc(model: darts.Network, task) -> float:
    return evaluate(model, task.tensors("test"))


def run_seed(args: tuple[int, dict]) -> dict:
    """Meta-train with meta seed ``s`` (with and without ``alpha``) and judge on every task."""
    s, cfg = args
    torch.set_num_threads(1)
    (X, y), (X_h, y_h) = metanas.task_pools()
    train_tasks, held_out = metanas.TaskDistribution(X, y), metanas.TaskDistribution(X_h, y_h)
    out: dict = {"seed": s, "tasks": []}
    tic = time.process_time()
    meta = metanas.meta_train(train_tasks, iterations=cfg["iterations"], seed=s).model
    out["meta_cpu"] = time.process_time() - tic
    tic = time.process_time()
    w_only = metanas.meta_train(train_tasks, iterations=cfg["iterations"], include_alpha=False,
                                seed=s).model
    out["w_only_cpu"] = time.process_time() - tic
    steps, ft = cfg["steps"], cfg["fine_tune"]
    for i in range(cfg["tasks"]):
        task = held_out.sample(cfg["first_task"] + i)
        row: dict = {"task": i}
        tic = time.process_time()
        scratch = metanas.adapt(metanas.supernet(task.n_classes, seed=100 + s), task,
                                cfg["budget"], seed=s)
        warm = metanas.adapt(meta, task, cfg["budget"], seed=s)
        row["scratch_curve"], row["warm_curve"] = scratch.val_acc, warm.val_acc
        row["search_cpu"] = time.process_time() - tic

        starts = {"meta": meta, "scratch": metanas.supernet(task.n_classes, seed=100 + s),
                  "uniform": w_only}
        runs = {name: metanas.adapt(start, task, steps, seed=s) for name, start in starts.items()}
        for name, run in runs.items():
            row[name] = test_acc(metanas.derive(run.model, task, ft, seed=s), task)
            row[name + "_supernet"] = test_acc(run.model, task)
        row["genotype"] = runs["meta"].model.genotype()
        best_val, row["random"] = -1.0, None
        for j in range(N_RANDOM):
            cell = darts.random_genotype(meta.n_nodes, metanas.PRIMITIVES, seed=10 * s + j)
            net = metanas.derive(meta, task, steps + ft, genotype=cell, seed=s)
            val = evaluate(net, task.tensors("val"))
            if val > best_val:
                best_val, row["random"] = val, test_acc(net, task)
        out["tasks"].append(row)
        print(f"seed {s} task {i}: meta {row['meta']:.3f} scratch {row['scratch']:.3f} "
              f"uniform {row['uniform']:.3f} random {row['random']:.3f}; warm reaches "
              f"scratch's {scratch.val_acc[-1]:.2f} at step "
              f"{metanas.steps_to_reach(warm.val_acc, scratch.val_acc[-1])}", flush=True)
    return out


def med(values, fmt=".3f") -> str:
    q50, q25, q75 = quartiles(np.asarray(values, float))
    return f"{q50:{fmt}} [{q25:{fmt}}, {q75:{fmt}}]"


def report(results: list[dict], cfg: dict, seconds: float, load: float, command: str) -> str:
    rows = [r for res in results for r in res["tasks"]]
    budget = cfg["budget"]
    reach = [metanas.steps_to_reach(r["warm_curve"], r["scratch_curve"][-1]) for r in rows]
    reach_steps = np.array([budget + 1 if k is None else k for k in reach], float)
    lines = [
        f"Command: `python benchmarks/metanas.py{command}` ({len(cfg['seeds'])} meta seeds x "
        f"{cfg['tasks']} held-out tasks {cfg['first_task']}-{cfg['first_task'] + cfg['tasks'] - 1}"
        f" = {len(rows)} runs; meta-training {cfg['iterations']} "
        f"iterations; search budget {budget} steps; adaptation {cfg['steps']} steps + "
        f"{cfg['fine_tune']} fine-tuning steps). {seconds / 60:.1f} min wall on "
        f"{machine()}, {cfg['jobs']} processes of one torch thread, load {load:.1f} at the "
        f"start; {versions(['torch', 'numpy'])}.",
        "",
        "Meta-training CPU seconds per seed: with alpha "
        + ", ".join(f"{r['meta_cpu']:.0f}" for r in results) + "; weights only "
        + ", ".join(f"{r['w_only_cpu']:.0f}" for r in results) + ".",
        "",
        "**1. Warm-started DARTS vs DARTS from scratch (query accuracy).** Median [quartiles] "
        "over tasks and seeds.",
        "",
        "| | scratch | warm start |",
        "|---|---|---|",
        f"| query accuracy after 1 step | {med([r['scratch_curve'][0] for r in rows])} | "
        f"{med([r['warm_curve'][0] for r in rows])} |",
        f"| after {budget // 3} steps | {med([r['scratch_curve'][budget // 3 - 1] for r in rows])}"
        f" | {med([r['warm_curve'][budget // 3 - 1] for r in rows])} |",
        f"| after {budget} steps | {med([r['scratch_curve'][-1] for r in rows])} | "
        f"{med([r['warm_curve'][-1] for r in rows])} |",
        "",
        f"Steps the warm start needs to reach scratch's accuracy after {budget} steps: median "
        f"{np.median(reach_steps):.0f} ({np.median(reach_steps) / budget:.2f} of the budget; "
        f"target at most 1/3; a run that never reaches it counts as {budget + 1}); per run: "
        + ", ".join("never" if k is None else str(k) for k in reach) + ".",
        "",
        f"**2. Test accuracy after {cfg['steps']} adaptation steps, the derived cell and "
        f"{cfg['fine_tune']} fine-tuning steps.**",
        "",
        "| start | median [quartiles] | mean | meta-learned (w, alpha) better in |",
        "|---|---|---|---|",
    ]
    meta = np.array([r["meta"] for r in rows])
    for key, label in [("meta", "meta-learned (w, alpha)"), ("scratch", "(a) DARTS from scratch"),
                       ("uniform", "(b) weights meta-learned with alpha fixed"),
                       ("random", f"(c) best of {N_RANDOM} random cells, meta-learned weights")]:
        acc = np.array([r[key] for r in rows])
        wins = "" if key == "meta" else (f"{int((meta > acc).sum())} of {len(rows)} runs, tied "
                                         f"{int((meta == acc).sum())}")
        lines.append(f"| {label} | {med(acc)} | {acc.mean():.3f} | {wins} |")
    lines += ["", "The supernets themselves (mixed operations, not derived), after the same "
              f"{cfg['steps']} steps: meta-learned "
              f"{med([r['meta_supernet'] for r in rows])}, scratch "
              f"{med([r['scratch_supernet'] for r in rows])}, weights only "
              f"{med([r['uniform_supernet'] for r in rows])}.", ""]
    for res in results:
        cells = [r["genotype"] for r in res["tasks"]]
        lines.append(f"**3. Derived cells, meta seed {res['seed']}:** "
                     f"{len({c.normal for c in cells})} distinct normal and "
                     f"{len({c.reduce for c in cells})} distinct reduction cells over "
                     f"{len(cells)} tasks; normal cells: "
                     + "; ".join(" ".join(f"{op}<-{i}" for op, i in c.normal) for c in cells)
                     + ".")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", nargs="+", type=int, default=None)
    parser.add_argument("--tasks", type=int, default=None, help="held-out tasks (default 6)")
    parser.add_argument("--first-task", dest="first_task", type=int, default=None,
                        help="seed of the first held-out task (default 2000)")
    parser.add_argument("--jobs", type=int, default=None, help="processes (default 3)")
    parser.add_argument("--quick", action="store_true", help="tiny settings, a smoke test")
    parser.add_argument("--out", default="benchmarks/RESULTS.md", help='"" prints only')
    args = parser.parse_args(argv)
    cfg = settings(args, FULL, QUICK, ("seeds", "tasks", "first_task", "jobs"))
    load, start = os.getloadavg()[0], time.perf_counter()
    jobs = [(s, cfg) for s in cfg["seeds"]]
    if cfg["jobs"] > 1:
        with get_context("spawn").Pool(cfg["jobs"]) as pool:
            results = pool.map(run_seed, jobs, chunksize=1)
    else:
        results = [run_seed(job) for job in jobs]
    command = "".join(f" {a}" for a in (sys.argv[1:] if argv is None else argv)
                      if a != args.out and not a.startswith("--out"))
    body = report(results, cfg, time.perf_counter() - start, load, command)
    print(body)
    if args.out:
        write_section(Path(args.out), SECTION, body)


if __name__ == "__main__":
    main()
