"""`citywatch token create|list|revoke|grant|ungrant`: the API's bearer tokens.

Works on the token store of a data directory (hub/auth.py); a hub serving from that
directory picks every change up within a second, so revoking a token or a partner's grant
needs no restart. A created token is printed once, alone on stdout, for scripts to capture;
it is never stored or shown again (only its hash is kept).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from hub.auth import Role, TokenError, TokenInfo, TokenInputError, TokenStore

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_INVALID_INPUT = 2

ROLE_HELP = ("admin: everything; operator: alerts, reads, wanted plates, watching cameras; "
             "technician: cameras (PTZ, diagnose, reboot, maintenance); partner: read-only, "
             "granted cameras only; sensor: posts reads")


def add_token_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    token = sub.add_parser("token", help="create, list or revoke the API's bearer tokens")
    actions = token.add_subparsers(dest="token_command", metavar="ACTION", required=True)
    create = actions.add_parser("create", help="create a token and print it (only this once)",
                                description=ROLE_HELP)
    create.add_argument("--role", required=True, choices=[r.value for r in Role])
    create.add_argument("--cameras", type=_camera_list, default=[], metavar="ID,ID...",
                        help="the cameras a partner token is granted (partner tokens only)")
    create.add_argument("--name", default=None,
                        help="the token's name in listings and audits (default: ROLE-N)")
    listing = actions.add_parser("list", help="the stored tokens (names, roles, grants)")
    listing.add_argument("--json", action="store_true", help="one JSON object per token")
    revoke = actions.add_parser("revoke", help="delete a token: it stops working at once")
    revoke.add_argument("name", metavar="NAME")
    grant = actions.add_parser("grant", help="grant a partner token more cameras")
    ungrant = actions.add_parser("ungrant", help="take cameras away from a partner token")
    for parser in (grant, ungrant):
        parser.add_argument("name", metavar="NAME")
        parser.add_argument("cameras", nargs="+", metavar="CAMERA", help="camera ids")
    for parser in (create, listing, revoke, grant, ungrant):
        parser.add_argument("--data-dir", type=Path, default=None, metavar="DIR",
                            help="the hub's data directory (default: .citywatch)")


def run_token(args: argparse.Namespace) -> int:
    """Exit 0 done, 2 refused input (bad name or camera, unknown token), 1 the token file
    cannot be read or written."""
    store = TokenStore(_data_dir(args))
    try:
        if args.token_command == "create":
            return _create(store, args)
        if args.token_command == "list":
            _list(store.list(), args.json)
        elif args.token_command == "revoke":
            store.revoke(args.name)
            print(f"token {args.name!r} revoked")
        elif args.token_command == "grant":
            cameras = _flatten(args.cameras)
            store.grant(args.name, cameras)
            print(f"token {args.name!r} granted {', '.join(cameras)}")
        else:
            cameras = _flatten(args.cameras)
            store.ungrant(args.name, cameras)
            print(f"token {args.name!r} no longer granted {', '.join(cameras)}")
    except TokenInputError as exc:
        print(f"citywatch: {exc}", file=sys.stderr)
        return EXIT_INVALID_INPUT
    except TokenError as exc:
        print(f"citywatch: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    return EXIT_OK


def _create(store: TokenStore, args: argparse.Namespace) -> int:
    role = Role(args.role)
    name = args.name if args.name is not None else _free_name(store, role)
    token = store.create(name, role, args.cameras)
    print(token, flush=True)
    grants = f" for {', '.join(sorted(set(args.cameras)))}" if args.cameras else ""
    print(f"citywatch: {role} token {name!r}{grants} stored (hashed) in {store.path}; "
          "this is the only time it is shown", file=sys.stderr)
    return EXIT_OK


def _list(tokens: list[TokenInfo], as_json: bool) -> None:
    for info in tokens:
        if as_json:
            print(json.dumps({"name": info.name, "role": info.role.value,
                              "cameras": list(info.cameras),
                              "created_at": info.created_at.isoformat()}))
        else:
            grants = ",".join(info.cameras) if info.role is Role.PARTNER else "all"
            print(f"{info.name:<24} {info.role.value:<10} {info.created_at:%Y-%m-%d %H:%M}"
                  f"  {grants}")
    if not as_json:
        print(f"{len(tokens)} token(s)", file=sys.stderr)


def _data_dir(args: argparse.Namespace) -> Path:
    if args.data_dir is not None:
        return Path(args.data_dir)
    from hub.cli import DEFAULT_DATA_DIR  # here, not at the top: hub.cli imports this module

    return DEFAULT_DATA_DIR


def _free_name(store: TokenStore, role: Role) -> str:
    """ROLE-N with the smallest N not taken."""
    taken = {info.name for info in store.list()}
    n = 1
    while f"{role}-{n}" in taken:
        n += 1
    return f"{role}-{n}"


def _camera_list(text: str) -> list[str]:
    """argparse type: "A,B, C" -> ["A", "B", "C"]."""
    return [part.strip() for part in text.split(",") if part.strip()]


def _flatten(values: list[str]) -> list[str]:
    """Positional camera ids, each possibly "A,B": one id per item."""
    cameras = [camera for value in values for camera in _camera_list(value)]
    if not cameras:
        raise TokenInputError("name at least one camera")
    return cameras
