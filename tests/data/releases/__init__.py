"""Release fixtures for the upgrade test (README.md); their keys in ``fixture_keys``."""
