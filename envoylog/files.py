"""The one way envoylog writes a file: whole or not at all, under a name nobody sees half-written.

Tokens and certificate pins (mode 0600), the status file, exports and spooled polls
all go through :func:`write_atomic`: the bytes go to a temporary file beside the
target, which then replaces the target in one rename. A reader sees the old file or
the new one, never a mix; a failure leaves the old file as it was and no temporary
file behind.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

PRIVATE = 0o600  # readable and writable by the owner only
SHARED = 0o666  # as open() makes a file: what the umask allows

# Temporary files are ".<target name>.<random>.tmp": hidden, and never matched by
# the target's own pattern (a spool reads "*.json").
_TEMP_GLOB = ".*.tmp"


def write_atomic(
    path: Path,
    data: bytes | str,
    *,
    mode: int = PRIVATE,
    durable: bool = False,
    parents: bool = True,
) -> None:
    """Replace ``path`` with ``data`` (str is written as UTF-8) in one rename.

    ``mode``: the new file's permissions less the umask, as open() applies it; the
    temporary file has them from its creation, so a 0600 secret is never readable
    by others, not even briefly. ``durable``: the data and the rename are on disk
    (fsync of the file and of its folder) before this returns, so a power cut
    afterwards cannot lose them. ``parents``: make the folder when it is missing.
    Raises OSError; the target is then unchanged.
    """
    if parents:
        path.parent.mkdir(parents=True, exist_ok=True)
    payload = data.encode() if isinstance(data, str) else data
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if durable:
        _fsync_folder(path.parent)


def remove_leftovers(folder: Path) -> None:
    """Delete the temporary files a crash left in ``folder`` (one owned by this process).

    A write cut short was never renamed, so it never became the file it was meant to be.
    """
    for stale in folder.glob(_TEMP_GLOB):
        stale.unlink(missing_ok=True)


def _fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
