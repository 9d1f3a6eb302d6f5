"""The ``hexkernel`` command line.

``hexkernel run package.module:app --host 0.0.0.0 --port 8000 --config cfg.yml --reload``
serves an app with uvicorn. Flags become ``HEXKERNEL_...`` variables before
the app module is imported, so :func:`~hexkernel.interfaces.config.load_settings`
sees them with the contract's precedence: flag > environment > cfg.yml > default.
"""

import argparse
import os
import sys
from collections.abc import Sequence

__all__ = ("main",)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hexkernel", description="Run and manage hexkernel services."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="serve an app with uvicorn")
    run.add_argument("app", help="the app to serve, as package.module:attribute")
    run.add_argument("--host", help="interface to bind (setting http.host)")
    run.add_argument("--port", type=int, help="port to bind (setting http.port)")
    run.add_argument("--config", help="a YAML configuration file (default ./cfg.yml)")
    run.add_argument("--reload", action="store_true", help="restart on code changes (development)")
    run.add_argument("--app-dir", default=".", help="directory to import the app from")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``hexkernel`` command."""
    args = _parser().parse_args(argv)
    if args.config is not None:
        os.environ["HEXKERNEL_CONFIG"] = args.config
    if args.host is not None:
        os.environ["HEXKERNEL_HTTP__HOST"] = args.host
    if args.port is not None:
        os.environ["HEXKERNEL_HTTP__PORT"] = str(args.port)

    import uvicorn  # noqa: PLC0415 - only the run command needs it

    from hexkernel.interfaces.config import load_settings  # noqa: PLC0415

    settings = load_settings()
    uvicorn.run(
        args.app,
        host=settings.http.host,
        port=settings.http.port,
        reload=args.reload,
        app_dir=args.app_dir,
        log_level=settings.log_level.lower(),
    )
    return 0


if __name__ == "__main__":  # pragma: no cover - the console script calls main()
    sys.exit(main())
