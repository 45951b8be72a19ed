#!/usr/bin/env bash
# Prepares podman on a machine without a Docker engine and without access to a container registry, so that
# the repository's Dockerfile builds unchanged with
#
#     eval "$(deploy/podman/setup-local-images.sh)"
#     podman build --pull=never --format docker -t ralph .
#
# What it does (idempotent; a second call takes about a second):
#   1. writes containers.conf and storage.conf under the cache directory (CACHE below): runc as the runtime,
#      ulimits within the host's hard limits, image storage under CACHE/storage;
#   2. creates local stand-ins for the Dockerfile's base images, under their official names:
#        docker.io/library/debian:bookworm-slim    debootstrap --variant=minbase from the host's apt mirror
#        docker.io/library/rust:1.95-slim-bookworm the debian stand-in + gcc, libc6-dev + the host's rustup
#                                                  toolchain in /usr/local/rustup, cargo on PATH as upstream
#        docker.io/library/node:20-bookworm-slim   the debian stand-in + the host's node 20 and npm in /usr/local
#      The host's extra CA certificates (/usr/local/share/ca-certificates/*.crt) go into the stand-ins only, so
#      that cargo and npm inside a build trust the same HTTPS interception as the host. The Dockerfile itself
#      never sees them.
#   3. prints, on stdout, the `export` lines that point podman at these settings.
#
# A stand-in is rebuilt only when its inputs change (mirror, CA certificates, rustc or node version); each
# carries them in the label `ralph.standin.key`.
#
# CACHE is $RALPH_PODMAN_CACHE, default /var/cache/ralph-podman: outside the clone, so a fresh CI checkout
# reuses the stand-ins, the built image layers and buildah's cargo/npm caches. About 3 to 5 GB (images and
# build stages, the cargo target directory). Remove it all with
#     eval "$(deploy/podman/setup-local-images.sh --env-only)" && podman system reset --force
# (not `rm -rf`: the storage holds overlay mounts).
#
# Needs root and `apt-get install podman buildah debootstrap runc`; on a machine with Docker none of this is
# needed: `docker build -t ralph .` pulls the real base images.
set -euo pipefail

CACHE=${RALPH_PODMAN_CACHE:-/var/cache/ralph-podman}
DEBIAN_IMAGE=docker.io/library/debian:bookworm-slim
RUST_IMAGE=docker.io/library/rust:1.95-slim-bookworm
NODE_IMAGE=docker.io/library/node:20-bookworm-slim
RUST_VERSION=1.95
NODE_MAJOR=20

log() { echo "setup-local-images: $*" >&2; }
die() { log "error: $*"; exit 1; }

env_only=false
case "${1:-}" in
  --env-only) env_only=true ;;
  "") ;;
  *) die "unknown argument '$1' (usage: $0 [--env-only])" ;;
esac

mkdir -p "$CACHE/storage/graph" "$CACHE/storage/run" "$CACHE/tmp"
export CONTAINERS_CONF="$CACHE/containers.conf"
export CONTAINERS_STORAGE_CONF="$CACHE/storage.conf"
print_env() {
  printf 'export CONTAINERS_CONF=%q\nexport CONTAINERS_STORAGE_CONF=%q\n' "$CONTAINERS_CONF" "$CONTAINERS_STORAGE_CONF"
}

