# Sourced by awscli_paging.sh and awscli_io.sh: `same ARGS...` runs
# `aws sqs --endpoint-url $EP ARGS` and `lmq ARGS` and counts a failure
# (printed with $TAG) unless both print the same bytes on stdout and stderr
# and exit with the same status. Needs AWS, EP, LMQ, WORK and TAG set.
fails=0
cases=0
same() {
	cases=$((cases + 1))
	"$AWS" sqs --endpoint-url "$EP" "$@" >"$WORK/a.out" 2>"$WORK/a.err"
	echo "exit $?" >>"$WORK/a.out"
	"$LMQ" "$@" >"$WORK/l.out" 2>"$WORK/l.err"
	echo "exit $?" >>"$WORK/l.out"
	if ! cmp -s "$WORK/a.out" "$WORK/l.out" || ! cmp -s "$WORK/a.err" "$WORK/l.err"; then
		echo "$TAG: FAIL: $*" >&2
		diff "$WORK/a.out" "$WORK/l.out" >&2
		diff "$WORK/a.err" "$WORK/l.err" >&2
		fails=$((fails + 1))
	fi
}
