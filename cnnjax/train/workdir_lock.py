"""One run per workdir: a lock file in the workdir, held by the live run's process 0.

On one host the kernel's `flock` decides (it dies with its process, even after kill -9). The lock
file also names its holder (PID, host) and a heartbeat its holder refreshes, so a run on another host
of a shared file system is refused while that heartbeat is fresh, where the file system does not
share flock between hosts. A lock whose holder is gone is taken over with a warning.
"""

import datetime
import fcntl
import json
import logging
import os
import socket
import threading
import time
from pathlib import Path

from cnnjax.errors import InputError

log = logging.getLogger(__name__)

LOCK_NAME = "run.lock"
HEARTBEAT_SECONDS = 30.0
STALE_AFTER_SECONDS = 3 * HEARTBEAT_SECONDS  # a holder on another host silent this long is gone


class WorkdirLockedError(InputError):
  """Another live run holds the workdir."""


def _now() -> str:
  return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


class WorkdirLock:
  """Context manager: holds `workdir/run.lock` for the duration of a run, or raises WorkdirLockedError."""

  def __init__(self, workdir: str | Path):
    self.path = Path(workdir) / LOCK_NAME
    self._fd = None
    self._stop = threading.Event()
    self._heartbeat = None

  def __enter__(self):
    self.acquire()
    return self

  def __exit__(self, *exc):
    self.release()

  def acquire(self) -> None:
    fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
      fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      holder = self._holder()
      os.close(fd)
      raise WorkdirLockedError(self._refusal(holder)) from None
    holder = self._holder()
    if holder.get("pid") is not None:
      other_host = holder.get("host") != socket.gethostname()
      age = time.time() - self.path.stat().st_mtime
      if other_host and age < STALE_AFTER_SECONDS:
        os.close(fd)
        raise WorkdirLockedError(self._refusal(holder, f"its heartbeat is {age:.0f} s old; it is taken over "
                                                       f"after {STALE_AFTER_SECONDS:.0f} s of silence"))
      log.warning("%s: taking over the lock of process %s on host %s (started %s), which is no longer running",
                  self.path.parent, holder.get("pid"), holder.get("host"), holder.get("started"))
    self._fd = fd
    self._write({"pid": os.getpid(), "host": socket.gethostname(), "started": _now()})
    self._heartbeat = threading.Thread(target=self._beat, name="cnnjax workdir lock heartbeat", daemon=True)
    self._heartbeat.start()

  def release(self) -> None:
    """Marks the lock free (the file stays: removing it would race with a run opening it) and unlocks."""
    if self._fd is None:
      return
    self._stop.set()
    self._heartbeat.join()
    self._write({})
    fcntl.flock(self._fd, fcntl.LOCK_UN)
    os.close(self._fd)
    self._fd = None

  def _refusal(self, holder: dict, detail: str = "") -> str:
    who = (f"process {holder.get('pid')} on host {holder.get('host')} (started {holder.get('started')})"
           if holder.get("pid") is not None else "another process")
    return (f"{self.path.parent} is in use by a running cnnjax run: {who}"
            + (f"; {detail}" if detail else "")
            + f". Wait for it to finish, stop it, or choose another --workdir")

  def _holder(self) -> dict:
    try:
      return json.loads(self.path.read_text() or "{}")
    except (OSError, ValueError):
      return {}

  def _write(self, record: dict) -> None:
    os.ftruncate(self._fd, 0)
    os.pwrite(self._fd, (json.dumps(record) + "\n").encode(), 0)
    os.fsync(self._fd)

  def _beat(self) -> None:
    while not self._stop.wait(HEARTBEAT_SECONDS):
      try:
        os.utime(self.path)
      except OSError:  # the workdir went away; the run itself will report that
        pass


def check_free(workdir: str | Path) -> None:
  """Raises WorkdirLockedError now if a live run holds `workdir` (a stale lock is taken over and freed):
  for commands that want to refuse before their slow start-up, ahead of the run's own lock."""
  if (Path(workdir) / LOCK_NAME).exists():
    with WorkdirLock(workdir):
      pass
