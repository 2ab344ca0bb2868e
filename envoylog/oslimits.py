"""Operating-system limits a fleet runs into: open files (a socket per gateway)."""

from __future__ import annotations

import resource


def raise_open_files(wanted: int) -> int:
    """Raise this process's soft limit on open files towards `wanted`; return the new limit.

    The soft limit is often 1,024 while the hard one is far higher: raising it needs no
    privilege, but it stops at the hard limit.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= wanted:
        return wanted if soft == resource.RLIM_INFINITY else soft
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return target
