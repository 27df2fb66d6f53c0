"""Build the example corpus: realistic records from several providers, signed with the SDK.

Run from an initialised project: ``python examples/make_corpus.py KEY OUT_DIR``. It writes

* ``OUT/upstream/gemma-seed.jsonl`` — answers by ``google/gemma-2-9b-it`` (self-hosted), used to
  train ``example-org/helper-2b``;
* ``OUT/corpus/chat-gpt4o.jsonl`` — chat answers by ``gpt-4o`` through OpenAI's API;
* ``OUT/corpus/chat-llama31.jsonl`` — answers by ``meta-llama/Llama-3.1-70B-Instruct`` (self-hosted),
  in batch mode;
* ``OUT/corpus/rewrites-helper.jsonl`` — rewrites by ``example-org/helper-2b``, the model trained on
  Gemma outputs (a second-generation model: Gemma's terms follow its outputs);
* ``OUT/corpus/preferences.jsonl`` — preference records written by four models in four roles: the
  prompt by gpt-4o, the chosen answer by Llama 3.1, the rejected answer by Mistral 7B and the score
  by Claude as a judge.

The lineage declaration (``examples/lineage.yaml``) says which model was trained on which data.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import provenance
from provenance import Generator, RecordDraft, Tagger, prompt_parent

QUESTIONS = [
    ("What is the boiling point of water at sea level?", "100 °C (212 °F) at 1 atm."),
    ("Name three primary colours.", "Red, yellow and blue in painting; red, green, blue in light."),
    ("Translate 'good morning' into French.", "Bonjour."),
    ("What does HTTP stand for?", "HyperText Transfer Protocol."),
    ("Give a synonym for 'rapid'.", "Quick."),
    ("How many sides does a hexagon have?", "Six."),
    ("What is the capital of Japan?", "Tokyo."),
    (
        "Summarise photosynthesis in one sentence.",
        "Plants turn light, water and CO₂ into sugar and oxygen.",
    ),
    ("Is 97 a prime number?", "Yes: it has no divisor between 2 and 9."),
    ("Convert 5 km to miles.", "About 3.11 miles."),
    ("Who wrote 'Pride and Prejudice'?", "Jane Austen, in 1813."),
    ("What is the chemical symbol for gold?", "Au."),
]
ORG = "example-org"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def chat(i: int, prefix: str) -> dict[str, object]:
    question, answer = QUESTIONS[i % len(QUESTIONS)]
    return {
        "id": f"{prefix}-{i:03d}",
        "messages": [
            {"role": "user", "content": question},
            {"role": "assistant", "content": answer},
        ],
    }


def main(key: str, out: Path) -> None:
    signer = provenance.load_signer(key)
    (out / "corpus").mkdir(parents=True, exist_ok=True)
    (out / "upstream").mkdir(parents=True, exist_ok=True)

    gemma = Tagger(
        signer,
        provider="google",
        model="google/gemma-2-9b-it",
        service="self-hosted",
        organization=ORG,
    )
    with gemma.writer(out / "upstream" / "gemma-seed.jsonl") as w:
        for i in range(12):
            w.write(
                chat(i, "gemma-seed"),
                generated_at=at("2024-08-01T10:00:00"),
                parents=[prompt_parent(QUESTIONS[i % len(QUESTIONS)][0])],
            )

    gpt = Tagger(
        signer,
        provider="openai",
        model="gpt-4o",
        service="api",
        organization=ORG,
        parameters={"temperature": 0.7},
    )
    with gpt.writer(out / "corpus" / "chat-gpt4o.jsonl") as w:
        for i in range(12):
            w.write(
                chat(i, "gpt4o"),
                generated_at=at("2024-09-10T12:00:00"),
                model_returned="gpt-4o-2024-08-06",
                response_id=f"chatcmpl-{i:04d}",
            )

    llama = Tagger(
        signer,
        provider="meta",
        model="meta-llama/Llama-3.1-70B-Instruct",
        service="self-hosted",
        organization=ORG,
    )
    with llama.writer(out / "corpus" / "chat-llama31.jsonl", batch_size=8) as w:
        for i in range(20):
            w.write(chat(i, "llama31"), generated_at=at("2024-10-01T08:00:00"))

    helper = Tagger(
        signer, provider=ORG, model="example-org/helper-2b", service="self-hosted", organization=ORG
    )
    with helper.writer(out / "corpus" / "rewrites-helper.jsonl") as w:
        for i in range(10):
            record = chat(i, "helper")
            record["task"] = "rewrite"
            w.write(record, generated_at=at("2025-02-01T09:00:00"))

    prefs = Tagger(signer, provider="openai", model="gpt-4o", organization=ORG, part_digests=True)
    with prefs.writer(out / "corpus" / "preferences.jsonl") as w:
        for i in range(8):
            question, answer = QUESTIONS[i]
            draft = RecordDraft({"id": f"pref-{i:03d}"})
            draft.set(
                "/prompt",
                question,
                role="prompt",
                generator=Generator("openai", "gpt-4o", service="api"),
                generated_at=at("2025-07-01T10:00:00"),
            )
            draft.set(
                "/chosen",
                answer,
                role="response",
                generator=Generator(
                    "meta", "meta-llama/Llama-3.1-70B-Instruct", service="self-hosted"
                ),
                generated_at=at("2025-07-01T10:01:00"),
            )
            draft.set(
                "/rejected",
                "I am not sure.",
                role="response",
                generator=Generator(
                    "mistral", "mistralai/Mistral-7B-Instruct-v0.3", service="self-hosted"
                ),
                generated_at=at("2025-07-01T10:02:00"),
            )
            draft.set(
                "/score",
                8 + i % 2,
                role="judgement",
                generator=Generator("anthropic", "claude-3-5-sonnet-20241022", service="api"),
                generated_at=at("2025-07-01T10:03:00"),
            )
            w.write_draft(draft)
    print(f"wrote the example corpus to {out}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: make_corpus.py KEY OUT_DIR")
    main(sys.argv[1], Path(sys.argv[2]))
