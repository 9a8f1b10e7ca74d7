# A throwaway PostgreSQL 15 for integration tests (bash).
#
#	pg_start      start a private cluster in "$TEST_TMP/pg" on a free
#	              loopback port (again on the same data and port when it
#	              was started before in this test), with role and
#	              database "inboxd", and export PGHOST, PGPORT, PGUSER,
#	              PGDATABASE and INBOXD_TEST_CONNINFO; puts the server's
#	              bin directory (psql, pgbench) first in PATH
#	pg_stop       fast shutdown; does nothing when not running
#	pg_restart    pg_stop then pg_start, same port
#	pg_kill9      SIGKILL the postmaster, as a crash would, and wait
#	              until its backends have gone
#	psql_q SQL    run SQL as inboxd, print the unaligned result
#	psql_su SQL   the same as the superuser "postgres"
#	free_port     a free TCP port on 127.0.0.1, for any test server
#
# TEST_TMP must be set (t/lib/harness.sh does it). PostgreSQL refuses to
# run as root, so as root the server runs as the "postgres" user. initdb
# is slow, so it runs once into a template cluster under
# ${top_builddir:-/tmp}/t/tmp that each test copies.
#
# This file only defines functions: safe to source.

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}

_pg_owner()
{
	if [ "$(id -u)" -eq 0 ]; then
		echo postgres
	else
		id -un
	fi
}

# Runs a server-side command as the user that owns the cluster.
_pg_run()
{
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

# The kernel picks one; there is a small race until the server binds
# it, which the servers' start-up checks catch.
free_port()
{
	"${PYTHON3:-python3}" -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# Settings every test cluster shares. Durability is traded for speed: a
# test cluster never outlives its test.
_pg_write_conf()
{
	cat >>"$1/postgresql.conf" <<-'EOF'

	# t/lib/pg.sh
	listen_addresses = '127.0.0.1'
	max_connections = 100
	fsync = off
	synchronous_commit = off
	full_page_writes = off
	log_min_messages = warning
	log_line_prefix = '%m [%p] %u '
	EOF
	cat >"$1/pg_hba.conf" <<-'EOF'
	local all all trust
	host all all 127.0.0.1/32 trust
	EOF
}

# Builds the template in a fresh directory and renames it into place,
# so a half-built template is never seen.
_pg_make_template()
{
	local tpl=$1 work sock version

	version=$("$PG_BIN/postgres" --version)
	work=$(mktemp -d "$TEST_TMP/pg-init.XXXXXX")
	chmod 755 "$work"
	mkdir "$work/data" "$work/sock"
	chown "$(_pg_owner)" "$work/data" "$work/sock"
	if ! _pg_run "$PG_BIN/initdb" -D "$work/data" -U postgres \
	    --auth=trust -E UTF8 --locale=C.UTF-8 >"$work/initdb.log" 2>&1; then
		cat "$work/initdb.log" >&2
		return 1
	fi
	_pg_write_conf "$work/data"
	_pg_run "$PG_BIN/pg_ctl" -D "$work/data" -l "$work/sock/log" -w \
	    -o "-c listen_addresses= -k $work/sock" start >/dev/null || {
		cat "$work/sock/log" >&2
		return 1
	}
	local rc=0
	"$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$work/sock" -U postgres -d postgres \
	    -c "CREATE ROLE inboxd LOGIN" \
	    -c "CREATE DATABASE inboxd OWNER inboxd" >/dev/null || rc=$?
	_pg_run "$PG_BIN/pg_ctl" -D "$work/data" -m fast -w stop >/dev/null
	[ $rc -eq 0 ] || return 1
	echo "$version" >"$work/data/.template-version"

	mkdir -p "$(dirname "$tpl")"
	rm -rf "$tpl.new" "$tpl"
	cp -a "$work/data" "$tpl.new" && mv "$tpl.new" "$tpl"
	rm -rf "$work"
}

_pg_template()
{
	local tpl=${top_builddir:-/tmp}/t/tmp/pg-template version

	version=$("$PG_BIN/postgres" --version)
	mkdir -p "$(dirname "$tpl")"
	(
		# Tests run in parallel: one builds, the others wait.
		flock 9
		if [ "$(cat "$tpl/.template-version" 2>/dev/null)" != "$version" ]; then
			_pg_make_template "$tpl" || exit 1
		fi
	) 9>"$tpl.lock" || return 1
	echo "$tpl"
}

_pg_export()
{
	# Debian's /usr/bin/psql is a Perl wrapper that costs tens of
	# milliseconds a call; tests call psql hundreds of times.
	case ":$PATH:" in
	*":$PG_BIN:"*) ;;
	*) export PATH="$PG_BIN:$PATH" ;;
	esac
	export PGHOST=127.0.0.1 PGPORT=$1 PGUSER=inboxd PGDATABASE=inboxd
	export INBOXD_TEST_CONNINFO="host=127.0.0.1 port=$1 dbname=inboxd user=inboxd"
	unset PGPASSWORD PGSERVICE PGOPTIONS
}

