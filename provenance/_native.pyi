from collections.abc import Callable
from typing import overload

@overload
def scan(
    line: bytes, max_depth: int, number_writer: Callable[[float], str], /
) -> tuple[bytes, int, int] | None: ...
@overload
def scan(
    line: bytes, max_depth: int, number_writer: Callable[[float], str], key: str, /
) -> tuple[bytes, int, int, int, int] | None: ...
def scan_batch(
    line: bytes,
    max_depth: int,
    number_writer: Callable[[float], str],
    prefix: bytes | None = None,
    /,
) -> (
    tuple[str, int, int]
    | tuple[
        str,
        int,
        int,
        tuple[bytes, bytes, int, int, bytes, bytes | tuple[str, str], tuple[str, bytes] | None],
    ]
    | None
): ...
def tag_batch(
    data: bytes,
    max_depth: int,
    number_writer: Callable[[float], str],
    id_key: str,
    prefix: bytes,
    batch_size: int,
    finish: Callable[[bytes, int], bytes],
    /,
) -> tuple[bytes, int] | None: ...
def b64decode(text: object, /) -> bytes | None: ...
def keep_freed_memory() -> None: ...
def line_end(data: bytes, start: int, count: int, /) -> tuple[int, int]: ...
