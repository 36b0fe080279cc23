#!/usr/bin/env bash
# Deploy the gateway to one machine over ssh, without a registry:
#   build the images for the target's CPU → docker save | ssh docker load → copy compose.yaml and nats.conf (and,
#   when asked, the site config and .env) → docker compose up -d --wait → on failure, roll back to the images that
#   ran before (tagged :previous) and the previous compose.yaml.
#
#   docker/deploy/deploy.sh [options] <ssh-target>        e.g. docker/deploy/deploy.sh pi@gateway-17.local
#
#   --dry-run            print every step, run nothing
#   --platform <p>       linux/arm64 (default), linux/amd64, or auto (asks the target: uname -m)
#   --dir <path>         gateway folder on the target (default /opt/voltimax)
#   --profile <name>     also deploy that compose profile's services, e.g. sim (repeatable)
#   --config <dir>       copy this folder to <dir>/config on the target (assets.json); default: keep the target's
#   --env-file <file>    copy this file to <dir>/.env on the target (passwords; mode 600)
#   --tag <tag>          image tag that compose.yaml runs (default: latest, as VOLTIMAX_TAG in .env)
#   --timeout <s>        how long to wait for every service to be healthy (default 180)
#   --ssh-config <file>  ssh client configuration to use (ssh -F <file>)
#
# Needs here: docker with buildx (and binfmt/QEMU for a foreign --platform), ssh, tar. On the target: docker with
# compose ≥ 2.20, tar, and an ssh user that may run docker and write --dir. Exit 0 deployed, 1 failed and rolled
# back, 2 usage, 3 failed and the rollback failed too (or there was nothing to roll back to).

# SC2029: remote command lines are built here on purpose, every value shell-quoted by quote() below.
# shellcheck disable=SC2029
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
readonly ROOT
readonly PREFIX="${VOLTIMAX_IMAGE_PREFIX:-voltimax}"

# Images deployed by default (the services, and cli for the one-shot bus-init), and per compose profile;
# tools/checks/deploy.spec.ts keeps these equal to compose.yaml's build targets.
readonly SERVICES=(cli cloud-bridge dashboard driver-host http-devices modbus-poller ocpp-csms safety-arbiter strategy-engine telemetry-publisher)
readonly SIM_SERVICES=(simulator)

DRY_RUN=0
PLATFORM=linux/arm64
DIR=/opt/voltimax
TAG=latest
TIMEOUT=180
CONFIG_DIR=
ENV_FILE=
TARGET=
PROFILES=()
SSH_OPTS=(-o BatchMode=yes -o ConnectTimeout=15)

usage() {
  sed -n '2,/^$/p' "${BASH_SOURCE[0]}" | sed -e 's/^# \{0,1\}//'
}

die() {
  printf 'deploy: %s\n' "$*" >&2
  exit 2
}

while [[ $# -gt 0 ]]; do
  case "$1" in
    --dry-run) DRY_RUN=1 ;;
    --platform) PLATFORM="${2:?--platform needs a value}"; shift ;;
    --dir) DIR="${2:?--dir needs a value}"; shift ;;
    --profile) PROFILES+=("${2:?--profile needs a value}"); shift ;;
    --config) CONFIG_DIR="${2:?--config needs a value}"; shift ;;
    --env-file) ENV_FILE="${2:?--env-file needs a value}"; shift ;;
    --tag) TAG="${2:?--tag needs a value}"; shift ;;
    --timeout) TIMEOUT="${2:?--timeout needs a value}"; shift ;;
    --ssh-config) SSH_OPTS+=(-F "${2:?--ssh-config needs a value}"); shift ;;
    -h | --help) usage; exit 0 ;;
    -*) die "unknown option $1 (see --help)" ;;
    *)
      [[ -z "$TARGET" ]] || die "one ssh target only (got $TARGET and $1)"
      TARGET="$1"
      ;;
  esac
  shift
done

