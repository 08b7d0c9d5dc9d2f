#!/usr/bin/env python3
"""Bootstrap and run wallet_pipeline with nothing but Python 3.11+ and pip.

    python3 dev.py pipeline   materialize the whole asset graph on the embedded simulator
    python3 dev.py test       run the test suite (extra arguments go to pytest)
    python3 dev.py ui         start the Dagster UI on http://127.0.0.1:3000
    python3 dev.py mlflow     start the MLflow UI on http://127.0.0.1:5000 (model runs and registry)
    python3 dev.py persona 0x...   persona of a wallet, scored with the promoted model
    python3 dev.py wallet 0x...    a wallet's risk and why, its cluster and the evidence for it
    python3 dev.py cluster c_0x... a cluster's risk, members and links (--export csv|json|graphml)
    python3 dev.py flag add c_0x... --reason scam_ring --note ... --by me   analysts' flags (add|list|remove)
    python3 dev.py api        investigator page and API on http://127.0.0.1:8800 (reads the snapshot)
    python3 dev.py lint       ruff check and format check

The first call installs uv (pinned) into .tools/uv, then the locked dependencies into .venv.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
UV_VERSION = "0.13.9"
_BIN = "Scripts" if os.name == "nt" else "bin"


def _uv() -> str:
    """A uv executable: the pinned one in .tools/uv, installed there with pip on first use."""
    tool_env = ROOT / ".tools" / "uv"
    uv = tool_env / _BIN / ("uv.exe" if os.name == "nt" else "uv")
    if uv.exists():
        return str(uv)
    if shutil.which("uv") and os.environ.get("WALLET_USE_SYSTEM_UV"):
        return "uv"
    print(f"Installing uv {UV_VERSION} into {tool_env} ...", flush=True)
    venv.EnvBuilder(with_pip=True, clear=True).create(tool_env)
    subprocess.run(
        [str(tool_env / _BIN / "python"), "-m", "pip", "install", "--quiet", f"uv=={UV_VERSION}"],
        check=True,
    )
    return str(uv)


def _sync(uv: str, *extras: str) -> None:
    # --frozen: install exactly what uv.lock says, never re-resolve on a user's machine.
    # --inexact: an extra installed by an earlier command (the tests' Spark engine) stays installed.
    flags = [arg for extra in extras for arg in ("--extra", extra)]
    subprocess.run([uv, "sync", "--frozen", "--inexact", "--quiet", *flags], cwd=ROOT, check=True)


def _run(uv: str, *argv: str, here: bool = False) -> int:
    """Run `argv` in the project's environment; `here`: in the caller's folder, not the repository's.

    The pipeline's commands take paths (--csv, --files-dir, --out) that mean the caller's folder;
    `--project` still picks this repository's environment from anywhere.
    """
    cwd = None if here else ROOT
    return subprocess.run(
        [uv, "run", "--project", str(ROOT), "--frozen", "--no-sync", *argv], cwd=cwd
    ).returncode


def main(argv: list[str]) -> int:
    """Dispatch a dev.py command."""
    if not argv or argv[0] in {"-h", "--help", "help"}:
        print(__doc__)
        return 0
    if sys.version_info < (3, 11):  # noqa: UP036 - dev.py runs on whatever python3 the user has
        print(f"wallet_pipeline needs Python 3.11 or newer; this is {sys.version.split()[0]}.")
        return 2
    command, rest = argv[0], argv[1:]
    commands = {
        "pipeline": ("wallet-pipeline", "materialize", *rest),
        "test": ("pytest", *rest),
        "ui": ("wallet-pipeline", "ui", *rest),
        "mlflow": ("wallet-pipeline", "mlflow-ui", *rest),
        "persona": ("wallet-pipeline", "persona", *rest),
        "wallet": ("wallet-pipeline", "wallet", *rest),
        "cluster": ("wallet-pipeline", "cluster", *rest),
        "flag": ("wallet-pipeline", "flag", *rest),
        "api": ("wallet-pipeline", "api", *rest),
        "lint": ("ruff", "check", "."),
    }
    if command not in commands:
        print(f"unknown command {command!r}; expected one of {', '.join(commands)}")
        return 2
    uv = _uv()
    # The tests run both engines; the other commands need the Spark extra only when WALLET_ENGINE asks for it.
    spark = command == "test" or os.environ.get("WALLET_ENGINE", "").strip().lower() == "spark"
    _sync(uv, *(("spark",) if spark else ()))
    code = _run(uv, *commands[command], here=commands[command][0] == "wallet-pipeline")
    if command == "lint" and code == 0:
        code = _run(uv, "ruff", "format", "--check", ".")
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
