# Sourced by awscli_paging.sh and awscli_io.sh: `same ARGS...` runs
# `aws sqs --endpoint-url $EP ARGS` and `lmq ARGS` and counts a failure
# (printed with $TAG) unless both print the same bytes on stdout and stderr
# and exit with the same status. Needs AWS, EP, LMQ, WORK and TAG set.
#
# The sanitizer pass of scripts/test (LMQ_TEST_SAN set) runs every third
# case that cannot change the home (the read-only commands, skeletons);
# every case that can change it runs, so later cases see the same home.
# The plain pass runs every case: it is the one that proves the bytes.
fails=0
cases=0
sampled=0
same_reads=0
same() {
	if [ -n "${LMQ_TEST_SAN:-}" ] && [ "${LMQ_TEST_SAN}" != 0 ]; then
		case " $1 $* " in
		" list-queues "* | " get-queue-url "* | " get-queue-attributes "* | \
			" list-queue-tags "* | " list-dead-letter-source-queues "* | \
			*" --generate-cli-skeleton "*)
			same_reads=$((same_reads + 1))
			if [ $((same_reads % 3)) -ne 1 ]; then
				sampled=$((sampled + 1))
				return 0
			fi
			;;
		esac
	fi
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
