# syntax=docker/dockerfile:1
# ralph in a container: the `ralph` binary, git, Node.js 20 and the agent CLIs, running as the non-root user
# `ralph` (uid 1000) in /workspace.
#
#   docker build -t ralph .
#   docker run --rm -v "$PWD":/workspace -e ANTHROPIC_API_KEY ralph --agent claude --prompt PROMPT.md
#
# Agent CLIs are pinned with build arguments; an empty value leaves that CLI out, e.g.
#   docker build --build-arg GEMINI_CLI_VERSION= --build-arg CODEX_VERSION= --build-arg QWEN_CODE_VERSION= -t ralph:claude .
# Without a Docker engine or registry (podman): see docs/container.md and deploy/podman/setup-local-images.sh.

# --- build: the release binary ------------------------------------------------------------------------------
FROM docker.io/library/rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY . .
# The cargo registry and the target directory are build caches, not layers: a rebuild after a source change
# recompiles only what changed.
RUN --mount=type=cache,id=ralph-cargo-registry,target=/usr/local/cargo/registry \
    --mount=type=cache,id=ralph-cargo-target,target=/src/target \
    cargo build --release --locked -p ralph-loop-cli --bin ralph \
    && install -m 0755 target/release/ralph /usr/local/bin/ralph

# --- agents: the agent CLIs from npm, at pinned versions -----------------------------------------------------
FROM docker.io/library/node:20-bookworm-slim AS agents
ARG CLAUDE_CODE_VERSION=2.1.197
ARG GEMINI_CLI_VERSION=0.61.0
ARG CODEX_VERSION=0.171.0
ARG QWEN_CODE_VERSION=0.15.10
# The versions are pinned by the build args above (DL3016), and $pkgs is split into packages on purpose (SC2086).
# hadolint ignore=DL3016,SC2086
RUN --mount=type=cache,id=ralph-npm,target=/root/.npm \
    set -eu; \
    pkgs=""; \
    if [ -n "$CLAUDE_CODE_VERSION" ]; then pkgs="$pkgs @anthropic-ai/claude-code@$CLAUDE_CODE_VERSION"; fi; \
    if [ -n "$GEMINI_CLI_VERSION" ]; then pkgs="$pkgs @google/gemini-cli@$GEMINI_CLI_VERSION"; fi; \
    if [ -n "$CODEX_VERSION" ]; then pkgs="$pkgs @openai/codex@$CODEX_VERSION"; fi; \
    if [ -n "$QWEN_CODE_VERSION" ]; then pkgs="$pkgs @qwen-code/qwen-code@$QWEN_CODE_VERSION"; fi; \
    mkdir -p /opt/agents/bin; \
    if [ -n "$pkgs" ]; then \
      npm install --global --prefix /opt/agents --omit=dev --no-audit --no-fund --loglevel=error $pkgs; \
    fi

# --- runtime -----------------------------------------------------------------------------------------------
FROM docker.io/library/debian:bookworm-slim
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="ralph" \
      org.opencontainers.image.description="Runs an AI coding agent CLI in a loop until the task is done." \
      org.opencontainers.image.version="$VERSION" \
      org.opencontainers.image.revision="$REVISION" \
      org.opencontainers.image.created="$CREATED" \
      org.opencontainers.image.licenses="MIT OR Apache-2.0" \
      org.opencontainers.image.source="https://example.invalid/ralph" \
      org.opencontainers.image.base.name="docker.io/library/debian:bookworm-slim"

# git for the agents (ralph's checkpoints use gitoxide); ca-certificates for HTTPS to the model APIs.
# safe.directory '*': a workspace mounted from the host usually belongs to another uid than the container
# user, and git (the agents run it) would refuse it as "dubious ownership". HOME is world-writable (sticky,
# like /tmp) so that `--user UID:GID` with any uid can keep the agents' settings there.
# Debian stable's git and ca-certificates take security updates only; pinning their exact versions would
# make the build fail at every point release (DL3008).
# hadolint ignore=DL3008
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends git ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && git config --system --add safe.directory '*' \
    && useradd --uid 1000 --user-group --create-home --home-dir /home/ralph --shell /bin/bash ralph \
    && chmod 1777 /home/ralph \
    && mkdir -p /workspace \
    && chown ralph:ralph /workspace

COPY --from=agents /usr/local/bin/node /usr/local/bin/node
COPY --from=agents /opt/agents /opt/agents
COPY --from=build /usr/local/bin/ralph /usr/local/bin/ralph

ENV PATH=/opt/agents/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    HOME=/home/ralph \
    LANG=C.UTF-8 \
    RALPH_METRICS_ADDR=0.0.0.0 \
    DISABLE_AUTOUPDATER=1

# Numeric, so that Kubernetes can verify `runAsNonRoot` without a passwd lookup (the user is `ralph`).
USER 1000:1000
WORKDIR /workspace
EXPOSE 8080
# No init needed: as PID 1 ralph runs itself as a child and stays behind as a minimal init (reaps orphans,
# forwards SIGINT/SIGTERM/SIGHUP/SIGQUIT).
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 CMD ["ralph", "health"]
ENTRYPOINT ["ralph"]
CMD ["--help"]