# --- 1. settings ----------------------------------------------------------------------------------------
# Default ulimits ask for more than this kind of host allows ("setrlimit ... Operation not permitted").
hard_nofile=$(ulimit -Hn); hard_nproc=$(ulimit -Hu)
[ "$hard_nofile" = unlimited ] && hard_nofile=1048576
[ "$hard_nproc" = unlimited ] && hard_nproc=1048576
# (nproc above 32768 is refused here even below the hard limit of 96363: stay at or below both.)
nofile=$(( hard_nofile < 65536 ? hard_nofile : 65536 ))
nproc=$(( hard_nproc < 32768 ? hard_nproc : 32768 ))
write_if_changed() { # PATH CONTENT
  if [ ! -f "$1" ] || [ "$(cat "$1")" != "$2" ]; then printf '%s\n' "$2" > "$1.tmp" && mv "$1.tmp" "$1"; fi
}
# crun 1.8 (Debian 12) fails with "cgroups in hybrid mode not supported": use runc.
write_if_changed "$CONTAINERS_CONF" "# written by deploy/podman/setup-local-images.sh
[containers]
default_ulimits = [\"nofile=$nofile:$nofile\", \"nproc=$nproc:$nproc\"]

[engine]
runtime = \"runc\"
image_copy_tmp_dir = \"$CACHE/tmp\""
write_if_changed "$CONTAINERS_STORAGE_CONF" "# written by deploy/podman/setup-local-images.sh
[storage]
driver = \"overlay\"
graphroot = \"$CACHE/storage/graph\"
runroot = \"$CACHE/storage/run\""

if $env_only; then print_env; exit 0; fi

for tool in podman buildah debootstrap; do
  command -v "$tool" >/dev/null || die "$tool is not installed (apt-get install -y podman buildah debootstrap runc)"
done
[ "$(id -u)" = 0 ] || die "run as root (debootstrap and rootful podman)"

# One setup at a time (parallel test binaries, several checkouts).
exec 9>"$CACHE/setup.lock"
flock 9

# The key a stand-in was built from ("" when the image does not exist).
image_key() { podman image inspect --format '{{ index .Labels "ralph.standin.key" }}' "$1" 2>/dev/null || true; }

ca_certs=(/usr/local/share/ca-certificates/*.crt)
[ -e "${ca_certs[0]}" ] || ca_certs=()
ca_hash=$( { [ ${#ca_certs[@]} -eq 0 ] || cat "${ca_certs[@]}"; } | sha256sum | cut -c1-16)

# --- 2a. debian:bookworm-slim ------------------------------------------------------------------------------
# The mirror the host's apt uses (deb822 `URIs:` or one-line `deb URI suite`), for bookworm main.
mirror=$(sed -n 's/^URIs:[[:space:]]*\([^[:space:]]*\).*/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null \
  | grep -v -- -security | head -n1 || true)
if [ -z "$mirror" ]; then
  mirror=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
    | awk '$1=="deb" && $0 ~ /bookworm/ && $0 !~ /security/ {for (i=2;i<=NF;i++) if ($i ~ /^[a-z]+:\/\//) {print $i; exit}}')
