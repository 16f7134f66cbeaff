"""Neural architecture search with PyTorch, small enough for a CPU.

- :mod:`minnas.nas.ops` -- candidate operations of the search spaces and the MBConv block.
- :mod:`minnas.nas.darts` -- DARTS: continuous relaxation and bilevel optimisation.
- :mod:`minnas.nas.latency` -- latency on this CPU: measurements, lookup tables, fidelity.
- :mod:`minnas.nas.fbnet` -- FBNet: Gumbel-softmax supernet with a latency-aware loss.
- :mod:`minnas.nas.mnasnet` -- MnasNet: factorised space, REINFORCE controller, latency reward.
- :mod:`minnas.nas.ofa` -- Once-for-All: elastic supernet, progressive shrinking.
- :mod:`minnas.nas.ofa_search` -- Once-for-All: accuracy predictor, search under constraints.
- :mod:`minnas.nas.metanas` -- MetaNAS: Reptile over DARTS tasks, warm-started DARTS.
- :mod:`minnas.nas.pretrained` -- the trained supernets of lessons 10 (OFA) and 11 (MetaNAS).
"""
