"""Bearer tokens: hashed storage, roles, partner grants, revocation, the `citywatch token`
command, and a running TokenAuthority following the token file (or keeping its tokens
when the file goes bad)."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import time
from pathlib import Path

import pytest

from hub.auth import (
    RELOAD_CHECK_S,
    TOKEN_PREFIX,
    Role,
    TokenAuthority,
    TokenError,
    TokenInputError,
    TokenStore,
    token_hash,
)
from hub.token_command import add_token_parser, run_token

# Issue 9: a revoked token or grant stops working within 2 s.
NOTICE_WITHIN_S = 2.0


def token_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """`citywatch token ARGV...` in this process: (exit code, stdout, stderr)."""
    parser = argparse.ArgumentParser(prog="citywatch")
    add_token_parser(parser.add_subparsers(dest="command"))
    capsys.readouterr()
    code = run_token(parser.parse_args(["token", *argv]))
    out, err = capsys.readouterr()
    return code, out, err


async def wait_for(condition, seconds: float) -> float:  # type: ignore[no-untyped-def]
    """Seconds until `condition()` held; fails after `seconds`."""
    start = time.monotonic()
    while not condition():
        assert time.monotonic() - start < seconds, "condition not met in time"
        await asyncio.sleep(0.05)
    return time.monotonic() - start


def test_only_the_hash_is_stored(tmp_path: Path) -> None:
    store = TokenStore(tmp_path)
    tokens = [store.create("ops", Role.OPERATOR), store.create("uni", Role.PARTNER, ["cam-a"])]
    raw = (tmp_path / "tokens.sqlite").read_bytes()
    for token in tokens:
        assert token.startswith(TOKEN_PREFIX) and len(token) >= 40
        assert token.encode() not in raw
        assert token[len(TOKEN_PREFIX):].encode() not in raw
        assert token_hash(token).encode() in raw  # what is stored instead
    assert len(set(tokens)) == 2
    assert oct((tmp_path / "tokens.sqlite").stat().st_mode & 0o777) == "0o600"


def test_roles_and_grants_as_the_authority_sees_them(tmp_path: Path) -> None:
    store = TokenStore(tmp_path)
    made = {role: store.create(f"t-{role}", role) for role in Role if role is not Role.PARTNER}
    partner = store.create("uni", Role.PARTNER, ["cam-b", "cam-a", "cam-a"])
    auth = TokenAuthority(store)
    for role, token in made.items():
        who = auth.authenticate(token)
        assert who is not None and who.role is role and who.name == f"t-{role}"
        assert who.cameras is None and who.sees_camera("anything")
        assert who.key == token_hash(token)
    uni = auth.authenticate(partner)
    assert uni is not None and uni.role is Role.PARTNER
    assert uni.cameras == frozenset({"cam-a", "cam-b"})
    assert uni.sees_camera("cam-a") and not uni.sees_camera("cam-c")
    assert auth.authenticate("") is None
    assert auth.authenticate(partner + "x") is None
    assert auth.authenticate(partner.upper()) is None
    listed = {info.name: info for info in store.list()}
    assert listed["uni"].cameras == ("cam-a", "cam-b") and listed["uni"].role is Role.PARTNER
    assert listed["t-operator"].cameras == ()


def test_bootstrap_token_is_an_admin_named_hub(tmp_path: Path) -> None:
    auth = TokenAuthority(TokenStore(tmp_path), bootstrap="demo-token")
    who = auth.authenticate("demo-token")
    assert who is not None and who.role is Role.ADMIN and who.name == "hub"
    assert auth.current(who) == who
    assert auth.authenticate("demo-token ") is None
    assert TokenAuthority(bootstrap=None).authenticate("") is None


@pytest.mark.parametrize(
    ("name", "role", "cameras", "message"),
    [
        ("", Role.OPERATOR, [], "token name"),
        ("a b", Role.OPERATOR, [], "token name"),
        ("ops/evil", Role.OPERATOR, [], "token name"),
        ("x" * 65, Role.OPERATOR, [], "token name"),
        ("uni", Role.PARTNER, [], "needs --cameras"),
        ("ops", Role.OPERATOR, ["cam-a"], "only partner"),
        ("uni", Role.PARTNER, ["cam a"], "not a camera id"),
    ],
)
def test_invalid_tokens_are_refused(tmp_path: Path, name: str, role: Role,
                                    cameras: list[str], message: str) -> None:
    with pytest.raises(TokenInputError, match=message):
        TokenStore(tmp_path).create(name, role, cameras)


def test_revoke_grant_ungrant(tmp_path: Path) -> None:
    store = TokenStore(tmp_path)
    partner = store.create("uni", Role.PARTNER, ["cam-a"])
    ops = store.create("ops", Role.OPERATOR)
    store.grant("uni", ["cam-b", "cam-a"])
    assert TokenAuthority(store).authenticate(partner).cameras == {"cam-a", "cam-b"}  # type: ignore[union-attr]
    store.ungrant("uni", ["cam-a", "cam-z"])  # a camera never granted: nothing to take
    assert TokenAuthority(store).authenticate(partner).cameras == {"cam-b"}  # type: ignore[union-attr]
    store.ungrant("uni", ["cam-b"])
    assert TokenAuthority(store).authenticate(partner).cameras == frozenset()  # type: ignore[union-attr]
    with pytest.raises(TokenInputError, match="only partner"):
        store.grant("ops", ["cam-a"])
    with pytest.raises(TokenInputError, match="no token named 'nobody'"):
        store.revoke("nobody")
    with pytest.raises(TokenInputError, match="exists already"):
        store.create("ops", Role.ADMIN)
    store.revoke("uni")
    auth = TokenAuthority(store)
    assert auth.authenticate(partner) is None and auth.authenticate(ops) is not None
    assert [info.name for info in store.list()] == ["ops"]


def test_reading_an_absent_store_creates_nothing(tmp_path: Path) -> None:
    store = TokenStore(tmp_path / "typo")
    assert store.list() == [] and store.principals() == {} and store.stamp() is None
    with pytest.raises(TokenInputError, match="no token named"):
        store.revoke("ops")
    assert not (tmp_path / "typo").exists()


def test_token_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = str(tmp_path)
    code, out, err = token_cli(capsys, "create", "--role", "partner", "--cameras",
                               "cam-a, cam-b", "--name", "uni", "--data-dir", data)
    assert code == 0
    token = out.strip()
    assert out == token + "\n" and token.startswith(TOKEN_PREFIX)  # only the token
    assert "uni" in err and "only time" in err and token not in err
    code, out, _ = token_cli(capsys, "create", "--role", "operator", "--data-dir", data)
    assert code == 0 and TokenAuthority(TokenStore(tmp_path)).authenticate(out.strip()).name \
        == "operator-1"  # type: ignore[union-attr]
    code, out, _ = token_cli(capsys, "list", "--json", "--data-dir", data)
    listed = [json.loads(line) for line in out.splitlines()]
    assert [(t["name"], t["role"], t["cameras"]) for t in listed] == [
        ("operator-1", "operator", []), ("uni", "partner", ["cam-a", "cam-b"])]
    assert all(set(t) == {"name", "role", "cameras", "created_at"} for t in listed)
    code, out, _ = token_cli(capsys, "list", "--data-dir", data)
    assert code == 0 and "uni" in out and "cam-a,cam-b" in out and token not in out
    assert token_hash(token) not in out
    assert token_cli(capsys, "grant", "uni", "cam-c", "--data-dir", data)[0] == 0
    assert token_cli(capsys, "ungrant", "uni", "cam-a,cam-b", "--data-dir", data)[0] == 0
    assert TokenStore(tmp_path).list()[1].cameras == ("cam-c",)
    assert token_cli(capsys, "revoke", "uni", "--data-dir", data)[0] == 0
    assert TokenAuthority(TokenStore(tmp_path)).authenticate(token) is None


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (["revoke", "nobody"], 2, "no token named 'nobody'"),
        (["grant", "operator-1", "cam-a"], 2, "only partner"),
        (["grant", "operator-1", ","], 2, "at least one camera"),
        (["create", "--role", "partner"], 2, "needs --cameras"),
        (["create", "--role", "operator", "--name", "operator-1"], 2, "exists already"),
        (["create", "--role", "admin", "--name", "bad name"], 2, "token name"),
    ],
)
def test_token_command_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                           argv: list[str], code: int, message: str) -> None:
    TokenStore(tmp_path).create("operator-1", Role.OPERATOR)
    got, out, err = token_cli(capsys, *argv, "--data-dir", str(tmp_path))
    assert got == code and out == ""
    assert err.startswith("citywatch: ") and message in err and err.count("\n") == 1


def test_token_command_on_an_unusable_file_fails_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "tokens.sqlite").write_bytes(b"this is not a database" * 100)
    for argv in (["list"], ["create", "--role", "admin", "--name", "a"], ["revoke", "a"]):
        code, out, err = token_cli(capsys, *argv, "--data-dir", str(tmp_path))
        assert code == 1 and out == "", argv
        assert err.startswith("citywatch: ") and "tokens.sqlite" in err and err.count("\n") == 1


async def test_running_authority_follows_the_cli_within_2_s(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = TokenStore(tmp_path)
    partner = store.create("uni", Role.PARTNER, ["cam-a"])
    auth = TokenAuthority(store)
    await auth.start()
    changes = auth.changes()
    try:
        uni = auth.authenticate(partner)
        assert uni is not None
        version = auth.version
        code, out, _ = token_cli(capsys, "create", "--role", "technician", "--data-dir",
                                 str(tmp_path))
        assert code == 0
        took = await wait_for(lambda: auth.authenticate(out.strip()) is not None, NOTICE_WITHIN_S)
        assert took < NOTICE_WITHIN_S and auth.version > version
        assert await asyncio.wait_for(anext(changes), 1.0) == auth.version
        # Two changes in quick succession, the file size unchanged: both are seen.
        assert token_cli(capsys, "grant", "uni", "cam-b", "--data-dir", str(tmp_path))[0] == 0
        assert token_cli(capsys, "ungrant", "uni", "cam-a", "--data-dir", str(tmp_path))[0] == 0
        await wait_for(lambda: auth.current(uni) is not None
                       and auth.current(uni).cameras == {"cam-b"}, NOTICE_WITHIN_S)  # type: ignore[union-attr]
        assert token_cli(capsys, "revoke", "uni", "--data-dir", str(tmp_path))[0] == 0
        await wait_for(lambda: auth.authenticate(partner) is None, NOTICE_WITHIN_S)
        assert auth.current(uni) is None
    finally:
        await changes.aclose()
        await auth.stop()


async def test_a_corrupt_or_unreadable_file_keeps_the_previous_tokens(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = TokenStore(tmp_path)
    ops = store.create("ops", Role.OPERATOR)
    auth = TokenAuthority(store)
    version = auth.version
    path = tmp_path / "tokens.sqlite"
    good = path.read_bytes()
    caplog.set_level(logging.INFO, logger="hub.auth")

    path.write_bytes(b"garbage" * 1000)
    assert await auth.reload() is False
    assert await auth.reload() is False
    assert auth.authenticate(ops) is not None and auth.version == version
    assert "tokens.sqlite" in auth.error
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "keeping the 1 tokens" in errors[0].getMessage()
    with pytest.raises(TokenError, match=r"tokens\.sqlite"):
        TokenAuthority(store)  # at start there is nothing to keep: the hub says why

    if os.geteuid() != 0:  # root reads any file
        path.write_bytes(good)
        path.chmod(0)
        assert await auth.reload() is False
        assert auth.authenticate(ops) is not None and "tokens.sqlite" in auth.error
        path.chmod(0o600)

    path.write_bytes(good)
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 10**9))
    await auth.reload()
    assert auth.error == "" and auth.authenticate(ops) is not None
    path.unlink()  # no file: no stored tokens
    assert await auth.reload() is True and auth.authenticate(ops) is None
    assert all(ops not in r.getMessage() for r in caplog.records)


async def test_changes_wakes_every_subscriber(tmp_path: Path) -> None:
    store = TokenStore(tmp_path)
    auth = TokenAuthority(store)
    subscribers = [auth.changes() for _ in range(3)]
    waiting = [asyncio.ensure_future(anext(s)) for s in subscribers]
    await asyncio.sleep(0)
    store.create("ops", Role.OPERATOR)
    assert await auth.reload() is True
    assert await asyncio.wait_for(asyncio.gather(*waiting), 1.0) == [1, 1, 1]
    for s in subscribers:
        await s.aclose()


def test_reload_check_is_well_within_the_promise() -> None:
    # Two checks fit in the 2 s the issue allows, so one slow check does not break it.
    assert 2 * RELOAD_CHECK_S < NOTICE_WITHIN_S
