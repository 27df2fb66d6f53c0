"""The project folder ``.provenance/``: keys, the trust store, the registry database.

This is an edge module: it reads and writes files. ``provenance init`` creates the folder in the
current directory; every command finds it by walking up from the current directory, or takes it from
``PROVENANCE_HOME``. Private keys are written owner-only (0600) and never printed; their passphrase
comes from the ``PROVENANCE_KEY_PASSPHRASE`` environment variable, never from a command-line argument.
A private key file that group or others may access is not used unless the user says so.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path
from typing import Any

import yaml

from provenance.errors import ConfigError, SigningKeyError
from provenance.keys import PrivateKeySigner, VerifyingKey
from provenance.trust import TrustStore

PROJECT_DIR = ".provenance"
HOME_ENV = "PROVENANCE_HOME"
PASSPHRASE_ENV = "PROVENANCE_KEY_PASSPHRASE"
TRUST_FILE = "trust.yaml"


def find_project(start: Path | None = None) -> Path | None:
    """The ``.provenance`` folder in force: ``$PROVENANCE_HOME``, else the nearest one upwards."""
    env = os.environ.get(HOME_ENV)
    if env:
        return Path(env)
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / PROJECT_DIR
        if candidate.is_dir():
            return candidate
    return None


def require_project(start: Path | None = None) -> Path:
    found = find_project(start)
    if found is None:
        raise ConfigError("no .provenance folder here or above", hint="run 'provenance init' first")
    return found


def init_project(where: Path) -> tuple[Path, bool]:
    """Create ``where/.provenance`` with a key folder and an empty trust store.

    Returns the folder and whether it was created (False when it already existed: nothing is
    overwritten).
    """
    home = where / PROJECT_DIR if where.name != PROJECT_DIR else where
    created = not home.exists()
    (home / "keys").mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(home / "keys", 0o700)
    trust = home / TRUST_FILE
    if not trust.exists():
        save_trust(TrustStore(), trust)
    return home, created


def keys_dir(home: Path) -> Path:
    return home / "keys"


def passphrase_from_env() -> bytes | None:
    value = os.environ.get(PASSPHRASE_ENV)
    return value.encode("utf-8") if value else None


def write_private_key(path: Path, signer: PrivateKeySigner, passphrase: bytes | None) -> None:
    """Write a PEM private key, owner-only, refusing to overwrite an existing file."""
    data = signer.private_pem(passphrase)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as exc:
        raise SigningKeyError(f"{path}: a key file already exists; choose another name") from exc
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def write_public_key(path: Path, key: VerifyingKey) -> None:
    _atomic_write(path, key.pem())


def generate_key(home: Path, name: str, algorithm: str) -> tuple[PrivateKeySigner, Path]:
    """Make a key pair ``keys/NAME.key`` (private) and ``keys/NAME.pub`` in the project."""
    if not name or "/" in name or name.startswith("."):
        raise SigningKeyError(f"'{name}' is not a usable key name")
    signer = PrivateKeySigner.generate(algorithm, name)  # type: ignore[arg-type]
    folder = keys_dir(home)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    private = folder / f"{name}.key"
    write_private_key(private, signer, passphrase_from_env())
    write_public_key(folder / f"{name}.pub", signer.verifying_key())
    return signer, private


def load_signer(
    name_or_path: str | os.PathLike[str], *, insecure: bool = False
) -> PrivateKeySigner:
    """Load a signing key: a PEM file path, or the name of a key made by ``provenance keys
    generate`` in the project folder. An encrypted key's passphrase is read from
    ``PROVENANCE_KEY_PASSPHRASE``.

    A key file that group or others may read, write or run is refused, as ssh refuses one
    (``chmod 600 FILE`` fixes it), unless ``insecure`` is true or ``PROVENANCE_INSECURE_KEY=1``
    is set.

    >>> import tempfile, os
    >>> from provenance.keys import PrivateKeySigner
    >>> path = os.path.join(tempfile.mkdtemp(), "k.pem")
    >>> with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600), "wb") as out:
    ...     _ = out.write(PrivateKeySigner.generate().private_pem())
    >>> load_signer(path).algorithm
    'ed25519'
    """
    path = Path(name_or_path)
    if not path.is_file():
        home = find_project()
        candidate = keys_dir(home) / f"{name_or_path}.key" if home else None
        if candidate is None or not candidate.is_file():
            raise SigningKeyError(
                f"no key file '{name_or_path}' and no project key of that name",
                hint="make one with 'provenance keys generate NAME'",
            )
        path = candidate
    try:
        with path.open("rb") as handle:
            if not (insecure or insecure_key_allowed()):
                _refuse_open_key(path, os.fstat(handle.fileno()).st_mode)
            pem = handle.read()
    except OSError as exc:
        raise SigningKeyError(f"{path}: cannot read the key ({exc.strerror})") from exc
    return PrivateKeySigner.from_pem(pem, passphrase_from_env(), source=str(path), name=path.stem)


INSECURE_KEY_ENV = "PROVENANCE_INSECURE_KEY"
"""Set to ``1`` to use private key files that group or others may access (``--insecure-key``)."""


def insecure_key_allowed() -> bool:
    """Whether ``PROVENANCE_INSECURE_KEY`` allows private key files open to group or others."""
    return os.environ.get(INSECURE_KEY_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def _refuse_open_key(path: Path, mode: int) -> None:
    """Refuse a private key file with any permission for group or others (ssh's rule): anyone
    who can read it can sign as its owner, anyone who can write it can swap it. Only POSIX file
    modes say so; elsewhere nothing is checked."""
    if os.name != "posix" or not stat.S_ISREG(mode) or not mode & 0o077:
        return
    raise SigningKeyError(
        f"{path}: private key is open to group or others (mode {stat.S_IMODE(mode):04o}); "
        "refusing to use it",
        hint=f"chmod 600 {path}; or, to use it anyway, pass --insecure-key or set "
        f"{INSECURE_KEY_ENV}=1",
    )


def load_public_key(name_or_path: str) -> VerifyingKey:
    """A public key from a PEM file, or a project key by name (``keys/NAME.pub``)."""
    path = Path(name_or_path)
    if not path.is_file():
        home = find_project()
        candidate = keys_dir(home) / f"{name_or_path}.pub" if home else None
        if candidate is None or not candidate.is_file():
            raise SigningKeyError(f"no public key file or project key named '{name_or_path}'")
        path = candidate
    try:
        return VerifyingKey.from_pem(path.read_bytes(), str(path))
    except OSError as exc:
        raise SigningKeyError(f"{path}: cannot read the key ({exc.strerror})") from exc


TRUST_ADVICE = (
    "pass --trust FILE (the trust store of whoever signed the data), or run 'provenance init'"
)
"""What to do when no trust store is at hand: most data checked outside a project was signed by
someone else, whose trust store says which keys count."""


def load_trust(path: str | Path | None = None) -> TrustStore:
    """Read a trust store YAML file (bounded like every YAML file, see :mod:`provenance.bounded`),
    by default the project's; a missing file is an error naming it."""
    from provenance.bounded import read_yaml

    path = trust_path(None if path is None else Path(path))
    if not path.exists() and not path.is_symlink():
        raise ConfigError(f"{path}: trust store not found", hint=TRUST_ADVICE)
    data: Any = read_yaml(path, empty=None)
    return TrustStore.from_dict(data, str(path))


def save_trust(store: TrustStore, path: Path) -> None:
    text = (
        "# provenance trust store: keys allowed to sign manifests. Edit with 'provenance keys'.\n"
    )
    text += yaml.safe_dump(store.to_dict(), sort_keys=False, allow_unicode=True)
    _atomic_write(path, text.encode("utf-8"))


def trust_path(explicit: Path | None) -> Path:
    """The trust store to use: the given file, else the project's."""
    if explicit is not None:
        return explicit
    home = find_project()
    if home is None:
        raise ConfigError(
            "no trust store: no --trust given and no .provenance folder here or above",
            hint=TRUST_ADVICE,
        )
    return home / TRUST_FILE


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
