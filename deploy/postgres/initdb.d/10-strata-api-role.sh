#!/bin/sh
# The API's PostgreSQL role, made once when the postgres image initialises an empty data
# directory (it runs /docker-entrypoint-initdb.d/*.sh as the official image does; compose mounts
# this folder there). POSTGRES_USER is the superuser, for operators; the replicas log in as
# `strata`, which is no superuser, cannot create roles or databases, and owns the `strata`
# database: it may create the schema (apps/api/src/db/migrate.ts: CREATE TABLE IF NOT EXISTS in
# `public`, which PostgreSQL >= 15 gives to the database owner) and nothing outside it.
# The password goes in as a psql variable, so no quoting of it can break the statement.
# No `set -eu`: the image sources this file instead of running it when it has lost its execute
# bit, and the options would then leak into the image's own entrypoint. A failure exits instead,
# which stops the first start with the error in `docker compose logs postgres`.
: "${POSTGRES_API_PASSWORD:?POSTGRES_API_PASSWORD must be set}"
psql -v ON_ERROR_STOP=1 --no-psqlrc --no-password \
  --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  --set api_password="$POSTGRES_API_PASSWORD" --set db="$POSTGRES_DB" <<'SQL' || exit 1
CREATE ROLE strata LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
  PASSWORD :'api_password';
ALTER DATABASE :"db" OWNER TO strata;
SQL
echo "strata-initdb: role strata created, owner of database $POSTGRES_DB"
