from collections.abc import Callable

def scan(
    line: bytes, max_depth: int, number_writer: Callable[[float], str], /
) -> tuple[bytes, int, int] | None: ...
