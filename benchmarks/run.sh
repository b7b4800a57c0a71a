#!/usr/bin/env bash
# Runs the shared Socket.IO benchmark harness with socketeer as a peer, side by side with
# python-socketio, the official Node server and the raw WebSocket floors, then prints ratios.
#   benchmarks/run.sh HARNESS_DIR [run.sh options, e.g. --reps 5 --scenarios echo,fanout]
# HARNESS_DIR is the benchmark harness's folder (copied to a writable temporary folder first).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
[ $# -gt 0 ] || { echo "usage: benchmarks/run.sh HARNESS_DIR [options]" >&2; exit 2; }
src=$1
shift
[ -f "$src/bench.js" ] || { echo "no benchmark harness at $src" >&2; exit 2; }
work=${BENCH_WORKDIR:-${TMPDIR:-/tmp}/socketeer-bench}
if [ ! -f "$work/bench.js" ]; then
  mkdir -p "$work" && cp -r "$src"/. "$work"/ && chmod -R u+w "$work"
  (cd "$work" && ./setup.sh)
fi
python=${PYTHON:-$root/.venv/bin/python}
"$python" - "$work/peers.json" "$python" "$here/peer.py" <<'PY'
import json, sys
path, python, peer = sys.argv[1:4]
peers = json.load(open(path))
peers["socketeer"] = {"cmd": f"{python} {peer}", "proto": "sio"}
peers["socketeer-asgi"] = {"cmd": f"{python} {peer} --asgi", "proto": "sio", "scenarios": ["echo", "fanout"]}
json.dump(peers, open(path, "w"), indent=1)
PY
out="results/socketeer-$(date +%Y%m%d-%H%M%S).jsonl"
cd "$work"
./run.sh --peers node-socketio,pysio-uvicorn,socketeer,raw-ws-node --out "$out" "$@"
node report.js "$out" --base node-socketio
node report.js "$out" --base pysio-uvicorn
