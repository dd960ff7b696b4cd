#!/usr/bin/env bash
# The crash, replica and VACUUM-churn scenarios on indexes built WITH (quantization = 'sq8'): the
# elements then hold SQ8 codes and scans hand lower bounds to the executor, which re-ranks; the
# same checks (acknowledged rows indexed with their codes, semvec_index_check clean, every row
# returned first for its own vector, replica answers equal to the primary's) must hold.
set -e
here="$(dirname "$0")"
export HNSW_WITH="quantization = 'sq8'"
rc=0
for s in crash_recovery replication vacuum_churn; do
    bash "$here/$s.sh" || rc=1
done
exit $rc
