#!/usr/bin/env bash
# Install the Debian/Ubuntu packages FretCoach needs outside of pip:
#   - PortAudio (audio input/output), libsndfile (audio files), espeak-ng (offline speech);
#   - the libraries Qt's wheels load (EGL/GL, xkbcommon, fontconfig, GLib, D-Bus);
#   - PostgreSQL (server binaries initdb/pg_ctl): the store's tests run against a throwaway
#     PostgreSQL cluster as well as SQLite (tests/pg.py), and CI must not skip them;
#   - desktop-file-validate and appstreamcli, which the tests run on the launcher and metainfo;
#   - python3-venv, when `python3 -m venv` cannot bootstrap pip.
# Only missing packages are installed: `apt-get update` runs once, and only if needed.
# As root it installs directly, otherwise through sudo when available; failing both, it
# prints the command to run. Usage: scripts/install-system-deps.sh [PYTHON [EXTRA-PACKAGE...]]
# (make bench adds the packages the hard corpus is rendered with: fluidsynth, fluid-soundfont-gm)
set -euo pipefail

python=${1:-python3}
shift || true
packages=(
    "$@"
    libportaudio2 libsndfile1 espeak-ng
    libegl1 libgl1 libxkbcommon0 libfontconfig1 libglib2.0-0 libdbus-1-3
    postgresql
    # a virtual guitar input for the end-to-end test (PulseAudio null sink) and ALSA's pulse plugin
    pulseaudio pulseaudio-utils libasound2-plugins
    # the validators the tests run on the desktop entry and the AppStream metainfo
    desktop-file-utils appstream
    # Qt's xcb platform plugin, for `make run` on an X display
    libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-render-util0 libxkbcommon-x11-0 libxcb-shape0
)

if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
    echo "install-system-deps: not a Debian-like system; make sure PortAudio, libsndfile," \
         "espeak-ng, PostgreSQL (for the tests) and the Python venv module are installed." >&2
    exit 0
fi

missing=()
for pkg in "${packages[@]}"; do
    if ! dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null | grep -qx installed; then
        missing+=("$pkg")
    fi
done
venv_missing=0
if ! "$python" -c 'import ensurepip, venv' >/dev/null 2>&1; then
    venv_missing=1
    missing+=(python3-venv)
fi

if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    sudo=()
elif command -v sudo >/dev/null 2>&1; then
    sudo=(sudo)
else
    echo "install-system-deps: these packages are missing; install them as root:" >&2
    echo "    apt-get update && apt-get install -y ${missing[*]}" >&2
    if [ "$venv_missing" -eq 1 ]; then
        exit 1  # no venv module: nothing else can work
    fi
    exit 0
fi

echo "install-system-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update
"${sudo[@]}" apt-get install -y --no-install-recommends "${missing[@]}"
