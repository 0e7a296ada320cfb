"""Acquisition functions and their optimiser over the (bounded) simplex x a discrete fidelity grid."""
