#!/usr/bin/env bash
# The README's first command: builds ralph and the example agent, makes a fresh git repository with the
# FizzBuzz task, and runs a real loop on it (offline: the "agent" is examples/src/bin/example_agent.rs,
# run by ralph's generic `command` agent, a fresh process per iteration).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
cargo build --quiet -p ralph-loop-cli -p ralph-examples
target=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
if [ $# -ge 1 ]; then
  work=$1
  if [ -e "$work" ] && [ -n "$(ls -A "$work" 2>/dev/null)" ]; then
    echo "run-example.sh: $work exists and is not empty; name a new directory" >&2
    exit 2
  fi
else
  work="$target/example-run"
  rm -rf "$work" # our own scratch directory under target/
fi
mkdir -p "$work"
cp examples/hello-task/PROMPT.md "$work/"
git -C "$work" init -q
git -C "$work" -c user.name=example -c user.email=example@localhost add PROMPT.md
git -C "$work" -c user.name=example -c user.email=example@localhost commit -q -m "FizzBuzz task"
echo "workspace: $work"
set +e
"$target/debug/ralph" run -C "$work" --agent command --max-iterations 10 --retry-delay 0 -- "$target/debug/ralph-example-agent"
code=$?
set -e
echo "ralph exited with $code; files in the workspace:"
ls -A "$work"
exit $code
