#!/usr/bin/env bash
# Create one virtualenv per benchmark peer, benchmarks/.peers/<peer>/, from
# benchmarks/peers/<peer>.txt. Idempotent: a venv whose requirements file has not changed
# since it was last installed is left alone.
#
#   benchmarks/setup_peers.sh              # every peer
#   benchmarks/setup_peers.sh prefect      # only these
#   benchmarks/setup_peers.sh evidently whylogs   # the peers of drift.py / data_stats.py
#   PYTHON=python3.11 benchmarks/setup_peers.sh
#   FORCE=1 benchmarks/setup_peers.sh      # reinstall even if up to date
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python="${PYTHON:-python3}"
peers=("$@")
if [ ${#peers[@]} -eq 0 ]; then
    for f in "$here"/peers/*.txt; do peers+=("$(basename "$f" .txt)"); done
fi

for peer in "${peers[@]}"; do
    req="$here/peers/$peer.txt"
    venv="$here/.peers/$peer"
    stamp="$venv/.installed-from"
    if [ ! -f "$req" ]; then
        echo "setup_peers: no $req" >&2
        exit 2
    fi
    want="$(sha256sum "$req" | cut -d' ' -f1) $("$python" -c 'import platform; print(platform.python_version())')"
    if [ -z "${FORCE:-}" ] && [ -x "$venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
        echo "setup_peers: $peer up to date ($venv)"
        continue
    fi
    echo "setup_peers: installing $peer into $venv"
    rm -rf "$venv"
    "$python" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req"
    "$venv/bin/python" -m pip check
    echo "$want" > "$stamp"
done
