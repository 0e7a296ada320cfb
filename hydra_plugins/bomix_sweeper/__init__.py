"""``hydra/sweeper=bomix``: bomix chooses each job's mixture and fidelity overrides (see README)."""
