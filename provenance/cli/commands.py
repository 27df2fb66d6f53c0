"""``provenance tag`` and ``provenance verify``."""

from __future__ import annotations

import os
import stat
import sys
import tempfile
from contextlib import nullcontext
from dataclasses import replace
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated, Any

import typer

from provenance.cli.app import app, signals_held
from provenance.cli.options import FollowLinksOption, InsecureKeyOption, data_paths
from provenance.cli.output import echo, emit_json
from provenance.errors import ConfigError, InputError, MalformedJSONError
from provenance.text import count as plural

if TYPE_CHECKING:
    from provenance.keys import VerifyingKey
    from provenance.manifest import Contribution
    from provenance.scan import VerifyReport
    from provenance.sign import RecordWriter
    from provenance.verify import RecordResult, Verified


class OutputFormat(StrEnum):
    text = "text"
    json = "json"


@app.command()
def tag(
    input: Annotated[
        Path,
        typer.Argument(help="JSONL file of generated records (.gz/.zst ok; - reads stdin)."),
    ],
    output: Annotated[
        Path, typer.Option("-o", "--output", help="Signed JSONL to write (- writes stdout).")
    ],
    key: Annotated[str, typer.Option(help="Project key name or PEM private key file.")],
    insecure_key: InsecureKeyOption = False,
    model: Annotated[
        str | None, typer.Option(help="Model as requested, e.g. gpt-4o (not with --parts).")
    ] = None,
    provider: Annotated[
        str | None, typer.Option(help="Provider of the model, e.g. openai (not with --parts).")
    ] = None,
    service: Annotated[
        str | None, typer.Option(help="api, app, self-hosted, or a third-party host name.")
    ] = None,
    terms: Annotated[
        str | None, typer.Option(help="Terms document id, e.g. openai/terms-of-use@2024-01-31.")
    ] = None,
    generated_at: Annotated[
        str | None,
        typer.Option(
            help="When the data was really made (RFC 3339 or date; 'now' for data made just "
            "now); picks the terms in force. This or --generated-at-field is required."
        ),
    ] = None,
    generated_at_field: Annotated[
        str | None,
        typer.Option(help="Read each record's generation time from this field (RFC 3339 or date)."),
    ] = None,
    terms_unknown_ok: Annotated[
        bool,
        typer.Option(
            "--terms-unknown-ok",
            help="Sign with a --terms id (or a parts file's terms) the policy library lacks.",
        ),
    ] = False,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Sign even with a key the trust store would not accept for these records "
            "(revoked, expired, not trusted for records, the provider or the organisation).",
        ),
    ] = False,
    organization: Annotated[
        str | None, typer.Option(help="Organisation whose account generated the data.")
    ] = None,
    model_returned: Annotated[
        str | None, typer.Option(help="Model as the service reported it.")
    ] = None,
    parts: Annotated[
        Path | None,
        typer.Option(
            help="YAML mapping of JSON Pointers to generators, for records written by several "
            "models."
        ),
    ] = None,
    id_field: Annotated[str, typer.Option(help="Field holding the record id.")] = "id",
    batch_size: Annotated[
        int | None, typer.Option(help="Sign batches of N records under one Merkle-root signature.")
    ] = None,
    replace_existing: Annotated[
        bool,
        typer.Option("--replace", help="Replace manifests already present instead of refusing."),
    ] = False,
    part_digests: Annotated[
        bool,
        typer.Option(
            "--part-digests",
            help="Also sign a digest of each part, so a part's author can be "
            "shown without the rest of the record.",
        ),
    ] = False,
    batch_sidecar: Annotated[
        bool,
        typer.Option(
            "--batch-sidecar",
            help="With --batch-size: write the batch envelopes to OUTPUT.batches next to the "
            "output, named by each record, instead of into every record.",
        ),
    ] = False,
    workers: Annotated[
        int | None, typer.Option(help="Worker processes (default: every core for large inputs).")
    ] = None,
) -> None:
    """Sign records generated earlier: one manifest per record.

    The output is written to a temporary file and moved into place only when every record was
    signed, so a bad input line (or a stop by SIGINT or SIGTERM) leaves nothing half-written.
    Every line written is one 'provenance verify' reads: a line longer than 16 MiB, as it stands
    or once signed, is refused with its file and line. To stdout or a pipe (-o -) records are
    written as they are signed; the exit code then says whether the stream is complete.

    Refused before signing, as 'provenance verify' or an audit would find them: no generation
    time (--generated-at TIME, --generated-at now or --generated-at-field FIELD), a --parts
    pointer a record lacks (unless the part says optional: true), a key the trust store would
    reject for these records (unless --force), terms the policy library lacks (unless
    --terms-unknown-ok). Top-level fields no part covers are named in a warning.
    """
    from provenance import project
    from provenance.cli.progress import progress_bar
    from provenance.manifest import parse_when
    from provenance.sign import RecordWriter, Tagger, sidecar_path, tag_jsonl
    from provenance.sources.jsonl import JsonlSource, open_binary_write

    plan = None if parts is None else _load_parts(parts)
    contributions = None if plan is None else plan[0]
    if contributions is None and (model is None or provider is None):
        raise InputError(
            "give --model and --provider, or --parts for records written by several models"
        )
    if contributions is not None and (model is not None or provider is not None):
        raise InputError("--parts names every generator; leave out --model and --provider")
    if generated_at is not None and generated_at_field is not None:
        raise InputError("give --generated-at or --generated-at-field, not both")
    if generated_at is None and generated_at_field is None:
        raise InputError(
            "say when the data was generated: the time picks the terms version in force",
            hint="give --generated-at TIME (RFC 3339 or a date), --generated-at now for data "
            "made just now, or --generated-at-field FIELD to read it from each record",
        )
    when = (
        None
        if generated_at is None
        else datetime.now(UTC)
        if generated_at.strip() == "now"
        else parse_when(generated_at, "--generated-at")
    )
    if not terms_unknown_ok:
        _check_terms(
            [terms] if contributions is None else [c.terms.id for c in contributions if c.terms]
        )
    first = contributions[0].generator if contributions else None
    signer = project.load_signer(key, insecure=insecure_key)
    providers = (
        [provider or ""] if contributions is None else [c.generator.provider for c in contributions]
    )
    _check_key(key, signer.verifying_key(), providers, organization, force)
    tagger = Tagger(
        signer,
        provider=provider or (first.provider if first else ""),
        model=model or (first.model if first else ""),
        part_digests=part_digests,
        service=service,
        terms=terms,
        organization=organization,
        model_returned=model_returned,
        id_field=id_field,
    )
    if batch_sidecar and batch_size is None:
        raise InputError("--batch-sidecar needs --batch-size")
    from_stdin = str(input) == "-"
    streamed = _is_stream(output)
    if streamed and batch_sidecar:
        raise InputError("--batch-sidecar writes a file next to the output; give -o FILE")

    def sign(handle: IO[bytes], sidecar: tuple[str, IO[bytes]] | None) -> int:
        if from_stdin or JsonlSource.accepts(input) or _is_stream(input):
            with progress_bar([input], "signing") as progress:
                return tag_jsonl(
                    tagger,
                    sys.stdin.buffer if from_stdin else input,
                    handle,
                    batch_size=batch_size,
                    generated_at=when,
                    contributions=contributions,
                    replace_existing=replace_existing,
                    sidecar=sidecar,
                    workers=workers,
                    progress=progress,
                    optional_parts=optional,
                    time_field=generated_at_field,
                    unattributed=unattributed,
                )
        writer = RecordWriter(tagger, handle, batch_size, sidecar=sidecar)
        return _tag_records(
            writer,
            input,
            when,
            generated_at_field,
            contributions,
            optional,
            replace_existing,
            unattributed,
        )

    optional = frozenset[str]() if plan is None else plan[1]
    unattributed: dict[str, int] = {}

    mode = f"batches of {batch_size}" if batch_size else "one signature per record"
    if streamed:
        # A pipe, a terminal or a device: nothing to move into place; written as signed.
        with (
            nullcontext(sys.stdout.buffer) if str(output) == "-" else open_binary_write(output)
        ) as stream:
            count = sign(stream, None)
            stream.flush()
        _warn_unattributed(unattributed, count)
        echo(
            f"signed {plural(count, 'record')} → {output} ({mode}, key {signer.keyid[:16]})",
            err=True,
        )
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temporary(output)
    side = sidecar_path(output) if batch_sidecar else None
    side_tmp = _temporary(side) if side is not None else None
    try:
        with (
            open_binary_write(tmp) as handle,
            side_tmp.open("wb") if side_tmp is not None else nullcontext() as side_handle,
        ):
            count = sign(handle, None if side_handle is None else (output.name, side_handle))
        umask = os.umask(0)
        os.umask(umask)
        for done in (tmp, side_tmp):
            if done is not None:
                os.chmod(done, 0o666 & ~umask)
        with signals_held():  # the data and its sidecar are replaced together or not at all
            if side is not None and side_tmp is not None:
                os.replace(side_tmp, side)
            os.replace(tmp, output)
    finally:
        tmp.unlink(missing_ok=True)
        if side_tmp is not None:
            side_tmp.unlink(missing_ok=True)
    if side is not None:
        mode += f", envelopes in {side.name}"
    _warn_unattributed(unattributed, count)
    echo(f"signed {plural(count, 'record')} → {output} ({mode}, key {signer.keyid[:16]})")


