#!/usr/bin/env bash
# The loop's per-iteration cost with metrics off, on, and on while being scraped hard.
#
#   benches/metrics-overhead.sh [ITERATIONS] [ROUNDS]      (defaults: 300 iterations, 5 rounds)
#   RALPH_BIN=/path/to/ralph benches/metrics-overhead.sh 5 1
#
# Builds the release binary (into $CARGO_TARGET_DIR, default ./target; skipped when RALPH_BIN names the
# binary to measure), then runs `ralph run --no-git --agent command -- true` (an instant no-op
# agent process) for ITERATIONS iterations in a fresh workspace, in three modes side by side in each round
# (off / --metrics / --metrics with a client scraping /metrics every 10 ms), and prints the median
# milliseconds per iteration of each mode over the rounds. Figures include the no-op agent's own spawn.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-300}
rounds=${2:-5}
if [ -z "${RALPH_BIN:-}" ]; then
  echo "building the release binary..." >&2
  cargo build --release -q -p ralph-loop-cli
  RALPH_BIN=${CARGO_TARGET_DIR:-$PWD/target}/release/ralph
fi
ralph=$RALPH_BIN
export -n RALPH_BIN # not a ralph setting: ralph would warn about it
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

one() { # mode -> seconds for one run
  local mode=$1 ws
  ws=$(mktemp -d -p "$work")
  echo task > "$ws/PROMPT.md"
  local args=(--no-git --max-iterations "$n" --idle-timeout 0 --agent command)
  local scraper=""
  case $mode in
    on) args+=(--metrics --metrics-port "$port") ;;
    scraped)
      args+=(--metrics --metrics-port "$port")
      # Stops by itself once this script has exited, should a failed run end it early.
      ( while kill -0 $$ 2>/dev/null && sleep 0.01; do curl -s -o /dev/null "http://127.0.0.1:$port/metrics" || true; done ) >/dev/null 2>&1 &
      scraper=$!
      ;;
  esac
  local t0 t1
  t0=$(date +%s.%N)
  (cd "$ws" && "$ralph" run "${args[@]}" -- true >/dev/null 2>&1) || [ $? -eq 3 ]
  t1=$(date +%s.%N)
  [ -n "$scraper" ] && kill "$scraper" 2>/dev/null && wait "$scraper" 2>/dev/null || true
  echo "$t0 $t1" | awk '{print $2-$1}'
}

declare -A all
for r in $(seq "$rounds"); do
  for mode in off on scraped; do
    s=$(one "$mode")
    all[$mode]+="$s "
    echo "round $r $mode: $(echo "$s $n" | awk '{printf "%.3f ms/iteration", 1000*$1/$2}')" >&2
  done
done
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
echo "iterations per run: $n, rounds: $rounds (median ms per iteration, including the no-op agent's spawn)"
for mode in off on scraped; do
  m=$(echo "${all[$mode]}" | median)
  echo "$mode $(echo "$m $n" | awk '{printf "%.3f", 1000*$1/$2}')"
done
