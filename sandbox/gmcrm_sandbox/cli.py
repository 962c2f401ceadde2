"""``python -m gmcrm_sandbox``: serve the sandbox, generate leads to a file, show a running sandbox."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

from . import records, timefmt
from .generate import dealer_codes_for, generate_leads
from .info import read_info
from .schema import OPPORTUNITY

DEFAULT_STATE_DIR = ".gmcrm/sandbox"


def _dealer_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dealers", type=int, default=3, help="number of dealerships: BR0001, BR0002, ...")
    parser.add_argument(
        "--dealer-codes", default=None, help="explicit comma-separated dealer codes (instead of --dealers)"
    )
    parser.add_argument("--leads-per-dealer", type=int, default=20, help="leads generated per dealership")
    parser.add_argument("--seed", type=int, default=42, help="generation seed: same seed, same leads")


def _dealer_codes(args: argparse.Namespace) -> tuple[str, ...]:
    if args.dealer_codes:
        return tuple(c.strip() for c in args.dealer_codes.split(",") if c.strip())
    return tuple(dealer_codes_for(args.dealers))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m gmcrm_sandbox",
        description="The GM CRM sandbox: a local, HTTPS stand-in for GM's Salesforce org.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser(
        "serve",
        help="start the sandbox (writes <state-dir>/sandbox.json once listening)",
        description="Serve the Salesforce REST subset over HTTPS with generated leads, until SIGINT/SIGTERM.",
    )
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8443, help="0 picks a free port")
    serve.add_argument("--state-dir", type=Path, default=Path(DEFAULT_STATE_DIR), help="certificates, sandbox.json")
    _dealer_args(serve)
    serve.add_argument("--daily-limit", type=int, default=15000, help="DailyApiRequests Max")
    serve.add_argument("--client-id", default="gmcrm", help="OAuth client id (client credentials grant)")
    serve.add_argument("--client-secret", default="sandbox-secret", help="OAuth client secret")
    serve.add_argument("--log-level", default="warning", choices=["debug", "info", "warning", "error"])

    gen = sub.add_parser("generate", help="print generated leads as JSON (same generator the server uses)")
    _dealer_args(gen)
    gen.add_argument("--now", default=None, help="generation time (default: now), e.g. 2026-11-27T10:00:00Z")
    gen.add_argument("--out", type=Path, default=None, help="write to this file instead of stdout")

    show = sub.add_parser("info", help="print the sandbox.json of a running sandbox")
    show.add_argument("--state-dir", type=Path, default=Path(DEFAULT_STATE_DIR))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        from .server import ServeOptions, serve  # deferred: uvicorn and trustme only for serving
        from .store import OrgConfig

        org = OrgConfig(
            client_id=args.client_id,
            client_secret=args.client_secret,
            daily_limit=args.daily_limit,
            seed=args.seed,
            dealer_codes=_dealer_codes(args),
            leads_per_dealer=args.leads_per_dealer,
        )
        serve(ServeOptions(state_dir=args.state_dir, host=args.host, port=args.port, org=org, log_level=args.log_level))
        return 0
    if args.command == "generate":
        now = timefmt.parse_sf(args.now) if args.now else datetime.now(UTC)
        started = time.monotonic()
        leads = generate_leads(args.seed, _dealer_codes(args), args.leads_per_dealer, now)
        elapsed = time.monotonic() - started
        text = json.dumps([records.plain(OPPORTUNITY, lead) for lead in leads], ensure_ascii=False, indent=1)
        if args.out:
            args.out.write_text(text + "\n", encoding="utf-8")
        else:
            sys.stdout.write(text + "\n")
        print(f"{len(leads)} leads generated in {elapsed:.2f}s", file=sys.stderr)
        return 0
    info = read_info(args.state_dir)
    if info is None:
        print(f"no running sandbox in {args.state_dir}", file=sys.stderr)
        return 1
    print(json.dumps(asdict(info), indent=2))
    return 0
