#!/usr/bin/env bash
# Update EnergyApp to the newest commit of BRANCH: pull, install, back up, migrate, switch,
# restart, check health; roll back to the previous release when the new one is not healthy.
#
# Layout: $APP_ROOT/repo (git clone), $APP_ROOT/releases/<time>-<commit>, $APP_ROOT/current
# (symlink used by energyapp.service). Run as root (or a user allowed to restart the service).
set -euo pipefail

APP_ROOT="${APP_ROOT:-/opt/energyapp}"
REPO="${REPO:-$APP_ROOT/repo}"
BRANCH="${BRANCH:-main}"
SERVICE="${SERVICE:-energyapp}"
ENV_FILE="${ENV_FILE:-/etc/energyapp/energyapp.env}"
BACKUP_DIR="${BACKUP_DIR:-/var/backups/energyapp}"
HEALTH_URL="${HEALTH_URL:-http://127.0.0.1:8000/api/health}"
HEALTH_TIMEOUT="${HEALTH_TIMEOUT:-300}"
KEEP_RELEASES="${KEEP_RELEASES:-5}"
SYSTEMCTL="${SYSTEMCTL:-systemctl}"
INSTALL="${INSTALL:-make --no-print-directory deps bun}"
SERVICE_USER="${SERVICE_USER:-energyapp}"

log() { printf '%s deploy: %s\n' "$(date -u +%H:%M:%S)" "$*"; }

if [ -r "$ENV_FILE" ]; then set -a; . "$ENV_FILE"; set +a; fi

git -C "$REPO" fetch --quiet origin "$BRANCH"
commit="$(git -C "$REPO" rev-parse --short "origin/$BRANCH")"
previous=""
if [ -e "$APP_ROOT/current" ]; then previous="$(readlink -f "$APP_ROOT/current")"; fi
release="$APP_ROOT/releases/$(date -u +%Y%m%d%H%M%S)-$commit"
log "new release $release (previous: ${previous:-none})"

mkdir -p "$release"
git -C "$REPO" archive "origin/$BRANCH" | tar -x -C "$release"
(cd "$release" && $INSTALL)
# The service (not root) builds the frontend into its release folder at start.
if [ "$(id -u)" = 0 ] && id "$SERVICE_USER" >/dev/null 2>&1; then
  chown -R "$SERVICE_USER:" "$release"
fi
python="${PYTHON:-$release/.venv/bin/python}"

(cd "$release" && "$python" -m energyapp check-config)
case "${ENERGYAPP_DB_URL:-}" in
  postgresql*) log "backup: $("$release/deploy/backup.sh" "$BACKUP_DIR")" ;;
esac
(cd "$release" && "$python" -m energyapp migrate)

switch_to() { ln -sfn "$1" "$APP_ROOT/current.next" && mv -T "$APP_ROOT/current.next" "$APP_ROOT/current"; }

healthy() {
  local deadline=$((SECONDS + HEALTH_TIMEOUT)) body
  while [ "$SECONDS" -lt "$deadline" ]; do
    # The database must be reachable; Ollama being down is not the release's fault.
    if body="$(curl -fsS --max-time 5 "$HEALTH_URL" 2>/dev/null || curl -sS --max-time 5 "$HEALTH_URL" 2>/dev/null)" \
        && printf '%s' "$body" | tr -d ' \n' | grep -q '"database":{"ok":true'; then
      return 0
    fi
    sleep 2
  done
  return 1
}

switch_to "$release"
$SYSTEMCTL restart "$SERVICE"
if healthy; then
  log "healthy: $commit is live"
  ls -1dt "$APP_ROOT"/releases/*/ | tail -n +"$((KEEP_RELEASES + 1))" | xargs -r rm -rf
  exit 0
fi

log "NOT healthy after ${HEALTH_TIMEOUT}s: rolling back"
if [ -n "$previous" ] && [ -d "$previous" ]; then
  switch_to "$previous"
  $SYSTEMCTL restart "$SERVICE"
  if healthy; then log "rolled back to $previous"; else log "previous release is not healthy either"; fi
  log "if the new migration broke the old code, restore the backup in $BACKUP_DIR (deploy/restore.sh)"
fi
exit 1
