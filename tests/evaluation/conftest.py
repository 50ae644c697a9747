from tests.training.conftest import tiny_fleet  # noqa: F401  (the compare test trains on it)
