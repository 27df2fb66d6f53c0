"""Dataset sources: Parquet files and Hugging Face ``datasets`` directories verify like JSONL."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.conftest import Runner, chat_records, read_jsonl, write_jsonl

TAG = ("--key", "gen", "--model", "gpt-4o", "--provider", "openai", "--generated-at", "2024-06-01")


def _signed_rows(project_dir: Path, cli: Runner, n: int = 6) -> list[dict[str, object]]:
    write_jsonl(project_dir / "gen.jsonl", chat_records(n))
    assert cli("tag", "gen.jsonl", "-o", "signed.jsonl", *TAG).code == 0
    return read_jsonl(project_dir / "signed.jsonl")


def _as_string_column(rows: list[dict[str, object]]) -> list[dict[str, object]]:
    return [{**r, "_provenance": orjson.dumps(r["_provenance"]).decode()} for r in rows]


def test_parquet_with_manifest_column_verifies_and_tampering_names_the_row(
    project_dir: Path, cli: Runner
) -> None:
    rows = _as_string_column(_signed_rows(project_dir, cli))
    pq.write_table(pa.Table.from_pylist(rows), project_dir / "data.parquet")
    assert cli("verify", "data.parquet").code == 0
    rows[3]["score"] = 42
    pq.write_table(pa.Table.from_pylist(rows), project_dir / "bad.parquet")
    result = cli("verify", "bad.parquet")
    assert result.code == 1
    assert "bad.parquet:4: record r3 content-mismatch" in result.out


def test_hf_save_to_disk_directory_verifies(project_dir: Path, cli: Runner) -> None:
    rows = _as_string_column(_signed_rows(project_dir, cli))
    folder = project_dir / "ds"
    folder.mkdir()
    table = pa.Table.from_pylist(rows)
    with (
        pa.OSFile(str(folder / "data-00000-of-00001.arrow"), "wb") as sink,
        pa.ipc.new_stream(sink, table.schema) as writer,
    ):
        writer.write_table(table)
    (folder / "state.json").write_text(
        json.dumps({"_data_files": [{"filename": "data-00000-of-00001.arrow"}]})
    )
    (folder / "dataset_info.json").write_text("{}")
    result = cli("verify", "ds")
    assert result.code == 0, result.out
    assert "6 records" in result.out


def test_unreadable_parquet_is_no_verdict(project_dir: Path, cli: Runner) -> None:
    (project_dir / "broken.parquet").write_bytes(b"PAR1 this is not parquet")
    result = cli("verify", "broken.parquet")
    assert result.code == 2
    assert "broken.parquet" in result.err
    assert "unreadable Parquet" in result.err


@pytest.mark.parametrize("name", ["notes.txt", "table.csv"])
def test_unsupported_file_is_named(project_dir: Path, cli: Runner, name: str) -> None:
    (project_dir / name).write_text("x")
    result = cli("verify", name)
    assert result.code == 2
    assert f"{name}: unsupported data file" in result.err


@pytest.mark.parametrize(
    ("listing", "content", "message"),
    [
        ("dataset_dict.json", {"splits": ["."]}, "names split '.', which is not a name inside"),
        ("dataset_dict.json", {"splits": ["../ds"]}, "names split '../ds'"),
        ("state.json", {"_data_files": [{"filename": "/etc/passwd"}]}, "names data file"),
        ("state.json", {"_data_files": [{"filename": "../x.arrow"}]}, "names data file"),
        ("state.json", "[" * 100_000 + "]" * 100_000, "nesting deeper than 128 levels"),
    ],
    ids=["split-itself", "split-up", "absolute-file", "file-up", "deep"],
)
def test_hf_metadata_cannot_loop_or_leave_its_folder(
    project_dir: Path, cli: Runner, listing: str, content: object, message: str
) -> None:
    folder = project_dir / "ds"
    folder.mkdir()
    text = content if isinstance(content, str) else json.dumps(content)
    (folder / listing).write_text(text)
    result = cli("verify", "ds")
    assert result.code == 2
    assert f"ds/{listing}" in result.err
    assert message in result.err
    assert "Traceback" not in result.err
