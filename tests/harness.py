"""Starts the Procfile's processes as real subprocesses for end-to-end tests, and keeps their logs."""
from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent


def procfile() -> dict[str, list[str]]:
    commands = {}
    for line in (PROJECT_DIR / "Procfile").read_text().splitlines():
        if ":" in line:
            name, command = line.split(":", 1)
            words = shlex.split(command)
            if words[0] == "python":  # the test's interpreter, inside the virtualenv
                words[0] = sys.executable
            commands[name.strip()] = words
    return commands


class Service:
    """The release step, then bot, scheduler and workers, each logging to its own file."""

    def __init__(self, env: dict, log_dir: Path, workers: int = 2, copies: dict | None = None):
        self.env = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
        for name in ("TELEGRAM_TOKEN", "DATABASE_URL", "REDIS_URL"):
            if name not in env:
                self.env.pop(name, None)
        self.log_dir = log_dir
        self.copies = {"worker": workers, **(copies or {})}
        self.children: dict[str, subprocess.Popen] = {}

    def release(self) -> subprocess.CompletedProcess:
        return subprocess.run(procfile()["release"], cwd=PROJECT_DIR, env=self.env, capture_output=True, text=True, timeout=60)

    def start(self, names=("bot", "scheduler", "worker")) -> "Service":
        result = self.release()
        assert result.returncode == 0, result.stdout + result.stderr
        for name in names:
            copies = self.copies.get(name, 1)
            for n in range(copies):
                self.spawn(f"{name}{n + 1}" if name == "worker" or copies > 1 else name)
        return self

    def spawn(self, label: str) -> subprocess.Popen:
        """Start (or start again, after a kill) the process `label` (bot, scheduler2, worker1, ...)."""
        name = label.rstrip("0123456789")
        log_file = open(self.log_dir / f"{label}.log", "ab")
        # Its own process group, like a dyno: a signal reaches the process and its children (RQ's
        # scheduler), and nothing of it outlives the test.
        self.children[label] = subprocess.Popen(
            procfile()[name], cwd=PROJECT_DIR, env=self.env, stdout=log_file, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self.children[label]

    def signal(self, label: str, sig: int) -> None:
        """Send `sig` to the process and its children, as a platform does to a dyno."""
        try:
            os.killpg(self.children[label].pid, sig)
        except ProcessLookupError:
            pass

    def label_of(self, pid: int) -> str | None:
        return next((label for label, child in self.children.items() if child.pid == pid), None)

    def restart(self, label: str, kill: bool = False) -> None:
        """Stop one process (SIGTERM as Heroku does, or SIGKILL) and start it again, logging on."""
        self.signal(label, signal.SIGKILL if kill else signal.SIGTERM)
        self.children[label].wait(timeout=20)
        self.spawn(label)

    def assert_alive(self) -> None:
        dead = {name: child.returncode for name, child in self.children.items() if child.poll() is not None}
        assert not dead, f"processes exited: {dead}\n{self.logs()}"

    def stop(self) -> None:
        for child in self.children.values():
            if child.poll() is None:
                child.terminate()
        deadline = time.time() + 10
        for label, child in self.children.items():
            try:
                child.wait(timeout=max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
            self.signal(label, signal.SIGKILL)  # whatever it left behind

    def logs(self) -> str:
        return "\n".join(
            f"===== {path.name}\n{path.read_text(errors='replace')}" for path in sorted(self.log_dir.glob("*.log"))
        )