pg_start()
{
	local dir=$TEST_TMP/pg tpl port try

	if [ -z "${TEST_TMP:-}" ]; then
		echo "pg_start: TEST_TMP is not set" >&2
		return 1
	fi
	if [ ! -d "$dir/data" ]; then
		# The server's user must be able to reach its directory.
		[ "$(id -u)" -eq 0 ] && chmod o+x "$TEST_TMP"
		tpl=$(_pg_template) || return 1
		mkdir -p "$dir/sock"
		cp -a "$tpl" "$dir/data" || return 1
		chown -R "$(_pg_owner)" "$dir"
		echo "unix_socket_directories = '$dir/sock'" \
		    >>"$dir/data/postgresql.conf"
	fi

	# The port is chosen once and kept in postgresql.conf: a restart
	# reuses it, as clients expect.
	for try in 1 2 3 4 5; do
		port=$(sed -n "s/^port = \([0-9]*\).*/\1/p" \
		    "$dir/data/postgresql.conf" | tail -n 1)
		if [ -z "$port" ]; then
			port=$(free_port) || return 1
			echo "port = $port" >>"$dir/data/postgresql.conf"
		fi
		if _pg_run "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/log" -w \
		    -t 30 start >/dev/null 2>&1; then
			_pg_export "$port"
			PG_STARTED_ONCE=1
			return 0
		fi
		# Another test may have taken the port between our probe and
		# the bind: pick a new one, unless this is a restart.
		if grep -q "could not bind\|could not create any TCP" \
		    "$dir/log" 2>/dev/null && [ -z "${PG_STARTED_ONCE:-}" ]; then
			sed -i '/^port = /d' "$dir/data/postgresql.conf"
			: >"$dir/log"
			continue
		fi
		break
	done
	echo "pg_start: PostgreSQL did not start; its log:" >&2
	sed 's/^/  /' "$dir/log" >&2
	return 1
}

pg_stop()
{
	local data=${TEST_TMP:-/nonexistent}/pg/data pid

	[ -f "$data/postmaster.pid" ] || return 0
	if ! _pg_run "$PG_BIN/pg_ctl" -D "$data" -m fast -w -t 30 stop \
	    >/dev/null 2>&1; then
		pid=$(head -n 1 "$data/postmaster.pid" 2>/dev/null) || :
		[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
	fi
	return 0
}

pg_restart()
{
	pg_stop && pg_start
}

_pg_any_alive()
{
	local p
	for p in "$@"; do
		kill -0 "$p" 2>/dev/null && return 0
	done
	return 1
}

pg_kill9()
{
	local data=$TEST_TMP/pg/data pid children i

	pid=$(head -n 1 "$data/postmaster.pid" 2>/dev/null) || :
	[ -n "$pid" ] || return 1
	children=$(ps -o pid= --ppid "$pid" | tr -d ' ')
	kill -9 "$pid"
	# Backends notice the postmaster's death and exit; the next start
	# refuses to run while they still hold shared memory.
	for i in $(seq 100); do
		_pg_any_alive "$pid" $children || return 0
		sleep 0.1
	done
	echo "pg_kill9: backends of $pid still alive" >&2
	return 1
}

psql_q()
{
	psql -XAtq -v ON_ERROR_STOP=1 -c "$1"
}

psql_su()
{
	psql -XAtq -v ON_ERROR_STOP=1 -U postgres -c "$1"
}
