"""The container image, as far as it can be checked without a Docker engine.

The Dockerfile is read as data (its stages, ARGs, COPY sources, user); the build
context is computed from ``.dockerignore`` with Docker's matching rules; the entrypoint
script is run with bash and with the system's sh against stand-ins for ``edgewatch``
and ``ig`` that report how they were called.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from edgewatch.deploy.k8s.agentconfig import CONFIG_PATH, DEFAULT_PORT, Mode
from edgewatch.deploy.k8s.generate import generate
from edgewatch.sources.ig.version import LATEST_KNOWN

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"
ENTRYPOINT = ROOT / "docker" / "entrypoint.sh"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        word, _, rest = line.partition(" ")
        out.append((word.upper(), rest.strip()))
    return out


def stages() -> list[list[tuple[str, str]]]:
    result: list[list[tuple[str, str]]] = []
    for ins in instructions():
        if ins[0] == "FROM":
            result.append([])
        if result:
            result[-1].append(ins)
    return result


def arg_defaults() -> dict[str, str]:
    out = {}
    for word, rest in instructions():
        if word == "ARG" and "=" in rest:
            name, _, value = rest.partition("=")
            out[name] = value
    return out


def ignore_patterns() -> list[re.Pattern[str]]:
    """``.dockerignore`` lines as regexes (Go filepath.Match plus ``**``)."""
    out = []
    for raw in (ROOT / ".dockerignore").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        assert not line.startswith("!"), "exceptions are not modelled here"
        rx = ""
        i = 0
        while i < len(line):
            if line.startswith("**/", i):
                rx += "(?:.*/)?"
                i += 3
            elif line.startswith("**", i):
                rx += ".*"
                i += 2
            elif line[i] == "*":
                rx += "[^/]*"
                i += 1
            elif line[i] == "?":
                rx += "[^/]"
                i += 1
            else:
                rx += re.escape(line[i])
                i += 1
        out.append(re.compile(rx.strip("/") + "$"))
    return out


def ignored(path: str) -> bool:
    """A path leaves the context when it, or a directory above it, matches a pattern."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    return any(p.match(prefix) for p in ignore_patterns() for prefix in prefixes)


def test_ig_comes_from_the_official_image_at_the_version_the_code_expects() -> None:
    args = arg_defaults()
    assert args["IG_VERSION"] == LATEST_KNOWN.tag
    froms = [rest for word, rest in instructions() if word == "FROM"]
    assert "ghcr.io/inspektor-gadget/ig:${IG_VERSION} AS ig" in froms
    copies = [rest for word, rest in instructions() if word == "COPY"]
    assert "--from=ig /usr/bin/ig /usr/local/bin/ig" in copies
    # gadgetctl of the same release, for ig daemon mode
    assert any(
        "releases/download/${IG_VERSION}/gadgetctl-linux-" in rest
        for word, rest in instructions()
        if word == "RUN"
    )


def test_multi_stage_slim_and_non_root_by_default() -> None:
    all_stages = stages()
    assert len(all_stages) >= 3
    final = all_stages[-1]
    base = final[0][1]
    args = arg_defaults()
    base = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], base)
    assert re.fullmatch(r"python:3\.1[1-9]-slim(-\w+)?", base), base
    users = [rest for word, rest in final if word == "USER"]
    assert users, "the final stage must set a user"
    uid = users[-1].split(":")[0]
    assert uid not in ("0", "root")
    # the build tools stay in the build stages
    installs = " ".join(rest for word, rest in final if word == "RUN")
    assert "curl" not in installs and "gcc" not in installs


def test_every_copied_file_exists_and_is_in_the_build_context() -> None:
    sources = []
    for word, rest in instructions():
        if word != "COPY" or "--from=" in rest:
            continue
        sources += [s for s in rest.split()[:-1] if not s.startswith("--")]
    assert {"pyproject.toml", "README.md", "src", "docker/entrypoint.sh"} <= set(sources)
    for src in sources:
        assert (ROOT / src).exists(), src
        assert not ignored(src), f"{src} is excluded by .dockerignore"
    assert os.access(ENTRYPOINT, os.X_OK)
    # the package data the agent loads at run time is in the context
    for data in ("src/edgewatch/data/demo.yaml", "src/edgewatch/hunt/queries"):
        assert (ROOT / data).exists() and not ignored(data)


