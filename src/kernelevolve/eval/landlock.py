"""Landlock from Python: a file-system allow-list, no TCP, no signals or abstract sockets outside.

A thin binding of the three system calls (include/uapi/linux/landlock.h) through ctypes; the ABI
version the kernel reports decides what can be covered, and the caller is told what was.
"""

from __future__ import annotations

import ctypes
import os

# The syscall numbers are the same on every architecture (added after the tables were unified).
SYS_CREATE_RULESET, SYS_ADD_RULE, SYS_RESTRICT_SELF = 444, 445, 446
PR_SET_NO_NEW_PRIVS = 38
FS_EXECUTE, FS_WRITE_FILE, FS_READ_FILE, FS_READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
FS_TRUNCATE, FS_IOCTL_DEV = 1 << 14, 1 << 15
FS_ALL_BY_ABI = {1: (1 << 13) - 1, 2: (1 << 14) - 1, 3: (1 << 15) - 1, 4: (1 << 15) - 1, 5: (1 << 16) - 1}
NET_BIND_TCP, NET_CONNECT_TCP = 1, 2
SCOPE_ABSTRACT_UNIX_SOCKET, SCOPE_SIGNAL = 1, 2

libc = ctypes.CDLL(None, use_errno=True)


def check(result: int, what: str) -> int:
    """A libc call's result, or OSError with its errno."""
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return result


def landlock_abi() -> int:
    result = libc.syscall(SYS_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(1))
    return result if result > 0 else 0


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64)]


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


FILE_RIGHTS = FS_EXECUTE | FS_WRITE_FILE | FS_READ_FILE | FS_TRUNCATE | FS_IOCTL_DEV
READ_RIGHTS = FS_EXECUTE | FS_READ_FILE | FS_READ_DIR


def restrict(read: list[str], write: list[str]) -> tuple[list[str], list[str]]:
    """Confine this process (and what it execs or forks) to reading ``read`` and writing ``write``,
    with no TCP and no signals outside where the ABI allows; (layers applied, layers missing)."""
    abi = landlock_abi()
    if abi == 0:
        return [], ["landlock: not supported by this kernel (Linux >= 5.13 with landlock in the LSM list)"]
    handled = FS_ALL_BY_ABI.get(abi, (1 << 16) - 1)
    attr = _RulesetAttr(handled, NET_BIND_TCP | NET_CONNECT_TCP if abi >= 4 else 0,
                        SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL if abi >= 6 else 0)
    size = 24 if abi >= 6 else 16 if abi >= 4 else 8
    ruleset = check(libc.syscall(SYS_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size),
                                 ctypes.c_uint32(0)), "landlock_create_ruleset")
    try:
        for paths, rights in ((read, READ_RIGHTS), (write, handled)):
            for path in paths:
                _allow(ruleset, path, rights & handled)
        check(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
        check(libc.syscall(SYS_RESTRICT_SELF, ruleset, ctypes.c_uint32(0)), "landlock_restrict_self")
    finally:
        os.close(ruleset)
    applied = [f"landlock v{abi} (files{', tcp' if abi >= 4 else ''}{', signals' if abi >= 6 else ''})"]
    missing = []
    if abi < 4:
        missing.append(f"landlock tcp: kernel's landlock v{abi} cannot block TCP (the network namespace does)")
    return applied, missing


def _allow(ruleset: int, path: str, rights: int) -> None:
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return  # a path that does not exist here needs no rule
    try:
        if not os.path.isdir(path):
            rights &= FILE_RIGHTS
        rule = _PathBeneath(rights, fd)
        check(libc.syscall(SYS_ADD_RULE, ruleset, ctypes.c_int(1), ctypes.byref(rule), ctypes.c_uint32(0)),
               f"landlock rule for {path}")
    finally:
        os.close(fd)