fi
[ -n "$mirror" ] || mirror=http://deb.debian.org/debian
debian_key="debootstrap minbase bookworm $mirror ca=$ca_hash v1"
if [ "$(image_key "$DEBIAN_IMAGE")" != "$debian_key" ]; then
  log "creating $DEBIAN_IMAGE with debootstrap from $mirror (about 30 s)"
  rootfs=$(mktemp -d "$CACHE/tmp/rootfs.XXXXXX")
  trap 'rm -rf "$rootfs"' EXIT
  debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$CACHE/debootstrap.log" 2>&1 \
    || { tail -n 20 "$CACHE/debootstrap.log" >&2; die "debootstrap failed (log: $CACHE/debootstrap.log)"; }
  # As the official image: the same mirror in sources, no apt caches, certificates trusted by the host.
  printf 'deb %s bookworm main\n' "$mirror" > "$rootfs/etc/apt/sources.list"
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  if [ ${#ca_certs[@]} -gt 0 ]; then
    mkdir -p "$rootfs/usr/local/share/ca-certificates/host"
    cp "${ca_certs[@]}" "$rootfs/usr/local/share/ca-certificates/host/"
    # No ca-certificates package yet: keep a bundle the stand-ins' tools can be pointed at.
    cat "${ca_certs[@]}" > "$rootfs/usr/local/share/ca-certificates/host-bundle.pem"
  fi
  tar --numeric-owner -C "$rootfs" -c . | podman import --quiet \
    --change 'CMD ["bash"]' --change "LABEL ralph.standin.key=\"$debian_key\"" - "$DEBIAN_IMAGE" >/dev/null
  rm -rf "$rootfs"; trap - EXIT
fi
debian_id=$(podman image inspect --format '{{.Id}}' "$DEBIAN_IMAGE" | cut -c1-16)

# Builds image NAME from the debian stand-in: `setup_fn CONTAINER MOUNTPOINT` fills it, then it is committed.
build_standin() { # NAME KEY SETUP_FN
  local name=$1 key=$2 fn=$3 ctr mnt
  ctr=$(buildah from --pull-never "$DEBIAN_IMAGE")
  mnt=$(buildah mount "$ctr")
  "$fn" "$ctr" "$mnt"
  buildah umount "$ctr" >/dev/null
  buildah config --label "ralph.standin.key=$key" "$ctr"
  buildah commit --quiet --format docker --rm "$ctr" "$name" >/dev/null
}

# Installs Debian packages in the stand-in, with the host's CA certificates trusted.
apt_install() { # CONTAINER PACKAGES...
  local ctr=$1; shift
  buildah run --network host "$ctr" -- sh -c "apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends $* >/dev/null && rm -rf /var/lib/apt/lists/* \
    && if [ -d /usr/local/share/ca-certificates/host ]; then update-ca-certificates >/dev/null; fi"
}

# --- 2b. rust:1.95-slim-bookworm ---------------------------------------------------------------------------
toolchain=""
for t in "$HOME"/.rustup/toolchains/$RUST_VERSION.*-x86_64-unknown-linux-gnu "$HOME"/.rustup/toolchains/stable-x86_64-unknown-linux-gnu; do
  if [ -x "$t/bin/rustc" ] && "$t/bin/rustc" --version | grep -q "^rustc $RUST_VERSION\."; then toolchain=$t; break; fi
done
[ -n "$toolchain" ] || die "no rustup toolchain $RUST_VERSION.x in $HOME/.rustup/toolchains (rustup toolchain install $RUST_VERSION)"
rust_key="$("$toolchain/bin/rustc" --version) base=$debian_id v1"
fill_rust() {
  local ctr=$1 mnt=$2 dest
  apt_install "$ctr" ca-certificates gcc libc6-dev
  dest="$mnt/usr/local/rustup/toolchains/$(basename "$toolchain")"
  mkdir -p "$dest" "$mnt/usr/local/cargo/bin"
  tar -C "$toolchain" --exclude=./share --exclude=./lib/rustlib/src -c . | tar -C "$dest" -x
  for b in cargo rustc rustdoc; do ln -sf "../../rustup/toolchains/$(basename "$toolchain")/bin/$b" "$mnt/usr/local/cargo/bin/$b"; done
  buildah config --env RUSTUP_HOME=/usr/local/rustup --env CARGO_HOME=/usr/local/cargo \
    --env PATH=/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --env RUST_VERSION="$("$toolchain/bin/rustc" --version | cut -d' ' -f2)" "$ctr"
}
if [ "$(image_key "$RUST_IMAGE")" != "$rust_key" ]; then
  log "creating $RUST_IMAGE from $(basename "$toolchain") (about 30 s)"
  build_standin "$RUST_IMAGE" "$rust_key" fill_rust
fi

# --- 2c. node:20-bookworm-slim -----------------------------------------------------------------------------
node_bin=$(command -v node || true)
[ -n "$node_bin" ] || die "node is not installed (Node.js $NODE_MAJOR is copied from the host)"
node_version=$("$node_bin" --version)
case "$node_version" in v$NODE_MAJOR.*) ;; *) die "host node is $node_version, the stand-in needs Node.js $NODE_MAJOR" ;; esac
npm_dir=$(cd "$(dirname "$(readlink -f "$(command -v npm)")")/.." && pwd)
[ -f "$npm_dir/package.json" ] || die "cannot find npm's package directory (from $(command -v npm))"
node_key="node $node_version npm $(cat "$npm_dir/package.json" | sed -n 's/^  "version": "\(.*\)",/\1/p') base=$debian_id v1"
fill_node() {
  local ctr=$1 mnt=$2
  mkdir -p "$mnt/usr/local/bin" "$mnt/usr/local/lib/node_modules"
  cp "$(readlink -f "$node_bin")" "$mnt/usr/local/bin/node"
  cp -a "$npm_dir" "$mnt/usr/local/lib/node_modules/npm"
  ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$mnt/usr/local/bin/npm"
  ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$mnt/usr/local/bin/npx"
  buildah config --env NODE_VERSION="${node_version#v}" --cmd node "$ctr"
  if [ -f "$mnt/usr/local/share/ca-certificates/host-bundle.pem" ]; then
    buildah config --env NODE_EXTRA_CA_CERTS=/usr/local/share/ca-certificates/host-bundle.pem "$ctr"
  fi
}
if [ "$(image_key "$NODE_IMAGE")" != "$node_key" ]; then
  log "creating $NODE_IMAGE from the host's node $node_version"
  build_standin "$NODE_IMAGE" "$node_key" fill_node
fi

log "ready: $DEBIAN_IMAGE, $RUST_IMAGE, $NODE_IMAGE (storage in $CACHE)"
print_env
