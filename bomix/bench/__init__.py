"""``bomix bench``: aggregate campaign directories into regret-vs-cost curves, cost to reach
regret <= eps, speedups between policies, tables and plots (see :mod:`bomix.bench.aggregate`)."""