@pytest.mark.parametrize(
    "path",
    [
        ".venv/bin/python",
        ".git/HEAD",
        "tests/test_cli.py",
        "bench/.cache/capture.ndjson",
        "src/edgewatch/__pycache__/cli.cpython-311.pyc",
        ".pytest_cache/v/cache/lastfailed",
        ".ruff_cache/0.17.6/x",
        ".hypothesis/examples/x",
        "src/edgewatch.egg-info/PKG-INFO",
        "store.duckdb",
    ],
)
def test_dockerignore_keeps_local_state_out(path: str) -> None:
    assert ignored(path)


def test_image_defaults_match_what_the_manifests_use() -> None:
    final = stages()[-1]
    cmd = json.loads(next(rest for word, rest in final if word == "CMD"))
    assert cmd == ["run", "--config", CONFIG_PATH]
    entry = json.loads(next(rest for word, rest in final if word == "ENTRYPOINT"))
    assert entry == ["/usr/bin/tini", "--", "/usr/local/bin/edgewatch-entrypoint"]
    assert ("EXPOSE", str(DEFAULT_PORT)) in final
    env = " ".join(rest for word, rest in final if word == "ENV")
    assert "HOST_ROOT=/host" in env


# -- the entrypoint script ------------------------------------------------------------


@pytest.fixture
def fake_bin(tmp_path: Path) -> Path:
    """``edgewatch`` and ``ig`` that print their name, argv and pid as JSON."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("edgewatch", "ig"):
        tool = bin_dir / name
        tool.write_text(
            "#!/usr/bin/env python3\n"
            "import json, os, sys\n"
            f"print(json.dumps({{'tool': {name!r}, 'argv': sys.argv[1:], 'pid': os.getpid(),"
            " 'env': {k: v for k, v in os.environ.items() if k.startswith('EDGEWATCH')}}))\n"
        )
        tool.chmod(0o755)
    return bin_dir


def entry(
    fake_bin: Path, *args: str, shell: str = "bash", **env: str
) -> tuple[dict[str, object], int, str]:
    base = {"PATH": f"{fake_bin}:/usr/bin:/bin", "HOME": str(fake_bin)}
    proc = subprocess.Popen(
        [shell, str(ENTRYPOINT), *args],
        env={**base, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    return json.loads(out), proc.pid, err


@pytest.mark.parametrize("shell", ["bash", "sh"])
def test_entrypoint_runs_the_agent_by_default_and_execs(fake_bin: Path, shell: str) -> None:
    if shutil.which(shell) is None:
        pytest.skip(f"no {shell}")
    got, pid, _ = entry(fake_bin, shell=shell)
    assert got["tool"] == "edgewatch"
    assert got["argv"] == ["run", "--config", "/etc/edgewatch/agent.yaml"]
    assert got["pid"] == pid, "the agent must replace the script (exec) to get SIGTERM"

    got, _, _ = entry(fake_bin, shell=shell, EDGEWATCH_CONFIG="/cfg/other.yaml")
    assert got["argv"] == ["run", "--config", "/cfg/other.yaml"]


def test_entrypoint_passes_the_daemonsets_args_to_edgewatch(fake_bin: Path) -> None:
    bundle = generate(Mode.agent)
    (ds,) = [m for m in bundle.manifests if m["kind"] == "DaemonSet"]
    args = ds["spec"]["template"]["spec"]["containers"][0]["args"]
    got, _, _ = entry(fake_bin, *args, HOST_ROOT="/")
    assert got["tool"] == "edgewatch"
    assert got["argv"] == args


def test_entrypoint_runs_subcommands_and_the_ig_tools(fake_bin: Path) -> None:
    got, _, _ = entry(fake_bin, "hunt", "--list")
    assert (got["tool"], got["argv"]) == ("edgewatch", ["hunt", "--list"])
    got, _, _ = entry(fake_bin, "--help")
    assert (got["tool"], got["argv"]) == ("edgewatch", ["--help"])
    got, _, _ = entry(fake_bin, "ig", "version")
    assert (got["tool"], got["argv"]) == ("ig", ["version"])


def test_entrypoint_log_level_and_host_root_warning(fake_bin: Path, tmp_path: Path) -> None:
    got, _, err = entry(fake_bin, "run", "-c", "/x.yaml", EDGEWATCH_LOG_LEVEL="debug")
    assert got["argv"] == ["run", "--log-level", "debug", "-c", "/x.yaml"]
    assert err == ""

    empty = tmp_path / "not-the-host"
    empty.mkdir()
    got, _, err = entry(fake_bin, "run", HOST_ROOT=str(empty))
    assert got["argv"] == ["run"]  # a warning, not a refusal
    assert f"HOST_ROOT={empty} does not hold the host's /proc" in err
    _, _, err = entry(fake_bin, "run", HOST_ROOT="/")
    assert err == ""
