#!/usr/bin/env bash
# Issue 6 quality figures: adapt minilm to each domain on its own pairs, score base and adapted
# models on the domain and general lite suites. Writes WORK/<run>/{comparison.json,adapt.json,model/}.
#
#   benchmarks/adapt_quality.sh WORK RUN [RUN ...]      # RUN = <domain>-<generator>, e.g. finance-ict
#
# Expects the lite suites in work/benchmarks/<suite>-lite and the corpora in work/corpus/<domain>
# (`make demo`; `domainemb export-corpus --domain D --out work/corpus/D`). ict and crop pairs are made
# here when missing (LIMIT of them); llm pairs must already be in work/pairs/<domain>-llm.jsonl.
# The base model is scored once per suite, and every run reuses those results. The runs go in
# parallel (PARALLEL=1 runs them one at a time), each with its own embedding cache.
set -euo pipefail
WORK=${1:?usage: adapt_quality.sh WORK RUN...}; shift
RUNS=("$@")
CONFIG=${CONFIG:-benchmarks/adapt_quality.yaml}
LIMIT=${LIMIT:-8000}
PARALLEL=${PARALLEL:-${#RUNS[@]}}
B=work/benchmarks
# Only for a quick check of this script: EVAL_TASKS="suite:Task ..." evaluates just those tasks
# (the config must select the same ones).
task_args() { for t in ${EVAL_TASKS:-}; do [ "${t%%:*}" = "$1" ] && printf -- '--tasks\n%s\n' "${t#*:}"; done; true; }
mkdir -p "$WORK" work/pairs
domainemb_() { "${DOMAINEMB:-domainemb}" "$@"; }
throttle() { while [ "$(jobs -rp | wc -l)" -ge "$PARALLEL" ]; do wait -n; done; }

# 1. the base model on every suite the runs need, once
suites=$(for run in "${RUNS[@]}"; do echo "${run%-*}"; done | sort -u; echo general)
for s in $suites; do
    mapfile -t args < <(task_args "$s")
    throttle
    DOMAINEMB_CACHE="$WORK/cache-base-$s" domainemb_ evaluate --benchmark "$B/$s-lite" --model minilm --out "$WORK/base" --save-predictions "${args[@]}" \
        >"$WORK/base-$s.log" 2>&1 &
done

# 2. pairs (while the base is scored)
for run in "${RUNS[@]}"; do
    d=${run%-*}; g=${run##*-}
    if [ ! -s "work/pairs/$run.jsonl" ]; then
        [ "$g" = llm ] && { echo "work/pairs/$run.jsonl is missing: run domainemb synth for it first" >&2; exit 2; }
        throttle
        DOMAINEMB_CACHE="$WORK/cache-synth-$run" domainemb_ synth --domain "$d" --corpus "work/corpus/$d" --generator "$g" \
            --limit "$LIMIT" --benchmark "$B/$d-lite" --out "work/pairs/$run.jsonl" >"$WORK/synth-$run.log" 2>&1 &
    fi
done

wait

# 3. the runs, each starting from the base's results
for run in "${RUNS[@]}"; do
    d=${run%-*}
    mkdir -p "$WORK/$run/results"
    cp -r "$WORK/base/results/." "$WORK/$run/results/"
    throttle
    DOMAINEMB_CACHE="$WORK/cache-$run" domainemb_ adapt --base minilm --pairs "work/pairs/$run.jsonl" --domain "$d" \
        --out "$WORK/$run" --config "$CONFIG" >"$WORK/adapt-$run.log" 2>&1 &
done
wait
for run in "${RUNS[@]}"; do tail -n 30 "$WORK/adapt-$run.log"; done
