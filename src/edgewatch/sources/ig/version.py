"""Which IG we are talking to, and which of its features that allows.

IG's CLI grew the features the supervisor relies on release by release (in-kernel K8s
selectors in v0.45.0, lists and ``!`` exclusion in v0.48.0, the logs operator that
makes ``ig daemon`` usable as a single event source in v0.51.0). The supervisor asks
``ig version`` once and gates each feature on the answer, so one edgewatch build can
drive the IG a node already has instead of demanding an upgrade.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Mapping
from typing import NamedTuple

from edgewatch.sources.ig.tool import run_tool

log = logging.getLogger("edgewatch.ig")


class IgVersion(NamedTuple):
    major: int
    minor: int
    patch: int

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}"

    @property
    def tag(self) -> str:
        """The tag IG publishes its release and its gadget images under (``v0.55.1``)."""
        return f"v{self}"


#: The newest release this code was checked against. An IG whose version cannot be
#: read is assumed to be at least this new: a dev build is far more likely than an old
#: release that prints garbage, and a wrong guess only costs an IG error we restart on.
LATEST_KNOWN = IgVersion(0, 55, 1)

#: ``--k8s-namespace``/``--k8s-podname``/``--k8s-containername``/``--k8s-selector`` on
#: ``ig run`` (LocalManager), one value each (PR #4697, commit a345ae8c2).
K8S_SELECTORS = IgVersion(0, 45, 0)
#: Comma lists and ``!`` exclusion in those flags (commit 1e0005552).
SELECTOR_LISTS = IgVersion(0, 48, 0)
#: The logs operator: ``ig daemon`` prints events of headless instances (commit 33446d87c).
LOGS_OPERATOR = IgVersion(0, 51, 0)
#: ``ig daemon`` refuses to listen without TLS unless given ``--tls-insecure`` (commit
#: 3141cd523). Its check exempts addresses starting with "unix", but compares the bare
#: socket path, so a unix socket needs the flag too (docs/reference/ig.md passes it).
TLS_INSECURE = IgVersion(0, 53, 0)

# IG prints "v%s\n" of its semver (cmd/common/version.go); a build from a git checkout
# may append "-<n>-g<sha>" or "+dirty". The first x.y.z is what we want.
_VERSION_RE = re.compile(r"\bv?(\d+)\.(\d+)\.(\d+)")


def parse_version(text: str) -> IgVersion | None:
    """The version in ``ig version`` output, or None when there is none to trust.

    ``v0.0.0`` is what IG prints when it was built without version ldflags (a dev
    build), so it says nothing about features and counts as unknown.
    """
    match = _VERSION_RE.search(text)
    if match is None:
        return None
    found = IgVersion(int(match[1]), int(match[2]), int(match[3]))
    if found == IgVersion(0, 0, 0):
        return None
    return found


def effective(version: IgVersion | None) -> IgVersion:
    """The version to gate features on: unknown means :data:`LATEST_KNOWN`."""
    return LATEST_KNOWN if version is None else version


def detect_version(
    binary: str,
    env: Mapping[str, str] | None = None,
    *,
    timeout: float = 10.0,
    stop: threading.Event | None = None,
) -> IgVersion | None:
    """Run ``<binary> version``; None (with a warning) when that fails or says nothing.

    The caller decides what unknown means (see :func:`effective`); this function never
    raises, because a missing or broken ``ig`` is reported again, with its own error,
    when the supervisor tries to start it.
    """
    done = run_tool([binary, "version"], env=env, timeout=timeout, stop=stop)
    if done.returncode is None and done.error == "stopped":
        return None
    version = parse_version(done.stdout) if done.ok else None
    if version is None:
        log.warning(
            "could not read the IG version from '%s version' (%s; output %r); "
            "assuming IG %s features",
            binary,
            done.describe() if not done.ok else "exit code 0",
            done.stdout.strip()[:200],
            LATEST_KNOWN,
        )
    return version
