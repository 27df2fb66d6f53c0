"""``provenance evidence``: write a signed evidence bundle about a dataset or a model, and verify
one offline."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from provenance.cli.app import app, command_group
from provenance.cli.options import InsecureKeyOption
from provenance.cli.output import echo, emit_json
from provenance.cli.registry_options import (
    DbOption,
    KeyOption,
    PoliciesOption,
    check_format,
    open_registry,
    terms_library,
)
from provenance.errors import InputError
from provenance.text import count


class _DefaultBuild(TyperGroup):
    """``evidence SUBJECT …`` runs ``evidence build SUBJECT …``; ``evidence verify FILE`` verifies."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["build", *args]
        return super().parse_args(ctx, args)


evidence_app = command_group(
    cls=_DefaultBuild,
    help="Evidence bundles: 'evidence DATASET|MODEL -o bundle.zip', 'evidence verify bundle.zip'.",
    no_args_is_help=True,
)
app.add_typer(evidence_app, name="evidence")


@evidence_app.command("build")
def evidence_build(
    subject: Annotated[str, typer.Argument(help="Dataset (name or digest) or model name.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="The bundle (.zip) to write.")],
    kind: Annotated[str | None, typer.Option(help="model or dataset, when a name is both.")] = None,
    max_manifests: Annotated[
        int,
        typer.Option(help="Datasets larger than this carry a sample with inclusion proofs."),
    ] = 100_000,
    key: KeyOption = None,
    insecure_key: InsecureKeyOption = False,
    policies: PoliciesOption = None,
    db: DbOption = None,
) -> None:
    """Write a signed evidence bundle about a dataset or a model (verifiable offline)."""
    from provenance.registry.evidence import build_bundle
    from provenance.registry.signing import REGISTRY_KINDS, registry_signer, signing_warning

    signer = registry_signer(key, insecure=insecure_key)
    warning = signing_warning(signer, REGISTRY_KINDS)
    if warning:
        echo(f"warning: {warning}", err=True)
    library = terms_library(policies)
    with open_registry(db) as registry:
        data, info = build_bundle(
            registry,
            subject,
            signer,
            kind=kind,
            max_manifests=max_manifests,
            catalog=None if library is None else library.catalog,
        )
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_bytes(data)
    echo(
        f"{output}: {info.kind} {info.name}, {count(info.datasets, 'dataset')}, "
        f"{count(info.manifests, 'manifest')}, {count(info.reports, 'audit report')}, "
        f"checkpoint {info.checkpoint_size} "
        f"{info.checkpoint_root[:16]}… ({info.bytes:,} bytes)"
    )


@evidence_app.command("verify")
def evidence_verify(
    bundle: Annotated[Path, typer.Argument(help="The bundle (.zip).")],
    trust: Annotated[
        Path | None,
        typer.Option(
            "--trust",
            help="Your trust store: every signature must be by its keys (default: the bundle's "
            "own, which shows integrity, not origin).",
        ),
    ] = None,
    format: Annotated[str, typer.Option(help="text or json.")] = "text",
) -> None:
    """Check a bundle offline. Exit 0 it verifies, 1 it does not, 2 no verdict."""
    from provenance import project
    from provenance.registry.bundle_verify import BundleRefused, verify_bundle

    check_format(format, ("text", "json"))
    store = None if trust is None else project.load_trust(trust)
    try:
        with bundle.open("rb") as handle:
            report = verify_bundle(handle, store)
    except OSError as exc:
        raise InputError(f"cannot read the bundle ({exc.strerror})", source=str(bundle)) from exc
    except BundleRefused as exc:
        exc.hint = exc.hint or "no verdict: the bundle is beyond a limit of what is read"
        raise exc.at(str(bundle)) from None
    if format == "json":
        emit_json(report.to_dict())
    else:
        for line in report.lines():
            echo(line)
    raise typer.Exit(report.exit_code())
