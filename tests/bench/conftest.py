"""Fixtures for the bench tests (builders live in bench_fixtures.py, importable by the tests)."""

from bench_fixtures import hand_dir  # noqa: F401