def _is_stream(path: Path) -> bool:
    """Whether ``path`` is ``-`` (stdin or stdout), lies under /dev or /proc (/dev/stdout is a
    link that may lead to a regular file), or names something that is not a regular file or a
    folder: a pipe, a terminal, a device. Such an output is written in place (never replaced by
    a temporary file) and such an input read as a stream."""
    if str(path) == "-" or path.absolute().parts[1:2] in (("dev",), ("proc",)):
        return True
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


def _temporary(path: Path) -> Path:
    fd, name = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.", suffix="".join(path.suffixes)
    )
    os.close(fd)
    return Path(name)


def _tag_records(
    writer: RecordWriter,
    input: Path,
    when: datetime | None,
    time_field: str | None,
    contributions: list[Contribution] | None,
    optional: frozenset[str],
    replace_existing: bool,
    unattributed: dict[str, int],
) -> int:
    """Sign a source that is not JSONL (Parquet, datasets), record by record, as
    :func:`provenance.sign.tag_jsonl` signs JSONL."""
    from provenance import canonical
    from provenance.limits import DEFAULT_LIMITS
    from provenance.record import PROVENANCE_KEY
    from provenance.sign import record_parts, record_time, too_long, unattributed_parts
    from provenance.sources import open_source

    most = DEFAULT_LIMITS.max_record_bytes
    for raw in open_source(input):
        if len(raw.data) > most:
            raise too_long(raw.source, raw.line, most, what="record")
        try:
            record = canonical.parse_record(raw.data)
        except MalformedJSONError as exc:
            raise exc.at(raw.source, raw.line) from None
        if PROVENANCE_KEY in record and not replace_existing:
            raise InputError(
                "record already has a manifest",
                source=raw.source,
                line=raw.line,
                hint="pass --replace to sign it again",
            )
        at = when if time_field is None else record_time(record, time_field, raw.source, raw.line)
        if contributions is None:
            writer.write(record, generated_at=at)
            continue
        assert at is not None  # a time is given, or read from the record
        chosen = record_parts(record, contributions, optional, at, raw.source, raw.line)
        for pointer in unattributed_parts(record, chosen, writer.tagger.id_field):
            unattributed[pointer] = unattributed.get(pointer, 0) + 1
        writer.write(record, contributions=chosen)
    writer.flush()
    return writer.count


