"""Configuration errors are one clear line naming the key or variable, exit code 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from recon.config import load_config, read_secret
from recon.errors import ConfigError

GOOD = """
[lake]
path = "lake"
[vipps]
client_id = "abc"
ledgers = ["123", {id = "456", timezone = "Europe/Stockholm"}]
[entur]
client_id = "id"
client_name = "acme-recon"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "recon.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_good_config_resolves_paths_relative_to_the_file(tmp_path):
    config = load_config(write(tmp_path, GOOD), env={})
    assert config.lake == tmp_path / "lake"
    assert config.sources() == ["vipps", "entur"]
    assert [(l.ledger_id, l.timezone) for l in config.vipps.ledgers] == [("123", "Europe/Oslo"),
                                                                         ("456", "Europe/Stockholm")]
    assert config.vipps.base_url == "https://api.vipps.no"
    assert config.entur.token_url == "https://partner.entur.org/oauth/token"


def test_config_path_from_environment(tmp_path):
    path = write(tmp_path, GOOD)
    assert load_config(None, env={"RECON_CONFIG": str(path)}).path == path.resolve()


@pytest.mark.parametrize("text, message", [
    (GOOD.replace('client_name = "acme-recon"\n', ""), "missing key entur.client_name"),
    (GOOD.replace('ledgers = ["123", {id = "456", timezone = "Europe/Stockholm"}]', "ledgers = []"),
     "vipps.ledgers must list at least one"),
    (GOOD + "page_size = 0\n", "entur.page_size must be"),
    (GOOD.replace("[entur]", "[entur]\ntimezone = 'Mars/Olympus'"), "entur.timezone is not a known time zone"),
    (GOOD + "colour = 'red'\n", "unknown key entur.colour"),
    (GOOD.replace('path = "lake"', "path = 3"), "lake.path must be str"),
    ("[lake\n", "malformed TOML"),
    ("[lake]\npath='x'\n", "no source section"),
])
def test_malformed_configs_name_the_key(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message):
        load_config(write(tmp_path, text), env={})


def test_secrets_come_from_the_environment_or_a_file_it_names(tmp_path):
    secret_file = tmp_path / "s"
    secret_file.write_text("from-file\n")
    assert read_secret("X", {"X": "direct"}).reveal() == "direct"
    assert read_secret("X", {"X_FILE": str(secret_file)}).reveal() == "from-file"
    with pytest.raises(ConfigError, match="environment variable X .or X_FILE. is not set"):
        read_secret("X", {})


def _cli(args, tmp_path, env_extra=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECON_")}
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "recon.cli", *args], capture_output=True, text=True,
                          cwd=tmp_path, env=env, timeout=60)


def test_cli_missing_secret_exits_2_naming_the_variable(tmp_path):
    write(tmp_path, GOOD)
    proc = _cli(["pull", "vipps"], tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip() == ("recon: error: environment variable RECON_VIPPS_CLIENT_SECRET "
                                   "(or RECON_VIPPS_CLIENT_SECRET_FILE) is not set")


def test_cli_malformed_config_exits_2_with_one_line(tmp_path):
    path = write(tmp_path, GOOD + "page_size = 'ten'\n")
    proc = _cli(["pull", "--config", str(path)], tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "entur.page_size must be int" in proc.stderr


def test_cli_missing_config_file(tmp_path):
    proc = _cli(["status"], tmp_path)
    assert proc.returncode == 2 and "recon.toml not found" in proc.stderr
