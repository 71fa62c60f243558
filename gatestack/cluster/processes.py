"""Child processes of the cluster supervisor: started with a log file, stopped for sure."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

STOP_GRACE_SECONDS = 10


class StartupError(RuntimeError):
    """A component did not come up; the message names it, says why and where its log is."""


def log_tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


@dataclass
class ManagedProcess:
    """One long-running program, its output appended to `log_path`."""

    name: str
    command: list[str]
    log_path: Path
    environment: Optional[dict[str, str]] = None
    working_directory: Optional[Path] = None
    preexec: Optional[Callable[[], None]] = None
    process: Optional[subprocess.Popen] = field(default=None, init=False, repr=False)

    def start(self) -> "ManagedProcess":
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log_file:
            log_file.write(f"$ {' '.join(self.command)}\n".encode())
            log_file.flush()
            self.process = subprocess.Popen(
                self.command,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.environment,
                cwd=self.working_directory,
                preexec_fn=self.preexec,
            )
        return self

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def failure(self) -> str:
        """A sentence for a process that has exited, with the end of its log."""
        code = self.process.returncode if self.process else None
        return f"{self.name} exited (code {code}); last lines of {self.log_path}:\n{log_tail(self.log_path)}"

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def wait_for(
    what: str,
    condition: Callable[[], bool],
    timeout: float,
    process: Optional[ManagedProcess] = None,
    interval: float = 0.2,
) -> None:
    """Poll `condition` until true; fail early if `process` dies, or after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and not process.running:
            raise StartupError(f"waiting for {what}: {process.failure()}")
        try:
            if condition():
                return
        except Exception:  # a component that is still starting may refuse connections
            pass
        time.sleep(interval)
    detail = f"; last lines of {process.log_path}:\n{log_tail(process.log_path)}" if process else ""
    raise StartupError(f"{what} did not happen within {timeout:.0f} s{detail}")


def stop_all(processes: list[ManagedProcess]) -> None:
    """Stop in reverse start order, all at once: SIGTERM to each, then wait for each."""
    for managed in reversed(processes):
        if managed.running:
            assert managed.process is not None
            try:
                managed.process.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for managed in reversed(processes):
        if managed.process is None:
            continue
        try:
            managed.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            managed.process.kill()
            managed.process.wait()


def pid_is_alive(pid: int) -> bool:
    """True while process `pid` runs; a zombie (exited, not yet reaped by its parent) is not."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"
