"""Generate realistic synthetic chat records (about 1 KB each) as JSONL, deterministically.

Each record looks like the output of a chat-data pipeline: a system prompt, one or two user and
assistant turns in English (with the odd accented word, emoji or non-Latin script), and a metadata
block with a language, a topic, token counts and a float quality score. The same ``--seed`` and
``--records`` always give the same bytes.

    python benchmarks/generate.py --records 1000000 -o data.jsonl
"""

from __future__ import annotations

import argparse
import random
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

TOPICS = (
    "cooking",
    "travel",
    "python",
    "history",
    "chemistry",
    "personal finance",
    "gardening",
    "astronomy",
    "linguistics",
    "cycling",
)
SYSTEM = (
    "You are a helpful, concise assistant. Answer accurately and say when you are unsure.",
    "You are a patient tutor. Explain step by step and check the student's understanding.",
    "You are an expert reviewer. Point out mistakes politely and suggest improvements.",
)
WORDS = (
    "the",
    "answer",
    "depends",
    "on",
    "the",
    "context",
    "and",
    "on",
    "what",
    "you",
    "want",
    "to",
    "achieve",
    "in",
    "the",
    "end",
    "so",
    "consider",
    "the",
    "trade",
    "offs",
    "carefully",
    "before",
    "you",
    "decide",
    "because",
    "small",
    "choices",
    "early",
    "on",
    "tend",
    "to",
    "compound",
    "over",
    "time",
    "and",
    "it",
    "is",
    "usually",
    "cheaper",
    "to",
    "measure",
    "first",
    "then",
    "change",
    "one",
    "thing",
    "at",
    "a",
    "time",
    "while",
    "keeping",
    "notes",
    "about",
    "what",
    "worked",
    "and",
    "what",
    "did",
    "not",
    "work",
    "as",
    "expected",
    "in",
    "practice",
)
EXTRAS = ("café", "naïve", "über", "✓", "🙂", "日本語", "Ελληνικά", "→", "½", "résumé")


def _sentence(rng: random.Random, low: int, high: int) -> str:
    words = rng.choices(WORDS, k=rng.randint(low, high))
    if rng.random() < 0.3:
        words.insert(rng.randrange(len(words) + 1), rng.choice(EXTRAS))
    text = " ".join(words)
    return text[0].upper() + text[1:] + rng.choice(".?!")


def _paragraph(rng: random.Random, sentences: int) -> str:
    return " ".join(_sentence(rng, 7, 17) for _ in range(sentences))


def record(index: int, rng: random.Random) -> dict[str, Any]:
    """One chat record of roughly 1 KB."""
    topic = rng.choice(TOPICS)
    messages: list[dict[str, str]] = [{"role": "system", "content": rng.choice(SYSTEM)}]
    turns = 1 if rng.random() < 0.6 else 2
    for _ in range(turns):
        messages.append({"role": "user", "content": f"About {topic}: " + _sentence(rng, 10, 24)})
        messages.append({"role": "assistant", "content": _paragraph(rng, 7 if turns == 1 else 4)})
    prompt_tokens = sum(len(m["content"]) // 4 for m in messages[:-1])
    return {
        "id": f"chat-{index:09d}",
        "messages": messages,
        "meta": {
            "lang": "en",
            "topic": topic,
            "turns": turns,
            "prompt_tokens": prompt_tokens,
            "completion_tokens": len(messages[-1]["content"]) // 4,
            "quality": round(rng.uniform(0.5, 1.0), 3),
        },
    }


def records(count: int, seed: int = 0) -> Iterator[dict[str, Any]]:
    rng = random.Random(seed)
    for index in range(count):
        yield record(index, rng)


def write(path: Path, count: int, seed: int = 0) -> int:
    """Write ``count`` records to ``path``; returns the number of bytes written."""
    written = 0
    with path.open("wb") as out:
        block: list[bytes] = []
        for item in records(count, seed):
            block.append(orjson.dumps(item) + b"\n")
            if len(block) >= 10_000:
                data = b"".join(block)
                out.write(data)
                written += len(data)
                block = []
        data = b"".join(block)
        out.write(data)
        written += len(data)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("-o", "--output", type=Path, required=True)
    args = parser.parse_args(argv)
    size = write(args.output, args.records, args.seed)
    print(
        f"{args.records} records, {size} bytes ({size / max(args.records, 1):.0f} B/record) "
        f"→ {args.output}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
