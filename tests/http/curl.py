"""`curl`, for the README's HTTP session (tests/http/test_readme_session.py) on a machine without
it: the options the README uses — `-s`, `-X METHOD`, `-H 'Name: value'`, `-d BODY` and the URL —
sent with httpx, the answer's body written to stdout as curl writes it (nothing added). Any other
option is refused (exit 2), so that the README cannot come to use one this stand-in would ignore.

Run as a script: `python tests/http/curl.py ARG...`."""

from __future__ import annotations

import sys

import httpx

CONNECT_FAILED = 7  # curl's own exit status when it cannot connect


def main(argv: list[str]) -> int:
    method: str | None = None
    headers: dict[str, str] = {}
    body: bytes | None = None
    urls: list[str] = []
    args = iter(argv)
    for arg in args:
        if arg == "-s":
            continue
        if arg == "-X":
            method = next(args)
        elif arg == "-H":
            name, _, value = next(args).partition(":")
            headers[name.strip()] = value.strip()
        elif arg == "-d":
            body = next(args).encode()  # as curl sends a -d given on the command line: verbatim
        elif arg.startswith("-"):
            print(f"curl stand-in (tests/http/curl.py): {arg} is not an option it knows", file=sys.stderr)
            return 2
        else:
            urls.append(arg)
    if len(urls) != 1:
        print(f"curl stand-in (tests/http/curl.py): one URL expected, got {urls}", file=sys.stderr)
        return 2
    if body is not None and not any(name.lower() == "content-type" for name in headers):
        headers["Content-Type"] = "application/x-www-form-urlencoded"  # curl's default for -d
    try:
        answer = httpx.request(
            method or ("POST" if body is not None else "GET"),
            urls[0],
            headers=headers,
            content=body,
            timeout=30,
        )
    except httpx.ConnectError:
        return CONNECT_FAILED
    sys.stdout.buffer.write(answer.content)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
