"""Identifiers that look like the ones Kubernetes, containerd and the kernel hand out.

Every helper takes the simulation's ``random.Random`` so a seed fixes every name, id
and number in the output. Realistic shapes matter because downstream code parses them:
pod names are split on ``-`` to find the owner, container ids are 64 hex digits, and
hunting queries group by image digest.
"""

from __future__ import annotations

import random

#: The alphabet Kubernetes uses for generated name suffixes and hashes
#: (``k8s.io/apimachinery/pkg/util/rand.SafeEncodeString``: no vowels, no 0/1/3).
K8S_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"

_HEX = "0123456789abcdef"


def k8s_suffix(rng: random.Random, length: int = 5) -> str:
    """The random tail of a generated name (``api-5c8f9d7b4-q7lmn`` -> ``q7lmn``)."""
    return "".join(rng.choice(K8S_ALPHABET) for _ in range(length))


def template_hash(rng: random.Random) -> str:
    """A ``pod-template-hash`` / ``controller-revision-hash``: an encoded uint32.

    Kubernetes encodes the decimal digits of a 32-bit hash, so the value has 9 or 10
    characters (a 10-digit number is the common case).
    """
    return k8s_suffix(rng, 10 if rng.random() < 0.8 else 9)


def hex_id(rng: random.Random, length: int = 64) -> str:
    """Lowercase hex, e.g. a containerd container id or the hex part of an image digest."""
    return "".join(rng.choice(_HEX) for _ in range(length))


def digest(rng: random.Random) -> str:
    return "sha256:" + hex_id(rng)


def uuid4(rng: random.Random) -> str:
    """A version-4 UUID in canonical form (Job ``controller-uid`` labels)."""
    h = hex_id(rng, 32)
    variant = "89ab"[rng.randrange(4)]
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{variant}{h[17:20]}-{h[20:32]}"


def dns_id(rng: random.Random) -> str:
    """A DNS transaction id as IG prints it: four lowercase hex digits."""
    return f"{rng.getrandbits(16):04x}"


def ephemeral_port(rng: random.Random) -> int:
    """A source port from Linux's default ``ip_local_port_range`` (32768-60999)."""
    return rng.randint(32768, 60999)


class SimRandom(random.Random):
    """``random.Random`` with cheap integer draws.

    The stdlib's ``randint``/``randrange`` cost about a microsecond each in argument
    checks and rejection sampling, which dominated generation time. Scaling one
    ``random()`` float is deterministic, fast, and unbiased enough for traffic.
    """

    def randint(self, a: int, b: int) -> int:
        return a + int(self.random() * (b - a + 1))

    def randrange(self, start: int, stop: int | None = None, step: int = 1) -> int:  # type: ignore[override]
        if step != 1:
            return super().randrange(start, stop, step)
        if stop is None:
            return int(self.random() * start)
        return start + int(self.random() * (stop - start))

    def _randbelow(self, n: int) -> int:  # type: ignore[override]
        return int(self.random() * n)