[[ -n "$TARGET" ]] || die "missing <ssh-target> (see --help)"
[[ "$DIR" == /* ]] || die "--dir must be an absolute path"
[[ "$TIMEOUT" =~ ^[0-9]+$ ]] || die "--timeout must be a number of seconds"
[[ "$TAG" =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]*$ && "$TAG" != previous ]] || die "--tag must be a docker tag other than 'previous'"
[[ -z "$CONFIG_DIR" || -d "$CONFIG_DIR" ]] || die "--config $CONFIG_DIR is not a folder"
[[ -z "$ENV_FILE" || -f "$ENV_FILE" ]] || die "--env-file $ENV_FILE does not exist"
# Paths given relative to where the script was started; it works from the repository root below.
if [[ -n "$CONFIG_DIR" ]]; then CONFIG_DIR="$(cd "$CONFIG_DIR" && pwd)"; fi
if [[ -n "$ENV_FILE" ]]; then ENV_FILE="$(cd "$(dirname "$ENV_FILE")" && pwd)/$(basename "$ENV_FILE")"; fi
case "$PLATFORM" in
  linux/arm64 | linux/amd64 | auto) ;;
  *) die "--platform must be linux/arm64, linux/amd64 or auto" ;;
esac

deployed=("${SERVICES[@]}")
# ${a[@]+"${a[@]}"}: bash before 4.4 (macOS) treats an empty array as unset under set -u.
for profile in ${PROFILES[@]+"${PROFILES[@]}"}; do
  case "$profile" in
    sim) deployed+=("${SIM_SERVICES[@]}") ;;
    *) die "unknown compose profile $profile" ;;
  esac
done
images=()
for service in "${deployed[@]}"; do images+=("$PREFIX/$service"); done

# Shell-quotes each argument for a command line the target's shell will read.
quote() {
  local out='' arg
  for arg in "$@"; do out+=" $(printf '%q' "$arg")"; done
  printf '%s' "${out# }"
}

step() { printf '==> %s\n' "$*"; }

# Runs a local command (prints it first).
run() {
  printf '+ %s\n' "$(quote "$@")"
  if [[ $DRY_RUN -eq 0 ]]; then "$@"; fi
}

# Runs a shell command line on the target (prints it first).
remote() {
  printf '+ ssh %s %s\n' "$TARGET" "$1"
  if [[ $DRY_RUN -eq 0 ]]; then ssh "${SSH_OPTS[@]}" "$TARGET" "$1"; fi
}

compose_args=(docker compose -f "$DIR/compose.yaml")
for profile in ${PROFILES[@]+"${PROFILES[@]}"}; do compose_args+=(--profile "$profile"); done
COMPOSE="$(quote "${compose_args[@]}")"
UP="$COMPOSE up -d --no-build --remove-orphans --wait --wait-timeout $(quote "$TIMEOUT")"
IMAGE_LIST="$(quote "${images[@]}")"
QTAG="$(quote "$TAG")"
QDIR="$(quote "$DIR")"
# The nats container bind-mounts nats.conf and is not recreated when only the file changes: a server still running
# the old permissions would refuse the new images (e.g. their per-user reply inboxes). So when the file differs from
# the one that ran before, nats is recreated first (the services reconnect; JetStream keeps its volume).
NATS_CHANGED="[ -f docker/nats/nats.conf.previous ] && ! cmp -s docker/nats/nats.conf docker/nats/nats.conf.previous"
RECREATE_NATS="$COMPOSE up -d --no-deps --force-recreate nats"
readonly COMPOSE UP IMAGE_LIST QTAG QDIR NATS_CHANGED RECREATE_NATS

# On the target after a failed start: the previous compose.yaml, nats.conf and images back, then start again.
ROLLBACK="set -e; cd $QDIR; restored=0; nats_changed=0; if $NATS_CHANGED; then nats_changed=1; fi; \
for f in compose.yaml docker/nats/nats.conf; do if [ -f \"\$f.previous\" ]; then cp -p \"\$f.previous\" \"\$f\"; fi; done; \
for i in $IMAGE_LIST; do if docker image inspect \"\$i:previous\" >/dev/null 2>&1; then docker tag \"\$i:previous\" \"\$i:\"$QTAG; restored=1; fi; done; \
if [ \"\$restored\" = 0 ]; then echo 'no previous images: nothing to roll back to' >&2; exit 3; fi; \
if [ \"\$nats_changed\" = 1 ]; then $RECREATE_NATS; fi; \
$UP"
readonly ROLLBACK

cd "$ROOT"
[[ $DRY_RUN -eq 1 ]] && step "dry run: nothing below is executed"

if [[ "$PLATFORM" == auto ]]; then
  step "asking $TARGET for its CPU"
  if [[ $DRY_RUN -eq 1 ]]; then
    remote 'uname -m'
    PLATFORM=linux/arm64
    step "dry run: assuming $PLATFORM"
  else
    printf '+ ssh %s uname -m\n' "$TARGET"
    machine="$(ssh "${SSH_OPTS[@]}" "$TARGET" 'uname -m')"
    case "$machine" in
      aarch64 | arm64) PLATFORM=linux/arm64 ;;
      x86_64 | amd64) PLATFORM=linux/amd64 ;;
      *) die "target CPU $machine is not built for (linux/arm64, linux/amd64)" ;;
    esac
    step "target is $PLATFORM"
  fi
fi

step "building ${deployed[*]} for $PLATFORM"
for service in "${deployed[@]}"; do
  run docker buildx build --platform "$PLATFORM" -f docker/Dockerfile --target "$service" \
    -t "$PREFIX/$service:$TAG" --load .
done

step "keeping the running images as :previous on $TARGET"
remote "set -e; mkdir -p $QDIR/docker/nats $QDIR/config; cd $QDIR; \
for f in compose.yaml docker/nats/nats.conf; do if [ -f \"\$f\" ]; then cp -p \"\$f\" \"\$f.previous\"; fi; done; \
for i in $IMAGE_LIST; do if docker image inspect \"\$i:\"$QTAG >/dev/null 2>&1; then docker tag \"\$i:\"$QTAG \"\$i:previous\"; fi; done"

step "sending the images to $TARGET (docker save | ssh docker load)"
tagged=()
for image in "${images[@]}"; do tagged+=("$image:$TAG"); done
printf '+ %s | ssh -C %s docker load\n' "$(quote docker save "${tagged[@]}")" "$TARGET"
if [[ $DRY_RUN -eq 0 ]]; then docker save "${tagged[@]}" | ssh "${SSH_OPTS[@]}" -C "$TARGET" 'docker load'; fi

step "copying compose.yaml and docker/nats/nats.conf to $TARGET:$DIR"
printf '+ tar -cf - compose.yaml docker/nats/nats.conf | ssh %s tar -C %s -xf -\n' "$TARGET" "$QDIR"
if [[ $DRY_RUN -eq 0 ]]; then
  tar -cf - compose.yaml docker/nats/nats.conf | ssh "${SSH_OPTS[@]}" "$TARGET" "tar -C $QDIR -xf -"
fi
if [[ -n "$CONFIG_DIR" ]]; then
  step "copying the site configuration $CONFIG_DIR to $TARGET:$DIR/config"
  printf '+ tar -C %s -cf - . | ssh %s tar -C %s/config -xf -\n' "$(quote "$CONFIG_DIR")" "$TARGET" "$QDIR"
  if [[ $DRY_RUN -eq 0 ]]; then
    tar -C "$CONFIG_DIR" -cf - . | ssh "${SSH_OPTS[@]}" "$TARGET" "tar -C $QDIR/config -xf -"
  fi
fi
if [[ -n "$ENV_FILE" ]]; then
  step "copying $ENV_FILE to $TARGET:$DIR/.env"
  printf '+ ssh %s umask 077 && cat > %s/.env < %s\n' "$TARGET" "$QDIR" "$(quote "$ENV_FILE")"
  if [[ $DRY_RUN -eq 0 ]]; then
    ssh "${SSH_OPTS[@]}" "$TARGET" "umask 077 && cat > $QDIR/.env" <"$ENV_FILE"
  fi
fi

step "starting on $TARGET and waiting up to ${TIMEOUT}s for every service to be healthy"
if remote "cd $QDIR && if $NATS_CHANGED; then $RECREATE_NATS; fi && $UP"; then
  remote "$COMPOSE ps"
  if [[ $DRY_RUN -eq 1 ]]; then
    step "dry run: only if a service does not become healthy, roll back with"
    printf '+ ssh %s %s\n' "$TARGET" "$ROLLBACK"
  fi
  step "deployed ${deployed[*]} ($TAG) to $TARGET:$DIR"
  exit 0
fi

step "not healthy: rolling back to the previous images on $TARGET"
remote "$COMPOSE ps; $COMPOSE logs --tail 50" || true
if remote "$ROLLBACK"; then
  step "rolled back: the previous images run again on $TARGET; the new ones failed (logs above)"
  exit 1
fi
step "rollback failed too: look at $TARGET yourself (docker compose -f $DIR/compose.yaml ps / logs)"
exit 3
