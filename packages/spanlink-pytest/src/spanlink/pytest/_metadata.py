"""Run metadata: git commit/branch/dirty, the pytest command line, the CI provider."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["ci_metadata", "git_metadata", "run_metadata"]

#: The most any git command may take: metadata never holds up a session for long.
GIT_TIMEOUT_S = 2.0

# CI providers: the variable that identifies each, then the variables worth keeping.
_CI_PROVIDERS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    (
        "github-actions",
        "GITHUB_ACTIONS",
        (
            "GITHUB_REPOSITORY",
            "GITHUB_RUN_ID",
            "GITHUB_RUN_ATTEMPT",
            "GITHUB_WORKFLOW",
            "GITHUB_JOB",
            "GITHUB_REF",
            "GITHUB_SHA",
            "GITHUB_HEAD_REF",
            "GITHUB_EVENT_NAME",
            "GITHUB_SERVER_URL",
        ),
    ),
    (
        "gitlab-ci",
        "GITLAB_CI",
        (
            "CI_PROJECT_PATH",
            "CI_PIPELINE_ID",
            "CI_PIPELINE_URL",
            "CI_JOB_ID",
            "CI_JOB_URL",
            "CI_COMMIT_SHA",
            "CI_COMMIT_REF_NAME",
            "CI_MERGE_REQUEST_IID",
        ),
    ),
    ("circleci", "CIRCLECI", ("CIRCLE_PROJECT_REPONAME", "CIRCLE_BUILD_URL", "CIRCLE_SHA1")),
    ("buildkite", "BUILDKITE", ("BUILDKITE_BUILD_URL", "BUILDKITE_COMMIT", "BUILDKITE_BRANCH")),
    ("jenkins", "JENKINS_URL", ("BUILD_URL", "JOB_NAME", "BUILD_NUMBER", "GIT_COMMIT")),
    ("azure-pipelines", "TF_BUILD", ("BUILD_BUILDID", "BUILD_SOURCEVERSION")),
)


def _git(args: Sequence[str], cwd: Path) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def git_metadata(cwd: Path) -> dict[str, Any]:
    """``{"commit", "branch", "dirty"}`` of the repository at ``cwd`` ({} outside one)."""
    commit = _git(["rev-parse", "HEAD"], cwd)
    if commit is None:
        return {}
    branch = _git(["rev-parse", "--abbrev-ref", "HEAD"], cwd)
    status = _git(["status", "--porcelain", "--untracked-files=no"], cwd)
    return {
        "commit": commit,
        "branch": branch if branch and branch != "HEAD" else None,
        "dirty": bool(status) if status is not None else None,
    }


def ci_metadata(environ: Mapping[str, str]) -> dict[str, Any]:
    """The CI provider and its identifying variables ({} when not on CI)."""
    for provider, marker, names in _CI_PROVIDERS:
        if environ.get(marker):
            return {
                "provider": provider,
                "variables": {name: environ[name] for name in names if environ.get(name)},
            }
    if environ.get("CI"):
        return {"provider": "unknown", "variables": {}}
    return {}


def run_metadata(args: Sequence[str], rootdir: Path) -> dict[str, Any]:
    """Everything recorded on the run."""
    metadata: dict[str, Any] = {
        "command": ["pytest", *args],
        "rootdir": str(rootdir),
        "python": platform.python_version(),
        "platform": sys.platform,
    }
    git = git_metadata(rootdir)
    if git:
        metadata["git"] = git
    ci = ci_metadata(os.environ)
    if ci:
        metadata["ci"] = ci
    return metadata
