#!/usr/bin/env bash
# The loop's cost per iteration of several `ralph` binaries side by side, against the bare spawn of the
# same no-op agent: for before/after comparisons on a machine whose speed drifts (load, disk writeback).
#
#   benches/compare-loop.sh OLD_RALPH NEW_RALPH [MORE...]
#   ITERATIONS=300 ROUNDS=9 WORKDIR=/dev/shm benches/compare-loop.sh target/ralph-old target/release/ralph
#
# Environment:
#   ITERATIONS  iterations per run, default 300
#   ROUNDS      rounds, default 9; in each round every binary runs once (the order rotates from round to
#               round, so no binary always runs right after another's disk writes), then
#               `perl -e 'system("true") for 1..ITERATIONS'` (the agent's own spawn, as in process.sh)
#   WORKDIR     where the temporary workspaces go (default $TMPDIR or /tmp): a tmpfs such as /dev/shm
#               takes the disk out of the figure
#
# Each run is `ralph run --no-git --idle-timeout 0 --agent command --max-iterations ITERATIONS -- true` in a
# fresh workspace, removed after it. Prints one line per binary, `NAME: loop L ms/iteration, own O ms`,
# where L is the median over the rounds and O = L - the median bare spawn, then `spawn: S ms/iteration`.
set -euo pipefail
export LC_ALL=C
[ $# -ge 1 ] || { echo "usage: $0 RALPH_BINARY..." >&2; exit 2; }
n=${ITERATIONS:-300}
rounds=${ROUNDS:-9}
workdir=${WORKDIR:-${TMPDIR:-/tmp}}
bins=("$@")
for b in "${bins[@]}"; do
  [ -x "$b" ] || { echo "compare-loop.sh: $b is not an executable" >&2; exit 2; }
done
work=$(mktemp -d -p "$workdir")
trap 'rm -rf "$work"' EXIT

one() { # binary -> ms per iteration
  local ws rc=0 t0 t1
  ws=$(mktemp -d -p "$work")
  echo "a task that is never done" >"$ws/PROMPT.md"
  t0=${EPOCHREALTIME/./}
  (cd "$ws" && exec "$1" run --no-git --idle-timeout 0 --agent command --max-iterations "$n" -- true >/dev/null 2>&1) || rc=$?
  t1=${EPOCHREALTIME/./}
  if [ "$rc" -ne 3 ]; then
    echo "compare-loop.sh: $1 exited $rc (expected 3: the iteration limit)" >&2
    exit 1
  fi
  rm -rf "$ws"
  awk -v d=$((10#$t1 - 10#$t0)) -v n="$n" 'BEGIN {printf "%.4f", d/1000/n}'
}
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

declare -a loops
spawns=""
k=${#bins[@]}
for r in $(seq "$rounds"); do
  line="round $r:"
  for j in $(seq 0 $((k - 1))); do
    i=$(( (j + r) % k ))
    ms=$(one "${bins[$i]}")
    loops[i]+="$ms "
    line+=" ${bins[$i]}=$ms"
  done
  t0=${EPOCHREALTIME/./}
  perl -e 'system("true") == 0 or die "true failed\n" for 1..$ARGV[0]' "$n"
  t1=${EPOCHREALTIME/./}
  s=$(awk -v d=$((10#$t1 - 10#$t0)) -v n="$n" 'BEGIN {printf "%.4f", d/1000/n}')
  spawns+="$s "
  echo "$line spawn=$s" >&2
done
spawn=$(echo "$spawns" | median)
echo "iterations per run: $n, rounds: $rounds, workspaces in $workdir (medians, ms per iteration)"
for i in $(seq 0 $((k - 1))); do
  l=$(echo "${loops[$i]}" | median)
  echo "${bins[$i]}: loop $l ms/iteration, own $(awk -v l="$l" -v s="$spawn" 'BEGIN {printf "%.4f", l - s}') ms"
done
echo "spawn: $spawn ms/iteration"