def _load_parts(path: Path) -> tuple[list[Contribution], frozenset[str]]:
    """Read ``--parts``: ``{pointer: {provider, model, role, service, terms, generated_at,
    optional}}``; the contributions, and the pointers marked ``optional: true`` (a record may
    lack them). A part without ``generated_at`` takes the run's time when each record is
    signed."""
    from provenance.bounded import read_yaml
    from provenance.manifest import ROLES, Contribution, Generator, TermsRef, parse_when

    data: Any = read_yaml(path, empty=None)
    if not isinstance(data, dict) or not data:
        raise ConfigError("must map JSON Pointers to generators", source=str(path))
    known = {
        "provider",
        "model",
        "role",
        "service",
        "terms",
        "generated_at",
        "model_returned",
        "optional",
    }
    out = []
    optional = set()
    for pointer, spec in data.items():
        where = f"part '{pointer}'"
        if not isinstance(pointer, str) or not (pointer == "" or pointer.startswith("/")):
            raise ConfigError(f"{where}: keys must be JSON Pointers like /chosen", source=str(path))
        if not isinstance(spec, dict) or "provider" not in spec or "model" not in spec:
            raise ConfigError(f"{where}: needs provider and model", source=str(path))
        unknown = sorted(set(spec) - known)
        if unknown:
            raise ConfigError(
                f"{where}: unknown field '{unknown[0]}'",
                source=str(path),
                hint=f"known: {', '.join(sorted(known))}",
            )
        role = str(spec.get("role", "response"))
        if role not in ROLES:
            raise ConfigError(
                f"{where}: role '{role}' is not one of {', '.join(sorted(ROLES))}", source=str(path)
            )
        if not isinstance(spec.get("optional", False), bool):
            raise ConfigError(f"{where}: optional must be true or false", source=str(path))
        if spec.get("optional"):
            optional.add(pointer)
        at = spec.get("generated_at")
        generated = None
        if at is not None:
            try:
                generated = parse_when(str(at), f"{where}: generated_at")
            except InputError as exc:
                raise ConfigError(exc.message, source=str(path), hint=exc.hint) from None
        out.append(
            Contribution(
                generator=Generator(
                    provider=str(spec["provider"]).lower(),
                    model=str(spec["model"]),
                    service=spec.get("service"),
                    model_returned=spec.get("model_returned"),
                ),
                pointer=pointer,
                role=role,
                terms=TermsRef(str(spec["terms"])) if spec.get("terms") else None,
                generated_at=generated,
            )
        )
    return out, frozenset(optional)


