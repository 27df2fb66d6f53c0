"""``provenance init`` and ``provenance keys``: the project folder, signing keys, the trust store."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from provenance.cli.app import app, command_group
from provenance.cli.output import echo, table
from provenance.errors import ConfigError
from provenance.keys import ALGORITHMS, PrivateKeySigner, VerifyingKey

if TYPE_CHECKING:
    from provenance.trust import TrustedKey

keys_app = command_group(
    help="Make, list, export, trust, revoke and rotate signing keys.", no_args_is_help=True
)
app.add_typer(keys_app, name="keys")

TrustOption = Annotated[
    Path | None, typer.Option("--trust", help="Trust store file (default: the project's).")
]
ProviderOption = Annotated[
    list[str] | None,
    typer.Option("--provider", help="Provider the key may sign for (repeat; default: any)."),
]
OrgOption = Annotated[
    list[str] | None,
    typer.Option(
        "--organization", help="Organisation the key may sign for (repeat; default: any)."
    ),
]
SignsOption = Annotated[
    str,
    typer.Option(
        "--signs",
        help="What the key is trusted to sign, comma-separated: records (manifests), evidence "
        "(evidence bundles and their reports), checkpoints (registry log checkpoints).",
    ),
]


def _signs(text: str) -> tuple[str, ...]:
    from provenance.errors import InputError
    from provenance.trust import parse_signs

    try:
        return parse_signs(text, "--signs")
    except ConfigError as exc:
        raise InputError(exc.message, hint=exc.hint) from None


def _when(text: str | None, what: str) -> datetime | None:
    from provenance.manifest import parse_time

    if text is None:
        return None
    return parse_time(text if "T" in text else f"{text}T00:00:00Z", what)


@app.command()
def init(
    path: Annotated[Path, typer.Argument(help="Folder to set up (default: here).")] = Path(),
) -> None:
    """Create .provenance/ with a key folder and an empty trust store."""
    from provenance import project

    home, created = project.init_project(path)
    echo(f"{'created' if created else 'already set up'}: {home}")


@keys_app.command("generate")
def generate(
    name: Annotated[str, typer.Argument(help="Key name; files keys/NAME.key and keys/NAME.pub.")],
    algorithm: Annotated[str, typer.Option(help=f"One of {', '.join(ALGORITHMS)}.")] = "ed25519",
    trust: Annotated[
        bool, typer.Option("--trust/--no-trust", help="Also add the public key to the trust store.")
    ] = False,
    provider: ProviderOption = None,
    organization: OrgOption = None,
    signs: SignsOption = "records",
) -> None:
    """Make a key pair in the project. The private key is written owner-only and encrypted when
    PROVENANCE_KEY_PASSPHRASE is set."""
    from provenance import project

    kinds = _signs(signs)
    if algorithm not in ALGORITHMS:
        raise ConfigError(f"unknown algorithm '{algorithm}'", hint=f"use {', '.join(ALGORITHMS)}")
    home = project.require_project()
    signer, path = project.generate_key(home, name, algorithm)
    echo(f"generated {algorithm} key '{name}' {signer.keyid}")
    echo(f"private key: {path}")
    if trust:
        _add_trusted(
            home / project.TRUST_FILE,
            name,
            signer.verifying_key(),
            provider,
            organization,
            None,
            None,
            kinds,
        )


@keys_app.command("list")
def list_keys(trust: TrustOption = None) -> None:
    """List the project's keys and the trust store's entries."""
    from provenance import project

    home = project.find_project()
    store = project.load_trust(project.trust_path(trust))
    rows = []
    if home is not None:
        for pub in sorted(project.keys_dir(home).glob("*.pub")):
            key = VerifyingKey.from_pem(pub.read_bytes(), str(pub))
            entry = store.by_keyid(key.keyid)
            rows.append(
                [
                    pub.stem,
                    key.algorithm,
                    key.keyid[:16],
                    "yes" if (pub.with_suffix(".key")).exists() else "no",
                    _trust_state(entry) if entry else "not trusted",
                ]
            )
    local = {r[2] for r in rows}
    for entry in store.keys:
        if entry.keyid[:16] not in local:
            rows.append(
                [entry.name, entry.key.algorithm, entry.keyid[:16], "no", _trust_state(entry)]
            )
    table(
        ["name", "algorithm", "key id", "private", "trust"],
        rows,
        title=f"keys (trust store version {store.version}, threshold {store.threshold})",
    )


def _trust_state(entry: TrustedKey) -> str:
    from provenance.manifest import format_time

    if entry.revoked_at:
        return f"revoked {format_time(entry.revoked_at)}"
    scope = f"signs {','.join(entry.signs)} for {','.join(entry.providers)}"
    if entry.valid_until:
        return f"{scope} until {format_time(entry.valid_until)}"
    return scope


@keys_app.command("export")
def export(
    name: Annotated[str, typer.Argument(help="Project key name or PEM file.")],
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Write here.")] = None,
) -> None:
    """Print (or write) a public key as PEM. Private keys are never exported."""
    from provenance import project

    pem = project.load_public_key(name).pem()
    if output is None:
        echo(pem.decode("ascii").rstrip("\n"))
    else:
        project.write_public_key(output, VerifyingKey.from_pem(pem))
        echo(f"wrote {output}")


@keys_app.command("trust")
def trust_key(
    key: Annotated[str, typer.Argument(help="Public key PEM file or project key name.")],
    name: Annotated[str | None, typer.Option(help="Name in the trust store.")] = None,
    provider: ProviderOption = None,
    organization: OrgOption = None,
    valid_from: Annotated[str | None, typer.Option(help="Date or RFC 3339 time.")] = None,
    valid_until: Annotated[str | None, typer.Option(help="Date or RFC 3339 time.")] = None,
    signs: SignsOption = "records",
    trust: TrustOption = None,
) -> None:
    """Trust a public key to sign records (manifests) for some providers and organisations, and
    with --signs evidence bundles and registry checkpoints."""
    from provenance import project

    kinds = _signs(signs)
    verifying = project.load_public_key(key)
    _add_trusted(
        project.trust_path(trust),
        name or Path(key).stem,
        verifying,
        provider,
        organization,
        _when(valid_from, "--valid-from"),
        _when(valid_until, "--valid-until"),
        kinds,
    )


def _add_trusted(
    path: Path,
    name: str,
    key: VerifyingKey,
    providers: list[str] | None,
    organizations: list[str] | None,
    valid_from: datetime | None,
    valid_until: datetime | None,
    signs: tuple[str, ...],
) -> None:
    from provenance import project
    from provenance.trust import TrustedKey

    store = project.load_trust(path)
    entry = TrustedKey(
        name=name,
        key=key,
        providers=tuple(providers or ["*"]),
        organizations=tuple(organizations or ["*"]),
        valid_from=valid_from,
        valid_until=valid_until,
        signs=signs,
    )
    store = store.add(entry)
    project.save_trust(store, path)
    echo(
        f"trusted '{name}' {key.keyid[:16]} to sign {', '.join(entry.signs)}, for providers "
        f"{', '.join(entry.providers)} (trust store version {store.version})"
    )


@keys_app.command("revoke")
def revoke(
    key: Annotated[str, typer.Argument(help="Trusted key name or key id (prefix).")],
    reason: Annotated[str, typer.Option(help="Why (kept in the trust store).")] = "revoked",
    trust: TrustOption = None,
) -> None:
    """Revoke a compromised key: every signature it made stops verifying."""
    from provenance import project

    path = project.trust_path(trust)
    store = project.load_trust(path)
    entry = store.find(key)
    store = store.update(entry, replace(entry, revoked_at=datetime.now(UTC), revoked_reason=reason))
    project.save_trust(store, path)
    echo(f"revoked '{entry.name}' {entry.keyid[:16]} (trust store version {store.version})")


@keys_app.command("rotate")
def rotate(
    old: Annotated[str, typer.Argument(help="Trusted key to retire.")],
    new: Annotated[str, typer.Argument(help="Name of the new project key to make and trust.")],
    algorithm: Annotated[str, typer.Option(help=f"One of {', '.join(ALGORITHMS)}.")] = "ed25519",
    trust: TrustOption = None,
) -> None:
    """Make a new key with the old key's scope (what it signs, for which providers and
    organisations) and retire the old one from now on.

    Records the old key signed before now keep verifying (its validity ends now); use revoke for a
    compromised key."""
    from provenance import project
    from provenance.trust import TrustedKey

    home = project.require_project()
    path = project.trust_path(trust)
    store = project.load_trust(path)
    entry = store.find(old)
    signer: PrivateKeySigner
    signer, _ = project.generate_key(home, new, algorithm)
    now = datetime.now(UTC)
    store = store.update(entry, replace(entry, valid_until=now))
    store = store.add(
        TrustedKey(
            name=new,
            key=signer.verifying_key(),
            providers=entry.providers,
            organizations=entry.organizations,
            valid_from=now,
            signs=entry.signs,
        )
    )
    project.save_trust(store, path)
    echo(
        f"rotated '{entry.name}' → '{new}' {signer.keyid[:16]} "
        f"(trust store version {store.version})"
    )
