"""`sidecar inject serve` and `sidecar inject render`: the webhook and its offline twin.

Also runnable as `python -m sidecar.inject`, which skips the `sidecar` command's own imports
(pyarrow and the client libraries): the injector pods stay small.
"""

from __future__ import annotations

import argparse
import logging
import ssl
import sys
from pathlib import Path
from typing import TextIO

from sidecar.inject.annotations import Denied
from sidecar.inject.injector import Injector
from sidecar.inject.settings import SettingsError, load_settings
from sidecar.inject.workloads import render


def add_arguments(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(dest="inject_command", required=True, metavar="COMMAND")
    settings_help = "injector settings: YAML with the chart's sidecar: keys (default: built-in)"
    serve = commands.add_parser("serve", help="serve the mutating admission webhook over HTTPS")
    serve.add_argument("--tls-cert", type=Path, required=True, help="certificate chain (PEM)")
    serve.add_argument("--tls-key", type=Path, required=True, help="private key (PEM)")
    serve.add_argument("--host", default="0.0.0.0", help="listen address (default: 0.0.0.0)")
    serve.add_argument("--port", type=int, default=8443, help="listen port (default: 8443)")
    serve.add_argument("--settings", type=Path, help=settings_help)
    render = commands.add_parser(
        "render", help="print manifests with the sidecar injected, as the webhook would"
    )
    render.add_argument(
        "-f", "--filename", required=True, help="a Pod, Deployment, ... YAML file, or - for stdin"
    )
    render.add_argument("--settings", type=Path, help=settings_help)


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    try:
        injector = Injector(load_settings(args.settings))
    except SettingsError as error:
        print(f"ERROR: {error}", file=err)
        return 2
    if args.inject_command == "render":
        return _render(args.filename, injector, out, err)
    from sidecar.inject.admission import serve

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        serve(injector, host=args.host, port=args.port, cert=args.tls_cert, key=args.tls_key)
    except (OSError, ssl.SSLError) as error:
        print(
            f"ERROR: cannot serve on {args.host}:{args.port} with the certificate "
            f"{args.tls_cert} and key {args.tls_key}: {error}",
            file=err,
        )
        return 1
    return 0


def _render(filename: str, injector: Injector, out: TextIO, err: TextIO) -> int:
    try:
        text = sys.stdin.read() if filename == "-" else Path(filename).read_text()
    except OSError as error:
        print(f"ERROR: cannot read {filename}: {error.strerror or error}", file=err)
        return 1
    try:
        out.write(render(text, injector))
    except Denied as error:
        print(f"ERROR: {error}", file=err)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sidecar.inject")
    add_arguments(parser)
    return run(parser.parse_args(argv), sys.stdout, sys.stderr)
