"""`python -m sidecar.inject.probe [--wait SECONDS] URL`: exit 0 once URL answers 2xx.

The injected sidecar listens on the pod's loopback only, where the kubelet's httpGet probes
cannot reach, so its probes run this inside the container. Only the standard library is
imported: a probe runs every few seconds and must cost milliseconds, not a pyarrow import.
"""

from __future__ import annotations

import argparse
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence

TIMEOUT = 3.0
INTERVAL = 1.0


def check(url: str) -> str | None:
    """None when `url` answers 2xx, else why not."""
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT) as response:
            response.read()
    except urllib.error.HTTPError as error:
        return f"{url}: HTTP {error.code} {error.read(500).decode(errors='replace')}"
    except (OSError, ValueError) as error:
        return f"{url}: {getattr(error, 'reason', error)}"
    return None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sidecar.inject.probe")
    parser.add_argument("url")
    parser.add_argument("--wait", type=float, default=0.0, help="retry for up to SECONDS")
    args = parser.parse_args(argv)
    deadline = time.monotonic() + args.wait
    while (problem := check(args.url)) is not None and time.monotonic() < deadline:
        time.sleep(INTERVAL)
    if problem is not None:
        print(problem, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
