# Test Anything Protocol helpers for the integration tests (bash).
#
#	plan 5                      announce the count up front (optional)
#	ok "desc" cmd args...       passes when the command exits 0
#	nok "desc" cmd args...      passes when the command exits non-zero
#	is "$got" "$want" "desc"    string equality, shows both on failure
#	isnt "$got" "$bad" "desc"
#	like "$got" 'regex' "desc"  bash =~ match
#	pass "desc" / fail "desc"
#	skip "why" [N]              N skipped tests (default 1)
#	skip_all "why"              skip the whole script and exit 0
#	diag "text"                 comment on stderr; note "text" on stdout
#	bail_out "why"              abort the run
#	done_testing                prints the plan if none was given, exits
#	                            non-zero when a test failed or the count
#	                            differs from the plan
#
# Assertions always return 0, so that a script may run under "set -e"
# and still report every failure; done_testing sets the exit status.
# Only functions and a few _tap_* variables: safe to source twice.

_tap_n=${_tap_n:-0}
_tap_failed=${_tap_failed:-0}
_tap_planned=${_tap_planned:-}

plan()
{
	_tap_planned=$1
	echo "1..$1"
}

_tap_result()
{
	# $1: 0 for a pass; $2: description.
	_tap_n=$((_tap_n + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $_tap_n - $2"
		return 0
	fi
	_tap_failed=$((_tap_failed + 1))
	echo "not ok $_tap_n - $2"
	# Say where, so a failure in a long script is easy to find.
	diag "  failed at ${BASH_SOURCE[2]:-?} line ${BASH_LINENO[1]:-?}"
	return 0
}

pass()
{
	_tap_result 0 "$1"
}

fail()
{
	_tap_result 1 "$1"
}

ok()
{
	local desc=$1 rc=0
	shift
	"$@" || rc=$?
	_tap_result "$rc" "$desc"
}

nok()
{
	local desc=$1
	shift
	if "$@"; then
		_tap_result 1 "$desc"
	else
		_tap_result 0 "$desc"
	fi
}

is()
{
	if [ "$1" = "$2" ]; then
		_tap_result 0 "$3"
		return 0
	fi
	_tap_result 1 "$3"
	diag "       got: '$1'"
	diag "  expected: '$2'"
}

isnt()
{
	if [ "$1" != "$2" ]; then
		_tap_result 0 "$3"
		return 0
	fi
	_tap_result 1 "$3"
	diag "       got: '$1' (must differ)"
}

like()
{
	if [[ $1 =~ $2 ]]; then
		_tap_result 0 "$3"
		return 0
	fi
	_tap_result 1 "$3"
	diag "       got: '$1'"
	diag "  expected to match: $2"
}

skip()
{
	local i n=${2:-1}
	for ((i = 0; i < n; i++)); do
		_tap_n=$((_tap_n + 1))
		echo "ok $_tap_n # SKIP $1"
	done
}

skip_all()
{
	echo "1..0 # SKIP $1"
	exit 0
}

diag()
{
	local line
	while IFS= read -r line; do
		echo "# $line" >&2
	done <<<"$*"
}

note()
{
	local line
	while IFS= read -r line; do
		echo "# $line"
	done <<<"$*"
}

bail_out()
{
	echo "Bail out! $*"
	exit 255
}

done_testing()
{
	if [ -z "$_tap_planned" ]; then
		echo "1..$_tap_n"
	elif [ "$_tap_planned" -ne "$_tap_n" ]; then
		diag "planned $_tap_planned tests but ran $_tap_n"
		exit 255
	fi
	if [ "$_tap_failed" -ne 0 ]; then
		diag "failed $_tap_failed of $_tap_n tests"
		exit 1
	fi
	exit 0
}
