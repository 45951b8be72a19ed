#!/usr/bin/env bash
# Whole-process figures of the `ralph` binary: loop cost per iteration, memory, state on disk, start-up
# and stop latency.
#
#   benches/process.sh
#   ITERATIONS=300 LONG_ITERATIONS=10000 ROUNDS=5 benches/process.sh        (the defaults)
#   RALPH_BIN=/path/to/ralph ITERATIONS=5 LONG_ITERATIONS=50 ROUNDS=1 STARTUP_RUNS=10 benches/process.sh
#
# Environment:
#   RALPH_BIN        the binary to measure; unset: `cargo build --release -p ralph-loop-cli` and
#                    $CARGO_TARGET_DIR/release/ralph (default target dir: ./target)
#   ITERATIONS       iterations of each loop-cost run (a), default 300
#   LONG_ITERATIONS  iterations of the memory and disk run (b, c), default 10000
#   ROUNDS           rounds; every figure is the median over the rounds, default 5
#   LONG_ROUNDS      rounds of the long run (b, c) alone, default ROUNDS (a 10,000-iteration run takes
#                    minutes where every fsync costs milliseconds)
#   STARTUP_RUNS     runs of each start-up command per round (d), default 200
#   HYPERFINE        path of hyperfine, or `none` to use the built-in timed loop; default: from PATH if
#                    installed
#
# Every figure is printed on stdout as one line `name: value unit  (what it is)`; progress goes to stderr.
# Every run uses a fresh temporary workspace holding a PROMPT.md, `--no-git`, `--idle-timeout 0` and the
# `command` agent, so the figures are ralph's own (no git checkpoint, no agent CLI). The no-op agent `true`
# never prints the completion promise, and the script checks that each run reached its iteration limit
# (exit 3, `iteration` in `.agent/state.json`).
#
#  a. loop_ms_per_iteration: wall time of `ralph run --max-iterations ITERATIONS -- true` / ITERATIONS
#     (ralph's start-up and its final save included, spread over the iterations).
#     spawn_ms_per_iteration: in the same round, `perl -e 'system("true") for 1..ITERATIONS'`: the same
#     agent started, waited for and reaped as many times by a process that does nothing else (perl runs a
#     command without shell metacharacters with fork + execvp, no shell in between), so that
#     ralph_own_ms_per_iteration = the difference = what the loop itself costs per iteration.
#  b. peak_rss_kib: maximum resident set of a LONG_ITERATIONS run: the larger of `/usr/bin/time -f %M` (if
#     installed) and the last VmHWM read from /proc/PID/status. rss_early_kib / rss_late_kib: VmRSS read from /proc/PID/status at
#     about iteration LONG_ITERATIONS/10 and at the last sample before the run ended (the iteration
#     number comes from `.agent/state.json`, read every 20 ms); rss_growth_kib = late - early;
#     threads_late: ralph's thread count at the last sample.
#  c. state_dir_bytes / state_dir_files: `du -sb .agent` and the number of files in it after that run.
#  d. startup_version_ms / startup_dry_run_ms: `ralph --version` and `ralph run --dry-run` (in a prepared
#     workspace), median of STARTUP_RUNS runs (hyperfine -N, or the built-in loop timing each run with
#     $EPOCHREALTIME).
#  e. stop_cooperative_ms / stop_term_ignoring_ms: a run whose agent runs for 1000 s gets SIGINT once its
#     agent processes exist; the time from the signal until ralph has exited and no agent process is left
#     (agents are found by an environment variable only this script's runs carry). Cooperative agent:
#     `sleep 1000` (exits on SIGTERM). Ignoring agent: `bash -c 'trap "" TERM; sleep 1000; :'` (its sleep
#     inherits the ignored SIGTERM), so only the SIGKILL after the stop grace ends it.
set -euo pipefail
export LC_ALL=C
root=$(cd "$(dirname "$0")/.." && pwd)
n=${ITERATIONS:-300}
long=${LONG_ITERATIONS:-10000}
rounds=${ROUNDS:-5}
long_rounds=${LONG_ROUNDS:-$rounds}
startup_runs=${STARTUP_RUNS:-200}
hyperfine=${HYPERFINE:-$(command -v hyperfine || echo none)}

if [ -z "${RALPH_BIN:-}" ]; then
  echo "building the release binary..." >&2
  (cd "$root" && cargo build --release -q -p ralph-loop-cli)
  RALPH_BIN=${CARGO_TARGET_DIR:-$root/target}/release/ralph
