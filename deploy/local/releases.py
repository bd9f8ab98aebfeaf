"""Installed releases of the control plane, side by side: one source tree and one venv per git revision.

A release is installed from `git archive`, not from the working tree, so what runs is exactly what was
committed; `export-subst` writes the commit into keptn_temporal/REVISION, and the build id the workers
register with Temporal is derived from it (`<version>+<revision>`). The working tree's own venv can stand in
as a release too (`Release.current`), for tests of the stack that need only one version.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Release:
    label: str
    revision: str  # full commit id, or "working-tree"
    venv: Path
    build_id: str

    @property
    def cli(self) -> Path:
        return self.venv / "bin" / "keptn-temporal"

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    @classmethod
    def current(cls, label: str = "current") -> Release:
        venv = Path(sys.executable).parent.parent
        return cls(label, "working-tree", venv, _build_id(venv / "bin" / "python"))


def clean_environ() -> dict[str, str]:
    """This process's environment without what would make a release import another release's code."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


def _build_id(python: Path) -> str:
    out = subprocess.run(
        [str(python), "-c", "from keptn_temporal.versioning import build_id; print(build_id())"],
        # Not from the repository root: `python -c` puts the working directory first on sys.path, and the
        # checkout's packages would shadow the release's.
        cwd=python.parent,
        check=True,
        capture_output=True,
        text=True,
        env={k: v for k, v in clean_environ().items() if k != "TEMPORAL_WORKER_BUILD_ID"},
    )
    return out.stdout.strip()


def install(repo: Path, revision: str, into: Path, label: str) -> Release:
    """Install `revision` of `repo` under `into/<commit>`; an existing complete install is reused."""
    commit = _git(repo, "rev-parse", "--verify", f"{revision}^{{commit}}")
    home = into.resolve() / commit[:12]
    venv = home / "venv"
    marker = home / ".installed"
    if not marker.exists():
        shutil.rmtree(home, ignore_errors=True)
        src = home / "src"
        src.mkdir(parents=True)
        with tempfile.TemporaryFile() as archive:
            subprocess.run(
                ["git", "-C", str(repo), "archive", "--format=tar", commit], check=True, stdout=archive
            )
            archive.seek(0)
            subprocess.run(["tar", "-x", "-C", str(src)], check=True, stdin=archive)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        # Non-editable: the venv must not depend on the source tree staying where it is.
        with (home / "pip.log").open("wb") as pip_log:
            subprocess.run(
                [str(venv / "bin/python"), "-m", "pip", "install", "--disable-pip-version-check", str(src)],
                check=True,
                stdout=pip_log,
                stderr=subprocess.STDOUT,
            )
        marker.write_text(commit + "\n")
    return Release(label, commit, venv, _build_id(venv / "bin/python"))
