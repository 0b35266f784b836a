"""A private PulseAudio server for tests: real audio through a null sink, no sound card.

:class:`PulseServer` starts ``pulseaudio`` in the foreground with no configuration file
(``-n``) and two modules: a null sink (whose monitor becomes the default source, so
whatever is played into the sink can be recorded) and the native protocol on a socket in
a temporary runtime directory (anonymous auth: nothing of the user's own sound set-up is
touched). Clients, including PortAudio's ALSA ``pulse`` device in the test process, find
it through ``PULSE_SERVER``.

Running as root works without ``--system`` (pulseaudio only warns) as long as the runtime,
state and home directories point into the temporary directory, which is what this does.

Needs the Debian packages ``pulseaudio`` and ``pulseaudio-utils`` (``paplay``, ``pactl``),
and ``libasound2-plugins`` for the ALSA ``pulse`` device PortAudio records from.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

__all__ = ["SINK", "PulseServer", "missing_tools"]

SINK = "fretcoach_null"
TOOLS = ("pulseaudio", "paplay", "pactl")
ALSA_PULSE_PLUGIN = "libasound_module_pcm_pulse.so"


def missing_tools() -> list[str]:
    """What is missing to run the PulseAudio tests (empty when all is there)."""
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    plugin_dirs = [Path(p) for p in ("/usr/lib/x86_64-linux-gnu/alsa-lib", "/usr/lib/aarch64-linux-gnu/alsa-lib")]
    plugin_dirs += list(Path("/usr/lib").glob("*/alsa-lib")) + [Path("/usr/lib/alsa-lib")]
    if not any((d / ALSA_PULSE_PLUGIN).exists() for d in plugin_dirs):
        missing.append(f"the ALSA pulse plugin ({ALSA_PULSE_PLUGIN}, Debian: libasound2-plugins)")
    return missing


class PulseServer:
    """A throw-away PulseAudio daemon rooted in *root* (a temporary directory)."""

    def __init__(self, root: Path, sample_rate: int = 44100, channels: int = 1) -> None:
        self.root = Path(root)
        self.sample_rate = sample_rate
        self.channels = channels
        self.runtime = self.root / "runtime"
        self.socket = self.runtime / "native"
        self.log_path = self.root / "pulseaudio.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def env(self) -> dict[str, str]:
        """Variables that point a client at this server."""
        return {
            "PULSE_SERVER": f"unix:{self.socket}",
            "PULSE_RUNTIME_PATH": str(self.runtime),
            "PULSE_SINK": SINK,
            "PULSE_SOURCE": f"{SINK}.monitor",
        }

    def _daemon_env(self) -> dict[str, str]:
        env = dict(os.environ)
        home = self.root / "home"
        env.update(
            HOME=str(home),
            XDG_RUNTIME_DIR=str(self.runtime),
            XDG_CONFIG_HOME=str(home / ".config"),
            XDG_STATE_HOME=str(home / ".state"),
            PULSE_STATE_PATH=str(self.root / "state"),
            PULSE_RUNTIME_PATH=str(self.runtime),
        )
        env.pop("PULSE_SERVER", None)
        env.pop("DBUS_SESSION_BUS_ADDRESS", None)
        return env

    def client_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(self.env)
        return env

    def start(self, timeout: float = 15.0) -> None:
        """Start the daemon and wait until it answers. Raises RuntimeError with its log."""
        for d in (self.runtime, self.root / "home", self.root / "state"):
            d.mkdir(parents=True, exist_ok=True)
        self.runtime.chmod(0o700)
        cmd = [
            "pulseaudio",
            "--daemonize=no",
            "--exit-idle-time=-1",
            "-n",  # no default.pa: only the modules below
            "--use-pid-file=no",
            "--realtime=no",
            "--high-priority=no",
            "--disallow-exit",
            "--log-target=stderr",
            "-L",
            f"module-null-sink sink_name={SINK} rate={self.sample_rate} channels={self.channels}"
            f" sink_properties=device.description=FretCoach-test-sink",
            "-L",
            f"module-native-protocol-unix socket={self.socket} auth-anonymous=1",
        ]
        log = open(self.log_path, "wb")  # noqa: SIM115 - the daemon writes to it until stop()
        self.process = subprocess.Popen(
            cmd, env=self._daemon_env(), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"pulseaudio exited with status {self.process.returncode}: {self.log()}")
            if self.socket.exists() and self.pactl("info").returncode == 0:
                self.pactl("set-default-sink", SINK)
                self.pactl("set-default-source", f"{SINK}.monitor")
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"pulseaudio did not start within {timeout:g} s: {self.log()}")

    def pactl(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["pactl", *args], env=self.client_env(), capture_output=True, text=True, timeout=10, check=False
        )

    def play(self, path: str | os.PathLike[str]) -> subprocess.Popen[bytes]:
        """``paplay`` *path* into the null sink; returns the running process."""
        return subprocess.Popen(
            ["paplay", f"--device={SINK}", str(path)],
            env=self.client_env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    def log(self, tail: int = 2000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-tail:]
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        proc, self.process = self.process, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)

    def __enter__(self) -> PulseServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def unavailable(reason: str) -> None:
    """A PulseAudio test cannot run here: skip it, but fail when ``CI`` is set (a CI image
    without PulseAudio must be noticed, not pass quietly)."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set: the PulseAudio end-to-end test must run)")
    pytest.skip(reason)
