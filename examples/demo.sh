#!/usr/bin/env bash
# The main job on the bundled examples: make a project and a key, sign generated records, verify
# them, then show that a tampered copy is caught. Runs in examples/out/ (recreated each time).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="$here/out"
rm -rf "$out"
mkdir -p "$out"
cd "$out"
unset PROVENANCE_HOME PROVENANCE_KEY_PASSPHRASE

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }

step provenance init
step provenance keys generate demo-signer --trust --provider openai --organization example-org
step provenance tag "$here/data/chat-gpt4o.jsonl" -o signed/chat-gpt4o.jsonl \
  --key demo-signer --provider openai --model gpt-4o --service api \
  --organization example-org --generated-at 2024-06-01T09:00:00Z
step provenance verify signed/

# A copy with one answer edited after signing must fail verification (exit 1).
python3 - <<'PY'
import json
lines = open("signed/chat-gpt4o.jsonl").read().splitlines()
record = json.loads(lines[2])
record["messages"][1]["content"] = "Hola."
lines[2] = json.dumps(record, ensure_ascii=False)
open("tampered.jsonl", "w").write("\n".join(lines) + "\n")
PY
printf '\n\033[1m$ provenance verify tampered.jsonl   # expect exit 1\033[0m\n'
set +e
provenance verify tampered.jsonl
code=$?
set -e
if [ "$code" -ne 1 ]; then
  echo "demo: expected the tampered copy to fail with exit 1, got $code" >&2
  exit 1
fi
echo
echo "demo: signed records verify; the tampered copy was caught (exit 1)."
