"""Helpers shared by the tests (imported explicitly; ``conftest.py`` only defines fixtures)."""
