"""``bomix bench``: aggregate campaign directories into regret-vs-cost curves, cost to reach
regret <= eps, speedups between policies, tables and plots (:mod:`bomix.bench.loading`, :mod:`bomix.bench.curves`,
:mod:`bomix.bench.reach`, :mod:`bomix.bench.tables`; the public names in :mod:`bomix.bench.aggregate`)."""
