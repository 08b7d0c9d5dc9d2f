"""The `dune_emulator` fixture for the tests of this folder."""

from wallet_pipeline_tests.dune_emulator.fixture import dune_emulator

__all__ = ["dune_emulator"]
