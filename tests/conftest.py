"""Shared pytest setup. Fixture modules register themselves in ``pytest_plugins``."""

pytest_plugins: list[str] = [
    "tests.fixtures_uicc",
    "tests.fixtures_db",
    "tests.fixtures_attestation",
    "tests.fixtures_modem",
    "tests.fixtures_pcsc",
    "tests.fixtures_browser",
    "tests.fixtures_live",
    "tests.fixtures_ims",
]
