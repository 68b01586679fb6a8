"""The whole configuration is validated when it is read: every problem at once, each naming its key."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from recon.config import DEFAULT_VAT_RATES, load_config, parse_config, read_secret
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


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text), env={})
    return info.value.problems


def test_a_good_config_resolves_paths_relative_to_the_file(tmp_path):
    config = load_config(write(tmp_path, GOOD), env={})
    assert config.lake == tmp_path / "lake"
    assert config.sources() == ["vipps", "vipps_report", "entur"]  # the Report API comes with [vipps]
    assert [(ledger.ledger_id, ledger.timezone) for ledger in config.vipps.ledgers] == [
        ("123", "Europe/Oslo"), ("456", "Europe/Stockholm")]
    assert config.vipps.base_url == "https://api.vipps.no"
    assert config.entur.token_url == "https://partner.entur.org/oauth/token"
    assert config.reports_folder == tmp_path / "reports"


def test_every_section_has_typed_defaults(tmp_path):
    config = load_config(write(tmp_path, GOOD), env={})
    assert (config.reconcile.window_days, config.reconcile.tolerance, config.reconcile.memory_limit) == (3, 0, "2GB")
    assert config.reconcile.vat_rates == DEFAULT_VAT_RATES
    assert (config.report.include_matched, config.report.max_rows_per_sheet) == (False, 1_048_576)
    assert config.run.recheck_days == 3
    assert config.http.max_attempts == 6


def test_config_path_from_environment(tmp_path):
    path = write(tmp_path, GOOD)
    assert load_config(None, env={"RECON_CONFIG": str(path)}).path == path.resolve()


@pytest.mark.parametrize("text, expected", [
    (GOOD.replace('client_name = "acme-recon"\n', ""), "entur.client_name: is required"),
    (GOOD.replace('ledgers = ["123", {id = "456", timezone = "Europe/Stockholm"}]', "ledgers = []"),
     "vipps.ledgers: must list at least one ledger id"),
    (GOOD + "page_size = 0\n", "entur.page_size: must be a whole number of records per page 1..10_000, got 0"),
    (GOOD.replace("[entur]", "[entur]\ntimezone = 'Mars/Olympus'"),
     "entur.timezone: is not a known time zone: 'Mars/Olympus' (for example 'Europe/Oslo')"),
    (GOOD + "colour = 'red'\n", "entur.colour: unknown key"),
    (GOOD + "client_nmae = 'x'\n", "entur.client_nmae: unknown key (did you mean 'client_name'?)"),
    (GOOD + "[reconcile]\ntolerence = 1\n", "reconcile.tolerence: unknown key (did you mean 'tolerance'?)"),
    (GOOD + "[reconcile]\nout_dir = 'x'\n", "reconcile.out_dir: unknown key (it belongs in [report])"),
    (GOOD + "[reconclie]\n", "reconclie: unknown key (did you mean 'reconcile'?)"),
    (GOOD.replace('path = "lake"', "path = 3"), "lake.path: must be text, got 3"),
    (GOOD + "[reconcile]\ntolerance = -1\n", "reconcile.tolerance: must be a whole number of minor units (øre/öre) "
                                             ">= 0, got -1"),
    (GOOD + "[reconcile]\ntolerance = 0.5\n", "reconcile.tolerance: must be a whole number of minor units"),
    (GOOD + "[reconcile]\nwindow_days = true\n", "reconcile.window_days: must be a whole number of days"),
    (GOOD + "[reconcile]\nmemory_limit = 'lots'\n", "reconcile.memory_limit: must be a size such as '2GB'"),
    (GOOD + "[reconcile]\ntimezone = 'Oslo'\n", "reconcile.timezone: is not a known time zone"),
    (GOOD + "[reconcile.vat_rates]\nNOK = [25.0]\n", "reconcile.vat_rates.NOK: must list VAT rates in basis points"),
    (GOOD + "[reconcile.vat_rates]\nkr = [2500]\n", "reconcile.vat_rates.kr: must be a three-letter currency code"),
    (GOOD + "[report]\nmax_rows_per_sheet = 2\n", "report.max_rows_per_sheet: must be a whole number of rows "
                                                  "(the header row included) 3..1_048_576, got 2"),
    (GOOD + "[report]\ninclude_matched = 'yes'\n", "report.include_matched: must be true or false, got 'yes'"),
    (GOOD + "[run]\nrecheck_days = -2\n", "run.recheck_days: must be a whole number of days 0..366, got -2"),
    (GOOD + "[http]\nread_timeout = 'slow'\n", "http.read_timeout: must be a number of seconds, got 'slow'"),
    (GOOD.replace('client_id = "abc"', 'client_id = "FILL-IN: the accounting key\'s client_id"'),
     "vipps.client_id: still holds the placeholder"),
    (GOOD.replace('client_name = "acme-recon"', 'client_name = "your-company-recon"'),
     "entur.client_name: still holds the placeholder"),
    (GOOD.replace('"123", ', '"FILL-IN: ledgerId", '), "vipps.ledgers[0]: still holds the placeholder"),
    (GOOD.replace("[entur]", "[entur]\nstart = '2026-03-01'"), "entur.start: must be a timestamp, not a date"),
    (GOOD.replace("[entur]", "[entur]\npage_base = 2"), "entur.page_base: must be a whole number of the first "
                                                        "page number (0 or 1) 0..1, got 2"),
    ("[lake]\npath='x'\n", "the configuration has no source section"),
])
def test_each_mistake_is_one_line_naming_its_key(tmp_path, text, expected):
    found = problems(tmp_path, text)
    assert len(found) == 1, found
    assert found[0].startswith(expected), found[0]


def test_malformed_toml_is_one_line(tmp_path):
    with pytest.raises(ConfigError, match="malformed TOML"):
        load_config(write(tmp_path, "[lake\n"), env={})


def test_every_problem_of_every_section_is_reported_at_once(tmp_path):
    text = GOOD + "[reconcile]\ntolerance = -1\n[report]\nout_dir = 3\n[run]\nrecheck_days = 'x'\n"
    assert [p.split(":")[0] for p in problems(tmp_path, text)] == [
        "reconcile.tolerance", "report.out_dir", "run.recheck_days"]


def test_vat_rates_extend_the_defaults_per_currency():
    config = parse_config({"vipps": {"client_id": "c", "ledgers": ["1"]},
                           "reconcile": {"vat_rates": {"DKK": [2500, 0], "NOK": [2500]}}})
    assert config.reconcile.vat_rates == {"NOK": (2500,), "SEK": DEFAULT_VAT_RATES["SEK"], "DKK": (2500, 0)}


def test_secrets_come_from_the_environment_or_a_file_it_names(tmp_path):
    secret_file = tmp_path / "s"
    secret_file.write_text("from-file\n")
    assert read_secret("X", {"X": "direct"}).reveal() == "direct"
    assert read_secret("X", {"X_FILE": str(secret_file)}).reveal() == "from-file"
    with pytest.raises(ConfigError, match=r"environment variable X .or X_FILE. is not set"):
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


def test_three_mistakes_in_three_sections_are_three_lines_before_any_request(tmp_path, make_setup):
    """Against a live sandbox: the run stops at the configuration, the servers see nothing."""
    from builders import small_dataset

    setup = make_setup(small_dataset(3), extra="[reconcile]\ntolerance = -1\n[report]\nmax_rows_per_sheet = 1\n"
                                              "[run]\nrecheck_days = 'three'\n")
    proc = _cli(["run", "--config", str(setup.config_path)], tmp_path, setup.env)
    assert proc.returncode == 2
    lines = proc.stderr.splitlines()
    assert [line.split(":")[2].strip() for line in lines] == [
        "reconcile.tolerance", "report.max_rows_per_sheet", "run.recheck_days"]
    assert all(line.startswith("recon: error: ") for line in lines)
    assert setup.sandbox.requests_log == []


def test_cli_missing_config_file(tmp_path):
    proc = _cli(["status"], tmp_path)
    assert proc.returncode == 2 and "recon.toml not found" in proc.stderr


def test_the_init_file_names_every_placeholder_and_its_commented_defaults_are_valid(tmp_path):
    """`recon init`'s file: loading it lists each FILL-IN; with every commented key switched on and
    the placeholders filled, it loads, so every key it shows is known and its default valid."""
    from importlib.resources import files

    text = files("recon").joinpath("recon.example.toml").read_text(encoding="utf-8")
    found = problems(tmp_path, text)
    assert found and all("still holds the placeholder" in p for p in found)
    assert len(found) == text.count('"FILL-IN')
    filled = re.sub(r'"FILL-IN[^"]*"', '"filled"', text).replace('"filled: https://...', '"https://x')
    filled = filled.replace('base_url = "filled"', 'base_url = "https://samtrafiken.example"')
    filled = filled.replace('token_url = "filled"', 'token_url = "https://samtrafiken.example/token"')
    everything = re.sub(r"^# (\[|[a-z_]+ = |[A-Z]{3} = )", r"\1", filled, flags=re.M)
    config = load_config(write(tmp_path, everything), env={})
    assert config.http.max_pages_per_listing == 100_000 and config.samtrafiken.assertion_alg == "RS256"
    assert config.reconcile.vat_rates["SEK"] == (2500, 1200, 600, 0)
