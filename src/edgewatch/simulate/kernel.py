"""Kernel constants the gadgets print: errno, x86-64 syscall, capability, signal, open flags.

IG prints both the number (``*_raw``) and the name, and consumers key on either, so
the two must agree. These tables are the single place the simulator takes them from.
Only the values the simulator emits are listed.
"""

from __future__ import annotations

from collections.abc import Iterable

ERRNO: dict[str, int] = {
    "": 0,
    "EPERM": 1,
    "ENOENT": 2,
    "ESRCH": 3,
    "EACCES": 13,
    "EADDRINUSE": 98,
    "ENETUNREACH": 101,
    "ETIMEDOUT": 110,
    "ECONNREFUSED": 111,
    "EHOSTUNREACH": 113,
}

#: x86-64 syscall numbers (``arch/x86/entry/syscalls/syscall_64.tbl``).
SYSCALLS: dict[str, int] = {
    "socket": 41,
    "bind": 49,
    "setsockopt": 54,
    "kill": 62,
    "mkdir": 83,
    "ptrace": 101,
    "setuid": 105,
    "setgid": 106,
    "personality": 135,
    "setpriority": 141,
    "chroot": 161,
    "mount": 165,
    "sched_setaffinity": 203,
    "mbind": 237,
    "add_key": 248,
    "keyctl": 250,
    "openat": 257,
    "fchownat": 260,
    "unshare": 272,
    "perf_event_open": 298,
    "setns": 308,
    "process_vm_readv": 310,
    "finit_module": 313,
    "bpf": 321,
    "userfaultfd": 323,
    "membarrier": 324,
    "statx": 332,
    "io_uring_setup": 425,
    "clone3": 435,
}


def syscall(name: str) -> tuple[str, int]:
    """IG's ``syscall`` / ``syscall_raw`` pair: ``("SYS_MKDIR", 83)``."""
    return "SYS_" + name.upper(), SYSCALLS[name]


#: Linux capabilities in bit order (``include/uapi/linux/capability.h``).
CAPABILITIES: tuple[str, ...] = (
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
)
CAP_NUMBER = {name: i for i, name in enumerate(CAPABILITIES)}

#: containerd's default capability set for a non-privileged container.
DEFAULT_CONTAINER_CAPS: tuple[str, ...] = (
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "NET_BIND_SERVICE",
    "SYS_CHROOT",
    "MKNOD",
    "AUDIT_WRITE",
    "SETFCAP",
)


def cap_set(names: Iterable[str]) -> tuple[str, int]:
    """trace_capabilities' ``cap_effective`` bitfield: ``FLAG_CAP_*`` names in bit order."""
    bits = sorted({CAP_NUMBER[n] for n in names})
    text = "|".join("FLAG_CAP_" + CAPABILITIES[b] for b in bits)
    return text, sum(1 << b for b in bits)


SIGNALS: dict[str, int] = {
    "SIGHUP": 1,
    "SIGQUIT": 3,
    "SIGKILL": 9,
    "SIGUSR1": 10,
    "SIGTERM": 15,
    "SIGWINCH": 28,
}

#: open(2) flags in the order IG's ``decodeFlags`` prints them after the access mode.
_OPEN_FLAG_BITS: tuple[tuple[str, int], ...] = (
    ("O_CREAT", 0o100),
    ("O_EXCL", 0o200),
    ("O_NOCTTY", 0o400),
    ("O_TRUNC", 0o1000),
    ("O_APPEND", 0o2000),
    ("O_NONBLOCK", 0o4000),
    ("O_DSYNC", 0o10000),
    ("O_FASYNC", 0o20000),
    ("O_DIRECT", 0o40000),
    ("O_LARGEFILE", 0o100000),
    ("O_DIRECTORY", 0o200000),
    ("O_NOFOLLOW", 0o400000),
    ("O_NOATIME", 0o1000000),
    ("O_CLOEXEC", 0o2000000),
)
_ACCESS = {"O_RDONLY": 0, "O_WRONLY": 1, "O_RDWR": 2}


def open_flags(*names: str) -> tuple[str, int]:
    """``open_flags("O_WRONLY", "O_CREAT")`` -> ``("O_WRONLY|O_CREAT", 65)`` in IG's order."""
    wanted = set(names)
    access = next((a for a in _ACCESS if a in wanted), "O_RDONLY")
    parts = [access]
    raw = _ACCESS[access]
    for name, bit in _OPEN_FLAG_BITS:
        if name in wanted:
            parts.append(name)
            raw |= bit
    return "|".join(parts), raw


def file_mode(perm: int) -> str:
    """Go's ``fs.FileMode.String()`` for a plain permission value (``0o644`` -> ``-rw-r--r--``)."""
    out = ["-"]
    for shift in (6, 3, 0):
        bits = (perm >> shift) & 7
        out.append("r" if bits & 4 else "-")
        out.append("w" if bits & 2 else "-")
        out.append("x" if bits & 1 else "-")
    return "".join(out)
