"""[[partners]] in the hub config: partner hubs whose granted cameras the hub imports."""

from __future__ import annotations

from pathlib import Path

import pytest
import trustme

from hub.config import load_config
from hub.errors import ConfigError

POLICE = """\
[[sites]]
id = "police"
name = "Politie Limburg"

[[partners]]
id = "uhasselt"
name = "UHasselt campus"
url = "https://hub.uhasselt.example:8787/"
token_env = "CW_TEST_PARTNER_TOKEN"
ca_file = "ca.pem"
"""

SECRET = "partner-t0ken-secret"


def write(tmp_path: Path, text: str) -> Path:
    trustme.CA().cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    (tmp_path / "not-a-ca.pem").write_text("-----BEGIN CERTIFICATE-----\nxyz\n")
    path = tmp_path / "hub.toml"
    path.write_text(text)
    return path


def test_a_hub_with_partners_only_is_a_valid_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CW_TEST_PARTNER_TOKEN", SECRET)
    config = load_config(write(tmp_path, POLICE))
    (partner,) = config.partners
    assert (partner.id, partner.name) == ("uhasselt", "UHasselt campus")
    assert partner.url == "https://hub.uhasselt.example:8787"  # no trailing slash
    assert partner.token == SECRET
    assert partner.ca_file == (tmp_path / "ca.pem").resolve()
    assert SECRET not in repr(partner) and SECRET not in repr(config)
    assert config.cameras == ()


def test_the_token_may_be_in_the_file(tmp_path: Path) -> None:
    text = POLICE.replace('token_env = "CW_TEST_PARTNER_TOKEN"', f'token = "{SECRET}"')
    (partner,) = load_config(write(tmp_path, text)).partners
    assert partner.token == SECRET


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (('id = "uhasselt"', 'id = "uh:asselt"'), ":6: partners[0].id: letters, digits"),
        (('id = "uhasselt"', 'id = "police"'), ":6: partners[0].id: 'police' is one of our"),
        (('url = "https://hub', 'url = "ftp://hub'), ":8: partners[0].url: must be the"),
        (('url = "https://', 'url = "https://me:pw@'), ":8: partners[0].url: must not carry"),
        (('token_env = "CW_TEST_PARTNER_TOKEN"', 'token_env = "CW_UNSET_VAR_Y"'),
         ":9: partners[0].token_env: environment variable 'CW_UNSET_VAR_Y' is not set"),
        (('token_env = "CW_TEST_PARTNER_TOKEN"', ""),
         ":5: partners[0].token: required (or token_env), a non-empty string"),
        (('token_env = "CW_TEST_PARTNER_TOKEN"', 'token = ""'),
         ":9: partners[0].token: required (or token_env)"),
        (('ca_file = "ca.pem"', 'ca_file = "missing.pem"'), ":10: partners[0].ca_file: no such"),
        (('ca_file = "ca.pem"', 'ca_file = "not-a-ca.pem"'),
         ":10: partners[0].ca_file: not a PEM CA certificate"),
        (('url = "https://hub', 'url = "http://hub'), ":10: partners[0].ca_file: only for an"),
        (('name = "UHasselt campus"', 'nam = "x"'), ":7: partners[0].nam: unknown key"),
    ],
)
def test_partner_problems_name_line_and_field(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, change: tuple[str, str], expected: str
) -> None:
    monkeypatch.setenv("CW_TEST_PARTNER_TOKEN", SECRET)
    path = write(tmp_path, POLICE.replace(*change))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert f"{path}{expected}" in str(info.value)
    assert SECRET not in str(info.value)


def test_duplicate_partners_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CW_TEST_PARTNER_TOKEN", SECRET)
    twice = POLICE + POLICE[POLICE.index("[[partners]]"):]
    with pytest.raises(ConfigError, match=r":12: partners\[1\].id: duplicate partner id"):
        load_config(write(tmp_path, twice))
