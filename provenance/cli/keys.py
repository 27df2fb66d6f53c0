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
    from provenance.trust import TrustedKey, TrustStore

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
        "(evidence bundles and their reports), checkpoints (registry log checkpoints), libraries "
        "(terms libraries, library.sig).",
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
    from provenance.manifest import parse_when

    return None if text is None else parse_when(text, what)


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
    store = project.load_trust(trust)
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
    if "*" not in entry.organizations:
        scope += f" (organisations {','.join(entry.organizations)})"
    if entry.valid_from:
        scope += f" from {format_time(entry.valid_from)}"
    if entry.valid_until:
        scope += f" until {format_time(entry.valid_until)}"
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
    key: Annotated[
        str,
        typer.Argument(
            metavar="KEY",
            help="Public key PEM file or project key name; with --update also a trusted key's "
            "name or key id.",
        ),
    ],
    name: Annotated[
        str | None, typer.Option(metavar="NAME", help="Name in the trust store.")
    ] = None,
    provider: ProviderOption = None,
    organization: OrgOption = None,
    valid_from: Annotated[
        str | None,
        typer.Option(
            metavar="WHEN",
            help="First moment the key's signatures count: a date (2024-05-01) or an RFC 3339 "
            "time (2024-05-01T12:00:00Z); with --update, 'none' removes the bound.",
        ),
    ] = None,
    valid_until: Annotated[
        str | None,
        typer.Option(
            metavar="WHEN",
            help="Moment the key retires (signatures made before it keep verifying): a date or an "
            "RFC 3339 time; with --update, 'none' removes the bound.",
        ),
    ] = None,
    signs: Annotated[
        str | None,
        typer.Option(
            "--signs",
            metavar="KINDS",
            help="What the key is trusted to sign, comma-separated: records (manifests), evidence "
            "(evidence bundles and their reports), checkpoints (registry log checkpoints). "
            "Default: records.",
        ),
    ] = None,
    update: Annotated[
        bool,
        typer.Option(
            "--update",
            help="Change the entry of a key already trusted: the options given replace its "
            "providers, organisations, validity window, what it signs or its name; the others "
            "are kept.",
        ),
    ] = False,
    trust: TrustOption = None,
) -> None:
    """Trust a public key to sign records (manifests) for some providers and organisations, and
    with --signs evidence bundles and registry checkpoints.

    With --update, change the scope or the validity window of a key already in the trust store.
    Every change adds one to the trust store's version.
    """
    from provenance import project

    if update:
        _update_trusted(
            project.trust_path(trust),
            key,
            name=name,
            providers=provider,
            organizations=organization,
            valid_from=valid_from,
            valid_until=valid_until,
            signs=signs,
        )
        return
    kinds = _signs(signs or "records")
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


def _bound(text: str | None, what: str, current: datetime | None) -> datetime | None:
    """A validity bound given to ``keys trust --update``: kept when not given, removed by
    ``none``."""
    if text is None:
        return current
    if text.strip().lower() == "none":
        return None
    return _when(text, what)


def _update_trusted(
    path: Path,
    key: str,
    *,
    name: str | None,
    providers: list[str] | None,
    organizations: list[str] | None,
    valid_from: str | None,
    valid_until: str | None,
    signs: str | None,
) -> None:
    from provenance import project
    from provenance.errors import InputError

    store = project.load_trust(path)
    entry = _trusted_entry(store, key)
    changed = replace(
        entry,
        name=entry.name if name is None else name,
        providers=entry.providers if providers is None else tuple(providers),
        organizations=entry.organizations if organizations is None else tuple(organizations),
        valid_from=_bound(valid_from, "--valid-from", entry.valid_from),
        valid_until=_bound(valid_until, "--valid-until", entry.valid_until),
        signs=entry.signs if signs is None else _signs(signs),
    )
    if changed == entry:
        raise InputError(
            f"nothing to change for '{entry.name}'",
            hint="give --provider, --organization, --valid-from, --valid-until, --signs or --name",
        )
    if changed.name != entry.name and any(k.name == changed.name for k in store.keys):
        raise InputError(f"a trusted key is already named '{changed.name}'")
    store = store.update(entry, changed)
    project.save_trust(store, path)
    echo(
        f"updated '{changed.name}' {changed.keyid[:16]}: {_trust_state(changed)} "
        f"(trust store version {store.version})"
    )


def _trusted_entry(store: TrustStore, key: str) -> TrustedKey:
    """The trust store's entry for ``key``: a trusted key's name or key id, or a PEM file or
    project key whose public key is in the store."""
    from provenance import project
    from provenance.errors import ProvenanceError

    try:
        return store.find(key)
    except ConfigError:
        pass
    try:
        entry = store.by_keyid(project.load_public_key(key).keyid)
    except ProvenanceError:
        entry = None
    if entry is None:
        raise ConfigError(
            f"'{key}' is not in the trust store",
            hint="'provenance keys list' shows its entries; trust a new key without --update",
        )
    return entry


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
    if store.by_keyid(key.keyid) is not None:
        raise ConfigError(
            f"key {key.keyid[:16]} is already in the trust store",
            hint="change its entry with 'provenance keys trust KEY --update' and the options to "
            "change",
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