def _check_terms(ids: list[str | None]) -> None:
    """Refuse a terms id the policy library does not hold, naming the closest ids. Only the
    family named is read (:meth:`PolicyLibrary.knows`); the whole library only to name what is
    close to an unknown id."""
    from provenance.policy.fields import closest
    from provenance.policy.loader import load_library

    wanted = [i for i in ids if i]
    if not wanted:
        return
    library = load_library(on_demand=True)
    for terms_id in wanted:
        if library.knows(terms_id):
            continue
        known = {d.id for d in library.documents} | {d.family for d in library.documents}
        near = closest(terms_id, known, "'provenance policy list' shows every document")
        raise InputError(
            f"--terms '{terms_id}' is not in the policy library",
            hint=f"{near}; --terms-unknown-ok signs with it anyway",
        )


def _check_key(
    key: str,
    public: VerifyingKey,
    providers: list[str],
    organization: str | None,
    force: bool,
) -> None:
    """Refuse to sign with a key that the project's trust store would not accept for these
    records (the verifier's own judgement, :meth:`TrustedKey.record_problem`), unless ``force``.
    Without a trust store nothing can judge the key: say so and sign."""
    from provenance import project

    home = project.find_project()
    path = None if home is None else home / project.TRUST_FILE
    if path is None or not path.exists():
        echo(
            f"provenance: warning: no trust store; nothing checks that key '{key}' is trusted. "
            "'provenance verify' judges it against the trust store it is given",
            err=True,
        )
        return
    store = project.load_trust(path)
    entry = store.by_keyid(public.keyid)
    now = datetime.now(UTC)
    problem: str | None
    if entry is None:
        problem = f"key '{key}' ({public.keyid[:16]}) is in no entry of the trust store {path}"
    else:
        judged = entry.record_problem(providers, organization, now, now)
        problem = None if judged is None else f"trust entry '{entry.name}': {judged[1]}"
    if problem is None:
        return
    if force:
        echo(f"provenance: warning: signing anyway (--force): {problem}", err=True)
        return
    raise InputError(
        f"refusing to sign: 'provenance verify' would reject these records: {problem}",
        hint="'provenance keys list' shows the trust store; --force signs anyway",
    )


def _warn_unattributed(unattributed: dict[str, int], count: int) -> None:
    """Warn once about the top-level members that no ``--parts`` entry covers."""
    if not unattributed:
        return
    listed = ", ".join(
        f"{pointer} ({n} of {count} records)" for pointer, n in sorted(unattributed.items())
    )
    echo(
        f"provenance: warning: no part of --parts covers {listed}; their manifests name them "
        "as unattributed and an audit reviews them as of unknown source (add them to the "
        'parts file, or a whole-record "" entry)',
        err=True,
    )


