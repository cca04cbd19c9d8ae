"""The workload that owns a pod (Deployment, DaemonSet, StatefulSet, Job …), from its name.

IG fills ``k8s.owner`` only when it can ask the API server; on an edge node it usually
cannot. Kubernetes' controllers name pods predictably, and stamp tell-tale labels:

* Deployment: ``<deployment>-<pod-template-hash>-<5 chars>``, label ``pod-template-hash``
* DaemonSet: ``<daemonset>-<5 chars>``, labels ``controller-revision-hash`` and
  ``pod-template-generation``
* StatefulSet: ``<statefulset>-<ordinal>``, labels ``controller-revision-hash`` and
  ``statefulset.kubernetes.io/pod-name``
* Job: ``<job>-<5 chars>``, label ``job-name`` (a CronJob's jobs are ``<cronjob>-<minutes>``)
* a static pod (kube-apiserver, etcd …): ``<name>-<node name>``

Labels decide when IG printed them; otherwise the name's shape does, using the alphabet
Kubernetes draws its random suffixes from (no vowels, no 0/1/3, so no words). A name that
fits no pattern gets no owner rather than a guess.
"""

from __future__ import annotations

import re
from functools import lru_cache

_SAFE = "[bcdfghjklmnpqrstvwxz2456789]"
_DEPLOYMENT = re.compile(rf"^(?P<name>.+)-(?P<hash>{_SAFE}{{6,10}})-{_SAFE}{{5}}$")
_RANDOM_SUFFIX = re.compile(rf"^(?P<name>.+)-{_SAFE}{{5}}$")
_ORDINAL = re.compile(r"^(?P<name>.+)-(?P<ordinal>\d+)$")
_CRON_JOB = re.compile(r"^(?P<name>.+)-\d{8,}$")


def _labels(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in text.split(","):
        key, sep, value = item.partition("=")
        if sep:
            out[key.strip()] = value.strip()
    return out


@lru_cache(maxsize=16_384)
def owner_of(pod: str, pod_labels: str = "", node: str = "") -> tuple[str, str]:
    """(kind, name) of the workload that created ``pod``; ("", "") when unknown."""
    if not pod:
        return "", ""
    labels = _labels(pod_labels) if pod_labels else {}
    if "pod-template-hash" in labels:
        rs_hash = labels["pod-template-hash"]
        m = _DEPLOYMENT.match(pod)
        if m and m.group("hash") == rs_hash:
            return "Deployment", m.group("name")
        prefix, sep, _ = pod.rpartition(f"-{rs_hash}-")
        if sep:
            return "Deployment", prefix
    if "job-name" in labels:
        job = labels["job-name"]
        cron = _CRON_JOB.match(job)
        return ("CronJob", cron.group("name")) if cron else ("Job", job)
    if "statefulset.kubernetes.io/pod-name" in labels:
        m = _ORDINAL.match(pod)
        if m:
            return "StatefulSet", m.group("name")
    if "pod-template-generation" in labels:
        m = _RANDOM_SUFFIX.match(pod)
        if m:
            return "DaemonSet", m.group("name")
    if "controller-revision-hash" in labels:
        m = _ORDINAL.match(pod)
        if m:
            return "StatefulSet", m.group("name")
        m = _RANDOM_SUFFIX.match(pod)
        if m:
            return "DaemonSet", m.group("name")
    if node and pod.endswith(f"-{node}") and len(pod) > len(node) + 1:
        return "Node", node
    if labels:
        return "", ""  # labels without a controller's marks: a bare pod
    m = _DEPLOYMENT.match(pod)
    if m:
        return "Deployment", m.group("name")
    m = _ORDINAL.match(pod)
    if m:
        return "StatefulSet", m.group("name")
    m = _RANDOM_SUFFIX.match(pod)
    if m:
        return "DaemonSet", m.group("name")
    return "", ""
