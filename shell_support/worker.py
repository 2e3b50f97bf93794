"""This process's name as the owner of background jobs."""

from __future__ import annotations

import os
import secrets
import socket

_token_pid = 0
_token = ""


def worker_id() -> str:
    """Host, pid, and a token that survives no restart (a reused pid is another owner).

    The token is made on first use in each process, so a Gunicorn worker forked from a
    preloaded master gets its own without a fork hook.
    """
    global _token_pid, _token
    pid = os.getpid()
    if pid != _token_pid:
        _token_pid, _token = pid, secrets.token_hex(4)
    return f"{socket.gethostname()}:{pid}:{_token}"
