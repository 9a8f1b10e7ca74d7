#!/bin/bash
# demo/run in a checkout whose source directory is configured, as a
# package build (dpkg-buildpackage) leaves it: the demo builds there
# instead of failing with "source directory already configured", and
# shows the conversations of its sample mail.

. "${top_srcdir:-$(dirname "$0")/../..}/t/lib/harness.sh"

SRC=$TEST_TMP/src
mkdir -p "$SRC"

# Tracked files and new ones not ignored: what a checkout holds.
if git -C "$top_srcdir" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	git -C "$top_srcdir" ls-files -z --cached --others --exclude-standard |
	    (cd "$top_srcdir" && xargs -0 -r sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh) |
	    tar -C "$top_srcdir" --null -T - -cf - | tar -C "$SRC" -xf - ||
	    bail_out "copying the tree failed"
else
	skip_all "not in a git checkout"
fi

# What dh_autoreconf and dh_auto_configure do: configure in the source
# directory itself.
(cd "$SRC" && ./autogen.sh && ./configure) >"$TEST_TMP/configure.log" 2>&1 ||
    bail_out "configuring the copy failed: $(tail -n 5 "$TEST_TMP/configure.log")"
ok "the copy's source directory is configured" test -f "$SRC/config.status"

# A clean environment: the demo starts its own servers with the harness,
# which must not inherit this test's.
rc=0
env -i PATH="$PATH" HOME="${HOME:-/root}" LC_ALL=C.UTF-8 INBOXD_NO_APT=1 \
    timeout 900 "$SRC/demo/run" </dev/null >"$TEST_TMP/demo.log" 2>&1 || rc=$?
is "$rc" 0 "demo/run exits 0"
[ "$rc" -eq 0 ] || diag "$(tail -n 20 "$TEST_TMP/demo.log")"
is "$(grep -c 'already configured' "$TEST_TMP/demo.log")" 0 \
    "no \"source directory already configured\""
ok "inboxd and inboxctl were built in the source directory" \
    test -x "$SRC/inboxd" -a -x "$SRC/inboxctl"
like "$(sed -n '/== inboxctl conversations/,/==/p' "$TEST_TMP/demo.log")" \
    'needs_reply' "the demo shows its conversations"

done_testing
