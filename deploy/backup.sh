#!/usr/bin/env bash
# Back up the EnergyApp PostgreSQL database: a custom-format pg_dump, kept KEEP_DAYS days.
# Usage: deploy/backup.sh [backup-dir]   (DB URL from ENERGYAPP_DB_URL or /etc/energyapp/energyapp.env)
# Cron example: 15 3 * * * energyapp /opt/energyapp/current/deploy/backup.sh /var/backups/energyapp
set -euo pipefail
BACKUP_DIR="${1:-/var/backups/energyapp}"
KEEP_DAYS="${KEEP_DAYS:-14}"
if [ -z "${ENERGYAPP_DB_URL:-}" ] && [ -r /etc/energyapp/energyapp.env ]; then
  ENERGYAPP_DB_URL="$(grep -E '^ENERGYAPP_DB_URL=' /etc/energyapp/energyapp.env | cut -d= -f2-)"
fi
: "${ENERGYAPP_DB_URL:?set ENERGYAPP_DB_URL}"
case "$ENERGYAPP_DB_URL" in
  postgresql*) ;;
  *) echo "backup.sh: only PostgreSQL is backed up this way; copy the SQLite file instead" >&2; exit 2 ;;
esac
url="${ENERGYAPP_DB_URL/postgresql+psycopg2:/postgresql:}"
mkdir -p "$BACKUP_DIR"
umask 077
file="$BACKUP_DIR/energyapp-$(date -u +%Y%m%dT%H%M%SZ).dump"
pg_dump --format=custom --no-owner --file="$file.partial" "$url"
mv "$file.partial" "$file"
find "$BACKUP_DIR" -name 'energyapp-*.dump' -mtime +"$KEEP_DAYS" -delete
echo "$file"
