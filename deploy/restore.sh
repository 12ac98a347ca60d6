#!/usr/bin/env bash
# Restore a backup made by backup.sh into the database of ENERGYAPP_DB_URL (stop the service
# first: systemctl stop energyapp). Existing objects are replaced.
# Usage: deploy/restore.sh /var/backups/energyapp/energyapp-YYYYmmddTHHMMSSZ.dump
set -euo pipefail
dump="${1:?usage: restore.sh BACKUP_FILE}"
[ -r "$dump" ] || { echo "restore.sh: cannot read $dump" >&2; exit 2; }
if [ -z "${ENERGYAPP_DB_URL:-}" ] && [ -r /etc/energyapp/energyapp.env ]; then
  ENERGYAPP_DB_URL="$(grep -E '^ENERGYAPP_DB_URL=' /etc/energyapp/energyapp.env | cut -d= -f2-)"
fi
: "${ENERGYAPP_DB_URL:?set ENERGYAPP_DB_URL}"
url="${ENERGYAPP_DB_URL/postgresql+psycopg2:/postgresql:}"
pg_restore --clean --if-exists --no-owner --single-transaction --dbname="$url" "$dump"
echo "restored $dump"
