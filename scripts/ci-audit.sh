#!/usr/bin/env bash
# `provenance audit` for CI: the run logic of the GitHub action (action.yml), usable from any CI.
#
# Writes a SARIF report (for code scanning) and a Markdown report (appended to the GitHub step
# summary when $GITHUB_STEP_SUMMARY is set), records the outcome in $GITHUB_OUTPUT when set, and
# exits with the audit's code: 0 pass, 1 fail, 2 no verdict.
#
# Inputs (environment):
#   PROVENANCE_DATA        required: data files, directories or globs, separated by whitespace
#                          (globs are expanded by provenance, not by the shell)
#   PROVENANCE_INTENT      required: the intent file of the planned run
#   PROVENANCE_LINEAGE     optional: lineage declarations
#   PROVENANCE_POLICIES    optional: terms library directory (default: the shipped library)
#   PROVENANCE_TRUST       optional: trust store file (default: the project's)
#   PROVENANCE_WAIVERS     optional: waivers file
#   PROVENANCE_FAIL_ON     deny, review (default) or never
#   PROVENANCE_OUTPUT_DIR  where the reports go (default: $RUNNER_TEMP or $TMPDIR, /provenance-audit)
#   PROVENANCE_CMD         the provenance executable (default: provenance)
#   PROVENANCE_DEFER_EXIT  "true": exit 0 and leave the audit's code in $GITHUB_OUTPUT (exit-code),
#                          so later steps (the SARIF upload) run before the job fails
set -euo pipefail

out_dir="${PROVENANCE_OUTPUT_DIR:-${RUNNER_TEMP:-${TMPDIR:-/tmp}}/provenance-audit}"
cmd="${PROVENANCE_CMD:-provenance}"
fail_on="${PROVENANCE_FAIL_ON:-review}"
sarif="$out_dir/provenance-audit.sarif"
markdown="$out_dir/provenance-audit.md"
errors="$out_dir/provenance-audit.stderr"

output() {
    if [[ -n "${GITHUB_OUTPUT:-}" ]]; then
        printf '%s=%s\n' "$1" "$2" >>"$GITHUB_OUTPUT"
    fi
}

summary() {
    if [[ -n "${GITHUB_STEP_SUMMARY:-}" ]]; then
        cat >>"$GITHUB_STEP_SUMMARY"
    else
        cat >/dev/null
    fi
}

finish() {
    local code="$1" verdict="$2"
    output exit-code "$code"
    output verdict "$verdict"
    echo "provenance audit: $verdict (exit $code); reports in $out_dir" >&2
    if [[ "${PROVENANCE_DEFER_EXIT:-}" == "true" ]]; then
        exit 0
    fi
    exit "$code"
}

# no_verdict MESSAGE, or no_verdict --file FILE: say why in the summary and finish with exit 2.
no_verdict() {
    local reason
    if [[ "$1" == "--file" ]]; then reason="$(cat "$2")"; else reason="$1"; fi
    echo "$reason" >&2
    {
        printf '## ⚠️ provenance audit: **NO VERDICT**\n\n'
        printf 'The audit could not reach a verdict (exit 2):\n\n```text\n%s\n```\n' "$reason"
    } | summary
    finish 2 no-verdict
}

if [[ -z "${PROVENANCE_INTENT:-}" ]]; then
    no_verdict "PROVENANCE_INTENT is empty: name the intent file of the planned run"
fi
case "$fail_on" in
    deny | review | never) ;;
    *) no_verdict "PROVENANCE_FAIL_ON must be deny, review or never, not '$fail_on'" ;;
esac

data=()
read -r -d '' -a data <<<"${PROVENANCE_DATA:-}" || true
if [[ "${#data[@]}" -eq 0 ]]; then
    no_verdict "PROVENANCE_DATA is empty: name the data files, directories or globs to audit"
fi

args=(audit "${data[@]}" --intent "$PROVENANCE_INTENT" --fail-on "$fail_on")
if [[ -n "${PROVENANCE_LINEAGE:-}" ]]; then args+=(--lineage "$PROVENANCE_LINEAGE"); fi
if [[ -n "${PROVENANCE_POLICIES:-}" ]]; then args+=(--policies "$PROVENANCE_POLICIES"); fi
if [[ -n "${PROVENANCE_TRUST:-}" ]]; then args+=(--trust "$PROVENANCE_TRUST"); fi
if [[ -n "${PROVENANCE_WAIVERS:-}" ]]; then args+=(--waivers "$PROVENANCE_WAIVERS"); fi

mkdir -p "$out_dir"
rm -f "$sarif" "$markdown" "$errors"
# SARIF results about the whole dataset point at the intent file.
export PROVENANCE_AUDIT_INTENT="$PROVENANCE_INTENT"

run() {
    local format="$1" target="$2" code=0
    "$cmd" "${args[@]}" --format "$format" -o "$target" 2>>"$errors" || code=$?
    return "$code"
}

code=0
run sarif "$sarif" || code=$?
if [[ "$code" -ne 0 && "$code" -ne 1 ]]; then
    no_verdict --file "$errors"
fi
second=0
run markdown "$markdown" || second=$?
cat "$errors" >&2
if [[ "$second" -ne "$code" ]]; then
    no_verdict "the Markdown run ended with exit $second, the SARIF run with $code"
fi

output sarif-file "$sarif"
output markdown-file "$markdown"
summary <"$markdown"
if [[ "$code" -eq 0 ]]; then
    finish 0 pass
fi
finish 1 fail
