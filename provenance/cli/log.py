"""``provenance log``: verify the registry's tamper-evident log, and sign checkpoints of it."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from provenance.cli.app import app, command_group
from provenance.cli.options import InsecureKeyOption
from provenance.cli.output import echo, emit_json
from provenance.cli.registry_options import (
    DbOption,
    KeyOption,
    check_format,
    open_registry,
)
from provenance.errors import ConfigError, ProvenanceError

log_app = command_group(help="The registry's tamper-evident log.", no_args_is_help=True)
app.add_typer(log_app, name="log")


@log_app.command("verify")
def log_verify(
    checkpoint: Annotated[
        Path | None, typer.Option("--checkpoint", help="A checkpoint kept elsewhere.")
    ] = None,
    trust: Annotated[
        Path | None,
        typer.Option(
            "--trust",
            help="Trust store whose keys may sign checkpoints (default: the project's trust "
            "store and public keys).",
        ),
    ] = None,
    format: Annotated[str, typer.Option(help="text or json.")] = "text",
    db: DbOption = None,
) -> None:
    """Prove the store matches its log (and a saved checkpoint); name any row altered, deleted,
    reordered or rolled back. Exit 0 consistent, 1 not, 2 no verdict."""
    from provenance.registry.integrity import load_checkpoint_file, verify_log
    from provenance.registry.signing import RegistryTrust, verification_keys

    check_format(format, ("text", "json"))
    saved = None if checkpoint is None else load_checkpoint_file(str(checkpoint))
    keys: RegistryTrust | None
    try:
        keys = verification_keys(trust)
    except ConfigError:
        if saved is not None:
            raise
        keys = None
    with open_registry(db) as registry:
        report = verify_log(
            registry,
            checkpoint=saved,
            keys=keys,
            checkpoint_source=str(checkpoint) if checkpoint else "file",
        )
    if format == "json":
        emit_json(report.to_dict())
    else:
        for line in report.lines():
            echo(line)
    raise typer.Exit(report.exit_code())


@log_app.command("checkpoint")
def log_checkpoint(
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Write the checkpoint here.")
    ] = None,
    key: KeyOption = None,
    insecure_key: InsecureKeyOption = False,
    db: DbOption = None,
) -> None:
    """Sign a checkpoint (tree size and root) of the log, after checking the store against it.
    Keep the file elsewhere (a CI artefact, a git repository)."""
    from provenance.registry.integrity import verify_log
    from provenance.registry.logtree import make_checkpoint
    from provenance.registry.signing import registry_signer, signing_warning

    signer = registry_signer(key, insecure=insecure_key)
    warning = signing_warning(signer, ("checkpoints",))
    if warning:
        echo(f"warning: {warning}", err=True)
    with open_registry(db) as registry:
        report = verify_log(registry)
        if not report.ok or report.frontier is None:
            for line in report.lines():
                echo(line, err=True)
            raise ProvenanceError(
                "the store does not match its log: no checkpoint is signed",
                hint="run 'provenance log verify'",
            )
        cp = make_checkpoint(signer, report.origin, report.frontier)
        registry.add_checkpoint(
            cp.size, cp.root, signer.keyid, cp.created_at, json.dumps(dict(cp.envelope))
        )
    if output is None:
        sys.stdout.write(cp.to_json())
    else:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(cp.to_json(), encoding="utf-8")
        echo(f"checkpoint: {cp.size} entries, root {cp.root} → {output}")
