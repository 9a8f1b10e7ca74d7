#!/bin/bash
# Long fuzzing: each libFuzzer target for ten minutes (the suite gives
# them 30 s each), from its seed corpus, the corpus it grows kept in
# bench/build-fuzz/ for the next run.
#
#	bench/fuzz.sh [SECONDS]        default 600 per target
#
# Builds the targets with clang (AddressSanitizer, UBSan, libFuzzer)
# out of tree in bench/build-fuzz, runs fuzz_mime, fuzz_imap_resp,
# fuzz_gmail and fuzz_html one after the other, and prints for each its runs, its
# coverage and whether it crashed or leaked. A crash leaves its input in
# bench/build-fuzz/ (crash-*, leak-*); the script exits non-zero.

set -u
bench_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src_dir=$(cd "$bench_dir/.." && pwd)
dir=$bench_dir/build-fuzz
secs=${1:-600}
rc=0

command -v clang >/dev/null || {
	echo "fuzz.sh: clang is needed (apt-get install clang)" >&2
	exit 2
}
mkdir -p "$dir"
if [ ! -f "$dir/Makefile" ]; then
	(cd "$dir" && CC=clang "$src_dir/configure" --enable-fuzzing \
	    >configure.log 2>&1) || { tail -n 20 "$dir/configure.log"; exit 1; }
fi
(cd "$dir" && make -j2 t/fuzz/fuzz_mime t/fuzz/fuzz_imap_resp \
    t/fuzz/fuzz_gmail t/fuzz/fuzz_html >make.log 2>&1) || { tail -n 30 "$dir/make.log"; exit 1; }

# fuzz NAME DICT SEEDS
fuzz()
{
	local name=$1 log=$dir/fuzz-$1.log
	mkdir -p "$dir/corpus-$name"
	echo "$name: $secs s"
	if (cd "$dir" && "./t/fuzz/$name" -max_total_time="$secs" \
	    -rss_limit_mb=1024 -timeout=10 -dict="$2" "corpus-$name" "$3" \
	    >"$log" 2>&1); then
		echo "  $(grep -o 'Done [0-9]* runs in [0-9]* second(s)' "$log" |
		    tail -n 1), $(grep -o 'cov: [0-9]*' "$log" | tail -n 1),"\
		    "corpus $(ls "$dir/corpus-$name" | wc -l) inputs, no crash"
	else
		tail -n 40 "$log"
		echo "  FAILED: see $log"
		rc=1
	fi
}

fuzz fuzz_mime "$src_dir/t/fuzz/mime.dict" "$src_dir/t/data"
fuzz fuzz_imap_resp "$src_dir/t/fuzz/imap.dict" "$src_dir/t/fuzz/imap_seeds"
fuzz fuzz_gmail "$src_dir/t/fuzz/gmail.dict" "$src_dir/t/fuzz/gmail_seeds"
fuzz fuzz_html "$src_dir/t/fuzz/html.dict" "$src_dir/t/fuzz/html_seeds"
exit "$rc"
