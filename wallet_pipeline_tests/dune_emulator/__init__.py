"""A local Dune Analytics API for tests: real HTTP, the seeded simulator's data, injectable faults.

Run it with `python -m wallet_pipeline_tests.dune_emulator --port 0 --api-key KEY`, or from a test
with `start_emulator()` (a context manager) or the module-scoped `dune_emulator` pytest fixture.
"""

from wallet_pipeline_tests.dune_emulator.fixture import (
    DEFAULT_API_KEY,
    DuneEmulator,
    EmulatorError,
    dune_emulator,
    start_emulator,
)

__all__ = ["DEFAULT_API_KEY", "DuneEmulator", "EmulatorError", "dune_emulator", "start_emulator"]
