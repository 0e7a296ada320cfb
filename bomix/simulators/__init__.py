"""Simulators shipped as package data (the repository keeps them in simulator/; see bomix.paths)."""
