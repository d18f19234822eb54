"""Running the Makefile's targets as a user types them, with the environment running the tests."""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import signal
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
#: The virtual environment this test run's Python belongs to.
VENV = Path(sys.prefix)


def make(target: str, *assignments: str, timeout: float) -> subprocess.CompletedProcess[str]:
    """``make TARGET NAME=VALUE...`` in the repository, its ``.venv`` being this environment.

    The tests' own environment, so that what a test's markers say is installed is what the
    target runs with. The target's prerequisite, the environment's stamp (named by a hash of
    pyproject.toml and a constraints file), is named and taken as made: make would otherwise
    delete and rebuild the environment the tests run in whenever the hash differs.
    """
    stamp = VENV / "pyvenv.cfg"
    command = [
        *["make", "--no-print-directory", target, *assignments],
        *[f"VENV={VENV}", f"STAMP={stamp}", f"--assume-old={stamp}"],
    ]
    with subprocess.Popen(
        command,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    ) as process:
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            # Ctrl-C, as a user would stop it: the target stops the servers it started in
            # sessions of their own, which killing its processes would leave running.
            os.killpg(process.pid, signal.SIGINT)
            try:
                process.communicate(timeout=60)
            finally:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
            raise
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


def shown(done: subprocess.CompletedProcess[str]) -> str:
    """The command and the end of its output, for an assertion's message."""
    output = done.stdout + done.stderr
    return f"{shlex.join(done.args)} exited {done.returncode}:\n{output[-4000:]}"


def recipe_status(done: subprocess.CompletedProcess[str], target: str) -> int | None:
    """The exit status make reports for ``target``'s failed recipe; ``None`` if none failed."""
    found = re.search(rf"\[Makefile:\d+: {re.escape(target)}\] Error (\d+)", done.stderr)
    return int(found.group(1)) if found else None