fi
ralph=$RALPH_BIN
export -n RALPH_BIN # not a ralph setting: ralph would warn about it
[ -x "$ralph" ] || { echo "process.sh: $ralph is not an executable" >&2; exit 2; }

work=$(mktemp -d)
# Carried by every ralph this script starts and so by its agents: how they are found and cleaned up.
marker="process-sh-$$-$RANDOM$RANDOM"
started=() # the process started in the background and not yet waited for
marked() { # pids of the live processes carrying the marker
  local f p
  for f in $(grep -lsazF "RALPH_BENCH_MARKER=$marker" /proc/[0-9]*/environ 2>/dev/null || true); do
    p=${f#/proc/}
    echo "${p%/environ}"
  done
}
cleanup() {
  local p
  for p in "${started[@]}" $(marked); do
    kill -KILL "$p" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A sleep without a process: read with a timeout on a pipe this shell holds open for writing.
exec {nap}<> <(:)
nap() { read -r -t "$1" -u "$nap" _ || true; }

workspace() { # -> a fresh workspace with a PROMPT.md
  local ws
  ws=$(mktemp -d -p "$work")
  echo "a task that is never done" >"$ws/PROMPT.md"
  echo "$ws"
}
state_iteration() { # workspace -> `iteration` of its .agent/state.json (empty if none yet)
  local s=""
  [ -f "$1/.agent/state.json" ] && { IFS= read -r -d '' s <"$1/.agent/state.json" || true; }
  [[ $s =~ \"iteration\":[[:space:]]*([0-9]+) ]] && echo "${BASH_REMATCH[1]}"
  return 0
}
check_limit_reached() { # rc workspace iterations
  local got
  got=$(state_iteration "$2")
  if [ "$1" -ne 3 ] || [ "$got" != "$3" ]; then
    echo "process.sh: the run in $2 exited $1 after ${got:-no} iterations (expected exit 3 after $3)" >&2
    exit 1
  fi
}
common=(run --no-git --idle-timeout 0 --agent command)
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {if (NR==0) exit 1; print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
declare -A all
add() { all[$1]+="$2 "; }

# a. loop cost against bare spawns
loop_round() {
  local ws rc=0 t0 t1 t2
  ws=$(workspace)
  t0=${EPOCHREALTIME/./}
  (cd "$ws" && RALPH_BENCH_MARKER=$marker exec "$ralph" "${common[@]}" --max-iterations "$n" -- true >/dev/null 2>&1) || rc=$?
  t1=${EPOCHREALTIME/./}
  check_limit_reached "$rc" "$ws" "$n"
  perl -e 'system("true") == 0 or die "true failed\n" for 1..$ARGV[0]' "$n"
  t2=${EPOCHREALTIME/./}
  add loop "$(awk -v d=$((10#$t1 - 10#$t0)) -v n="$n" 'BEGIN {printf "%.4f", d/1000/n}')"
  add spawn "$(awk -v d=$((10#$t2 - 10#$t1)) -v n="$n" 'BEGIN {printf "%.4f", d/1000/n}')"
}

# b, c. memory over a long run, and the state it leaves
long_round() {
  local ws rc=0 timef="" tpid rpid="" early="" early_it="" late="" late_it="" hwm="" threads="" it
  ws=$(workspace)
  timef=$(mktemp -p "$work")
  if [ -x /usr/bin/time ]; then
    (cd "$ws" && RALPH_BENCH_MARKER=$marker exec /usr/bin/time -f %M -o "$timef" "$ralph" "${common[@]}" --max-iterations "$long" -- true >/dev/null 2>&1) &
    tpid=$!
    started+=("$tpid")
    for _ in $(seq 500); do # ralph is GNU time's only child
      read -r rpid _ <"/proc/$tpid/task/$tpid/children" 2>/dev/null || true
      [ -n "$rpid" ] || [ -e "/proc/$tpid/task/$tpid/children" ] || rpid=$(pgrep -P "$tpid" || true)
      [ -n "$rpid" ] && break
      nap 0.01
    done
  else
    (cd "$ws" && RALPH_BENCH_MARKER=$marker exec "$ralph" "${common[@]}" --max-iterations "$long" -- true >/dev/null 2>&1) &
    tpid=$!
    rpid=$tpid
    started+=("$tpid")
  fi
  [ -n "$rpid" ] || { echo "process.sh: ralph did not start" >&2; exit 1; }
  while :; do
    local st="" rss=""
    it=$(state_iteration "$ws")
    # One read to the end: a line-wise read seeks back after each line, and /proc regenerates the text
    # at every seek, so a line can be missed when a figure before it changed length.
    { IFS= read -r -d '' st <"/proc/$rpid/status" || true; } 2>/dev/null
    [ -n "$st" ] || break                       # gone
    [[ $st =~ State:[[:space:]]*Z ]] && break   # exited, not yet reaped
    [[ $st =~ VmRSS:[[:space:]]*([0-9]+) ]] && rss=${BASH_REMATCH[1]}
    [[ $st =~ VmHWM:[[:space:]]*([0-9]+) ]] && hwm=${BASH_REMATCH[1]}
    [[ $st =~ Threads:[[:space:]]*([0-9]+) ]] && threads=${BASH_REMATCH[1]}
    if [ -n "$it" ] && [ -n "$rss" ]; then
      if [ -z "$early" ] && [ "$it" -ge $((long / 10)) ]; then
        early=$rss early_it=$it
      fi
      late=$rss late_it=$it
    fi
    nap 0.02
  done
  wait "$tpid" || rc=$?
  started=() # waited for: the pid may be reused
  check_limit_reached "$rc" "$ws" "$long"
  if [ -z "$early" ] || [ "$late_it" -lt $((long * 9 / 10)) ]; then
    echo "process.sh: memory samples of the ${long}-iteration run stopped at iteration ${late_it:-0}" >&2
    exit 1
  fi
  local peak
  # GNU time's figure comes from the kernel's approximate (per-CPU batched) counters at exit and can be
  # a few dozen pages below a VmHWM read just before: the larger of the two.
  peak=$(tail -n 1 "$timef")
  [[ $peak =~ ^[0-9]+$ ]] || peak=0
  [ -n "$hwm" ] && [ "$hwm" -gt "$peak" ] && peak=$hwm
  add peak "$peak"
  add early "$early"
  add early_it "$early_it"
  add late "$late"
  add late_it "$late_it"
  add growth $((late - early))
  add threads "$threads"
  add disk_bytes "$(du -sb "$ws/.agent" | cut -f1)"
  add disk_files "$(find "$ws/.agent" -type f | wc -l)"
  rm -rf "$ws"
}

# d. start-up
startup_round() {
  local ws csv
  ws=$(workspace)
  local version=("$ralph" --version)
  local dry=("$ralph" "${common[@]}" --dry-run -- true)
  (cd "$ws" && "${dry[@]}" >/dev/null) || { echo "process.sh: ralph run --dry-run failed" >&2; exit 1; }
  if [ "$hyperfine" != none ]; then
    csv=$(mktemp -p "$work")
    (cd "$ws" && "$hyperfine" -N --style none --warmup 10 --runs "$startup_runs" --export-csv "$csv" \
      "$(printf '%q ' "${version[@]}")" "$(printf '%q ' "${dry[@]}")" >/dev/null)
    # command,mean,stddev,median,user,system,min,max (seconds); the command may contain commas
    add version "$(awk -F, 'NR==2 {printf "%.4f", $(NF-4)*1000}' "$csv")"
    add dry "$(awk -F, 'NR==3 {printf "%.4f", $(NF-4)*1000}' "$csv")"
  else
    local key t0 t1 times
    for key in version dry; do
      times=""
      for _ in $(seq "$startup_runs"); do
        if [ "$key" = version ]; then
          t0=${EPOCHREALTIME/./}
          "${version[@]}" >/dev/null
          t1=${EPOCHREALTIME/./}
        else
          cd "$ws"
          t0=${EPOCHREALTIME/./}
          "${dry[@]}" >/dev/null
          t1=${EPOCHREALTIME/./}
          cd - >/dev/null
        fi
        times+="$((10#$t1 - 10#$t0)) "
      done
      add "$key" "$(echo "$times" | median | awk '{printf "%.4f", $1/1000}')"
    done
  fi
}

# e. stop latency
stop_once() { # cooperative|ignoring
  local ws agent expect rpid rc=0 t0 t1 t2 left=0
  ws=$(workspace)
  if [ "$1" = cooperative ]; then
    agent=(sleep 1000) expect=1
  else
    # `; :` keeps bash from exec'ing sleep: two processes, both ignoring SIGTERM.
    agent=(bash -c 'trap "" TERM; sleep 1000; :') expect=2
  fi
  (cd "$ws" && RALPH_BENCH_MARKER=$marker exec "$ralph" "${common[@]}" --max-iterations 1 -- "${agent[@]}" >/dev/null 2>&1) &
  rpid=$!
  started+=("$rpid")
  for _ in $(seq 1000); do
    left=$(marked | grep -cvx "$rpid" || true)
    [ "$left" -ge "$expect" ] && break
    nap 0.01
  done
  [ "$left" -ge "$expect" ] || { echo "process.sh: the $1 agent did not start" >&2; exit 1; }
  t0=${EPOCHREALTIME/./}
  kill -INT "$rpid"
  wait "$rpid" || rc=$?
  started=()
  t1=${EPOCHREALTIME/./}
  t2=$t1
  while [ -n "$(marked)" ]; do
    nap 0.001
    t2=${EPOCHREALTIME/./}
    [ $((t2 - t0)) -lt 60000000 ] || { echo "process.sh: $1 agent still running 60 s after the stop" >&2; exit 1; }
  done
  [ "$rc" -eq 130 ] || { echo "process.sh: ralph exited $rc after SIGINT (expected 130)" >&2; exit 1; }
  add "stop_$1" "$(awk -v d=$((t2 > t1 ? t2 - t0 : t1 - t0)) 'BEGIN {printf "%.1f", d/1000}')"
  rm -rf "$ws"
}

echo "ralph: $ralph; ITERATIONS=$n LONG_ITERATIONS=$long ROUNDS=$rounds LONG_ROUNDS=$long_rounds STARTUP_RUNS=$startup_runs hyperfine=$hyperfine" >&2
for r in $(seq "$((rounds > long_rounds ? rounds : long_rounds))"); do
  if [ "$r" -le "$rounds" ]; then
    loop_round
    echo "round $r: loop + spawn done" >&2
  fi
  if [ "$r" -le "$long_rounds" ]; then
    long_round
    echo "round $r: ${long}-iteration run done" >&2
  fi
  if [ "$r" -le "$rounds" ]; then
    startup_round
    echo "round $r: start-up done" >&2
    stop_once cooperative
    stop_once ignoring
    echo "round $r: stop latency done" >&2
  fi
done

m() { echo "${all[$1]}" | median; }
loop=$(m loop) spawn=$(m spawn)
own=$(awk -v a="$loop" -v b="$spawn" 'BEGIN {printf "%.4f", a-b}')
printf '%s; medians of %s rounds (%s of the long run)\n' "$("$ralph" --version)" "$rounds" "$long_rounds"
printf 'loop_ms_per_iteration: %s ms  (ralph run, no-op agent true, %s iterations)\n' "$loop" "$n"
printf 'spawn_ms_per_iteration: %s ms  (perl system("true") %s times: the agent'"'"'s own spawn)\n' "$spawn" "$n"
printf 'ralph_own_ms_per_iteration: %s ms  (the difference: the loop'"'"'s own cost)\n' "$own"
printf 'peak_rss_kib: %s KiB  (%s-iteration run)\n' "$(m peak)" "$long"
printf 'rss_early_kib: %s KiB  (VmRSS at about iteration %s)\n' "$(m early)" "$(m early_it)"
printf 'rss_late_kib: %s KiB  (VmRSS at about iteration %s)\n' "$(m late)" "$(m late_it)"
printf 'rss_growth_kib: %s KiB  (late - early)\n' "$(m growth)"
printf 'threads_late: %s threads  (at the last sample)\n' "$(m threads)"
printf 'state_dir_bytes: %s bytes  (du -sb .agent after %s iterations)\n' "$(m disk_bytes)" "$long"
printf 'state_dir_files: %s files  (in .agent after %s iterations)\n' "$(m disk_files)" "$long"
printf 'startup_version_ms: %s ms  (ralph --version)\n' "$(m version)"
printf 'startup_dry_run_ms: %s ms  (ralph run --dry-run)\n' "$(m dry)"
printf 'stop_cooperative_ms: %s ms  (SIGINT until ralph and its agent are gone; agent exits on SIGTERM)\n' "$(m stop_cooperative)"
printf 'stop_term_ignoring_ms: %s ms  (same, agent and its child ignore SIGTERM)\n' "$(m stop_ignoring)"