@app.command()
def verify(
    files: Annotated[list[str], typer.Argument(help="Files, directories or globs of JSONL.")],
    trust: Annotated[
        Path | None,
        typer.Option(help="Trust store (default: the project's .provenance/trust.yaml)."),
    ] = None,
    format: Annotated[OutputFormat, typer.Option(help="text or json.")] = OutputFormat.text,
    show_all: Annotated[
        bool, typer.Option("--all", help="List every record, not only failures.")
    ] = False,
    require_complete: Annotated[
        bool,
        typer.Option(
            "--require-complete-batches",
            help="Fail when a batch-signed file lacks some of a batch's records.",
        ),
    ] = False,
    workers: Annotated[
        int | None, typer.Option(help="Worker processes (default: every core for large inputs).")
    ] = None,
    follow_links: FollowLinksOption = False,
) -> None:
    """Verify every record's manifest: signature, trusted signer, content digest.

    Exit 0 when every record verifies, 1 when any fails, 2 when no verdict is possible.
    """
    from provenance import project
    from provenance.cli.progress import progress_bar
    from provenance.scan import report_from, scan_paths
    from provenance.text import count
    from provenance.verify import Verifier

    paths = data_paths(files, follow_links)
    verifier = Verifier(project.load_trust(trust))
    with progress_bar(paths, "verifying") as progress:
        partial = scan_paths(
            paths,
            verifier,
            collector=_LISTER if show_all else None,
            workers=1 if show_all else workers,
            progress=progress,
        )
    report = report_from(partial, paths, require_complete)
    listed = sorted(partial.extra or [], key=lambda r: (r.source, r.line))
    if format is OutputFormat.json:
        data = report.to_dict()
        if show_all:
            data["records"] = [r.to_dict() for r in listed]
        emit_json(data)
    else:
        for result in listed if show_all else report.failures:
            ident = f" record {result.record_id}" if result.record_id else ""
            reason = f": {result.reason}" if result.reason else ""
            echo(f"{result.source}:{result.line}:{ident} {result.status.value}{reason}")
        label = "incomplete-batch" if require_complete else "note: incomplete batch"
        for batch in report.incomplete:
            echo(f"{label}: {batch}")
        parts = ", ".join(f"{n:,} {status}" for status, n in sorted(report.counts.items()))
        verdict = {0: "PASS", 1: "FAIL", 2: "NO VERDICT"}[report.exit_code()]
        where = count(len(paths), "file")
        echo(f"{verdict}: {count(report.total, 'record')} in {where}: {parts or 'none'}")
    if report.exit_code() == 2:
        _why_no_verdict(report, paths)
    raise typer.Exit(report.exit_code())


def _why_no_verdict(report: VerifyReport, paths: list[Path]) -> None:
    """The reason for exit 2 on stderr, naming the file (stdout holds the report itself)."""
    from provenance.verify import Status

    invalid = [r for r in report.failures if r.status is Status.INVALID_RECORD]
    if invalid:
        first = min(invalid, key=lambda r: (r.source, r.line))
        echo(f"provenance: error: {first.source}:{first.line}: {first.reason}", err=True)
    elif report.total == 0:
        names = ", ".join(map(str, paths))
        echo(f"provenance: error: {names}: no records to verify (empty input)", err=True)


class _Lister:
    """Keeps every record's result, for ``verify --all``."""

    def new(self) -> list[RecordResult]:
        return []

    def add_verified(
        self, state: list[RecordResult], source: str, line: int, verified: Verified, digest: str
    ) -> None:
        from provenance.verify import RecordResult, Status

        state.append(
            RecordResult(
                source, line, Status.OK, "", verified.record_id, digest, signer=verified.signer
            )
        )

    def add(self, state: list[RecordResult], record: Any, result: RecordResult) -> None:
        state.append(result)

    def seal(self, state: list[RecordResult], source: str) -> None:
        """Nothing to do: results are complete."""

    def shift(self, state: list[RecordResult], lines: int) -> None:
        state[:] = [replace(r, line=r.line + lines) for r in state]

    def merge(self, a: list[RecordResult], b: list[RecordResult]) -> list[RecordResult]:
        return a + b


_LISTER = _Lister()
