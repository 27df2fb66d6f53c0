#!/usr/bin/env bash
# The main job on the bundled examples, in examples/out/ (recreated each time):
#   1. make a project and a signing key;
#   2. generate and sign the example corpus with the SDK (five providers, a model trained on another
#      model's outputs, preference records written by four models);
#   3. verify every manifest, and show that a tampered copy is caught;
#   4. audit the corpus for three planned runs: a research evaluation (pass), an internal
#      classifier (needs review) and a commercial open-weights chat model (fail).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="$here/out"
rm -rf "$out"
mkdir -p "$out/reports"
cd "$out"
unset PROVENANCE_HOME PROVENANCE_KEY_PASSPHRASE

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }
expect() {  # expect CODE COMMAND...: run, show, and check the exit code
  local want=$1; shift
  printf '\n\033[1m$ %s\033[0m   # expect exit %s\n' "$*" "$want"
  set +e; "$@"; local got=$?; set -e
  if [ "$got" -ne "$want" ]; then
    echo "demo: expected exit $want from '$*', got $got" >&2
    exit 1
  fi
}

step provenance init
step provenance keys generate demo-signer --trust
step python "$here/make_corpus.py" demo-signer "$out"
step provenance verify corpus/ upstream/

python - <<'PY'
import json
lines = open("corpus/chat-gpt4o.jsonl").read().splitlines()
record = json.loads(lines[2])
record["messages"][1]["content"] = "Hola."
lines[2] = json.dumps(record, ensure_ascii=False)
open("tampered.jsonl", "w").write("\n".join(lines) + "\n")
PY
expect 1 provenance verify tampered.jsonl

audit() {  # audit INTENT EXPECTED_EXIT
  expect "$2" provenance audit corpus/ --intent "$here/intents/$1.yaml" \
    --lineage "$here/lineage.yaml"
  for format in json markdown sarif junit html; do
    if provenance audit corpus/ --intent "$here/intents/$1.yaml" --lineage "$here/lineage.yaml" \
        --format "$format" -o "reports/$1.$format" 2>/dev/null; then :; fi
  done
}
audit research-eval 0
audit internal-classifier 1
audit open-weights-chat 1

echo
echo "demo: corpus signed and verified, tampering caught; audits: research-eval PASS,"
echo "      internal-classifier REVIEW (fail), open-weights-chat DENY (fail)."
echo "      Reports in $out/reports/ (open open-weights-chat.html in a browser)."
