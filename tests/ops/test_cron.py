"""recon as an operator runs it at night: the installed entry point under cron's empty environment
(no terminal, nothing but PATH, HOME, SHELL and LOGNAME), the shipped job definitions, JSON logs,
colour on a terminal, and `recon init`'s lake."""

from __future__ import annotations

import io
import json
import logging
import os
import pty
import re
import select
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from builders import booking_event, small_dataset

from recon.cli import EXIT_CODES, cli
from recon.logs import can_animate, console_mode, register_secret, setup_logging, use_colour
from recon.ops.demo import SYSTEM_LAKE, default_lake

JOBS = Path(__file__).resolve().parents[2] / "jobs"
RECON = Path(sys.executable).parent / "recon"  # the console script pip installed beside this python
PERIOD = "--from 2026-10-24 --to 2026-10-26"
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ (?P<level>[A-Z]+) run=\S+ recon[.\w]*: ")


def cron_env(home: Path) -> dict[str, str]:
    """All that cron gives a job (Debian's cron: PATH=/usr/bin:/bin, HOME, SHELL, LOGNAME)."""
    return {"PATH": "/usr/bin:/bin", "HOME": str(home), "SHELL": "/bin/sh", "LOGNAME": "recon"}


def env_file(setup, folder: Path) -> Path:
    """/etc/recon/recon.env for this sandbox: RECON_CONFIG and the secrets, the key as a file."""
    lines = [f"RECON_CONFIG={shlex.quote(str(setup.config_path))}"]
    for name, value in setup.env.items():
        if "\n" in value:
            key = folder / "samtrafiken-key.pem"
            key.write_text(value)
            lines.append(f"{name}_FILE={shlex.quote(str(key))}")
        else:
            lines.append(f"{name}={shlex.quote(value)}")
    path = folder / "recon.env"
    path.write_text("\n".join(lines) + "\n")
    return path


def crontab_job() -> tuple[dict[str, str], str]:
    """jobs/crontab.example: its variable lines and the command of its one job line."""
    variables, jobs = {}, []
    for line in (JOBS / "crontab.example").read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if m := re.fullmatch(r"([A-Z_]+)=(.*)", line):
            variables[m[1]] = m[2]
        else:
            jobs.append(line.split(None, 5))
    [job] = jobs
    assert job[:5] == ["30", "2", "*", "*", "*"]
    return variables, job[5]


def run_logs(lake: Path) -> str:
    [log] = (lake / "_logs").glob("*.log")
    return log.read_text(encoding="utf-8")


def recon_cron(setup, *args: str, home: Path, extra_env: dict[str, str] | None = None):
    """The installed `recon` with cron's environment plus the secrets, no terminal anywhere."""
    env = {**cron_env(home), **setup.env, **(extra_env or {})}
    return subprocess.run([str(RECON), *args, "--config", str(setup.config_path), *PERIOD.split()],
                          env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)


def test_the_crontab_line_as_written_is_silent_on_success_and_its_run_log_holds_everything(make_setup, tmp_path):
    variables, command = crontab_job()
    # Debian's cron ignores CRON_TZ: the example must not lean on it (recon's own zone decides the days).
    assert "CRON_TZ" not in variables and "TZ" not in variables and "MAILTO" in variables
    setup = make_setup(small_dataset(n=12))
    summary = tmp_path / "last-run.txt"
    ours = (command.replace("/etc/recon/recon.env", str(env_file(setup, tmp_path)))
            .replace("/opt/recon/.venv/bin/recon", str(RECON))
            .replace("/var/lib/recon/last-run.txt", str(summary)))
    assert ours.count(str(tmp_path)) == 2 and str(RECON) in ours, "the crontab line changed shape"
    ours = ours.replace(" run ", f" run {PERIOD} ", 1)  # the sandbox's dates instead of yesterday
    # cron runs the line with /bin/sh -c, in the user's home, with no terminal.
    proc = subprocess.run(["/bin/sh", "-c", ours], env=cron_env(tmp_path), cwd=tmp_path, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=120)
    assert (proc.returncode, proc.stderr, proc.stdout) == (0, "", "")  # nothing for cron to mail
    # The summary the operator looks at: where the crontab keeps stdout.
    shown = summary.read_text()
    assert "CREDIT_WITHOUT_REFUND" in shown and "workbook: " in shown and "\x1b[" not in shown
    # The run's log file has every event, the per-code summary too.
    text = run_logs(setup.config().lake)
    assert all(LOG_LINE.match(line) for line in text.splitlines())
    for source in ("vipps", "vipps_report", "entur", "samtrafiken"):
        assert re.search(rf" INFO .*: {source}: pull finished: \d+ pages, \d+ records, ", text), source
    assert re.search(r" INFO .*: exceptions CREDIT_WITHOUT_REFUND: \d+, [\d,.]+ NOK$", text, re.M)
    assert re.search(r" INFO .*: run finished: \d+ exceptions, workbook .*, exit code 0$", text, re.M)
    for secret in setup.secret_values():
        assert secret not in text + shown


def test_under_cron_warnings_alone_reach_stderr_as_json_and_the_log_file_has_every_event_with_fields(
        make_setup, tmp_path):
    ds = small_dataset(n=6)
    ds.events = [*ds.events, booking_event(9, status="EXCHANGED")]  # a status recon does not know: a warning
    setup = make_setup(ds)
    proc = recon_cron(setup, "--log-format", "json", "run", home=tmp_path)
    assert proc.returncode == 0, proc.stderr
    *events, trailer = proc.stderr.splitlines()
    warnings = [json.loads(line) for line in events]
    assert [(w["level"], w["event"], w["source"], w["value"], w["records"]) for w in warnings] == [
        ("warning", "unknown_value", "samtrafiken", "booking status 'EXCHANGED'", 1)]
    log_file = setup.config().lake / "_logs" / f"{warnings[0]['run_id']}.log"
    assert trailer == f"recon: the whole run: {log_file}"
    # The log file: one JSON object per event, with its fields, not only a message string.
    doc = [json.loads(line) for line in log_file.read_text(encoding="utf-8").splitlines()]
    assert all({"time", "level", "run_id", "logger", "event", "message"} <= set(d) for d in doc)
    finished = {d["source"]: d for d in doc if d["event"] == "pull_finished"}
    assert set(finished) == {"vipps", "vipps_report", "entur", "samtrafiken"}
    assert finished["samtrafiken"]["records"] == len(ds.events) and finished["samtrafiken"]["outcome"] == "ok"
    assert all(isinstance(d[k], int) for d in finished.values() for k in ("pages", "records", "quarantined"))
    by_code = {d["code"]: d for d in doc if d["event"] == "exceptions_by_code"}
    assert by_code["CREDIT_WITHOUT_REFUND"]["count"] >= 1 and by_code["CREDIT_WITHOUT_REFUND"]["currency"] == "NOK"
    [run] = [d for d in doc if d["event"] == "run_finished"]
    assert run["exit_code"] == 0 and run["exceptions"] == sum(d["count"] for d in by_code.values())
    assert {d["run_id"] for d in doc} == {warnings[0]["run_id"]}


def test_under_cron_a_failed_source_mails_the_one_clear_error_first(make_setup, tmp_path):
    setup = make_setup(small_dataset(n=4), quirks="vipps-revoked=L2")
    proc = recon_cron(setup, "run", home=tmp_path)
    assert proc.returncode == 3
    first, *details, trailer = proc.stderr.splitlines()
    assert first.startswith("recon: error: source failed: vipps (ledger L2), vipps_report (ledger L2); ")
    # Then why, as the run logged it (errors and warnings only), then where the whole run is.
    assert details and all(LOG_LINE.match(line)["level"] in {"WARNING", "ERROR"} for line in details)
    assert any("ledger L2 not read (HTTP 404" in line for line in details)
    log_file = setup.config().lake / "_logs"
    [log] = log_file.glob("*.log")
    assert trailer == f"recon: the whole run: {log}"
    assert first.removeprefix("recon: error: ") in log.read_text()  # the log file has the verdict too


def test_under_cron_a_missing_secret_is_one_line_and_exit_2(make_setup, tmp_path):
    setup = make_setup(small_dataset(n=2))
    setup.env.clear()  # the crontab line that forgot to source recon.env
    proc = recon_cron(setup, "run", home=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr == ("recon: error: environment variable RECON_VIPPS_CLIENT_SECRET "
                           "(or RECON_VIPPS_CLIENT_SECRET_FILE) is not set\n")
    assert setup.sandbox.requests_log == []


def in_a_terminal(args: list[str], env: dict[str, str]) -> str:
    """What a person at a terminal sees (stdout and stderr on one pseudo-terminal)."""
    controller, terminal = pty.openpty()
    proc = subprocess.Popen(args, env=env, stdin=terminal, stdout=terminal, stderr=terminal)
    os.close(terminal)
    seen = b""
    try:
        while True:
            ready, _, _ = select.select([controller], [], [], 60)
            if not ready:
                raise AssertionError("the terminal went quiet")
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # EIO: every writer closed the terminal
                break
            if not chunk:
                break
            seen += chunk
    finally:
        os.close(controller)
        proc.wait(timeout=60)
    assert proc.returncode == 0, seen
    return seen.decode("utf-8", "replace")


def test_a_terminal_gets_colour_and_progress_unless_no_color_or_term_dumb(make_setup):
    setup = make_setup(small_dataset(n=3))
    base = {**os.environ, **setup.env, "TERM": "xterm-256color"}
    base.pop("NO_COLOR", None)
    args = [str(RECON), "pull", "--config", str(setup.config_path)]
    coloured = in_a_terminal(args, base)
    assert "\x1b[32m" in coloured and "\x1b[2K" in coloured  # green "ok", redrawn progress lines
    plain = in_a_terminal(args, {**base, "NO_COLOR": "1"})
    assert "\x1b" not in plain and re.search(r"^samtrafiken +ok ", plain, re.M)


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(("env", "colour"), [
    ({"TERM": "xterm"}, True), ({"TERM": "xterm", "NO_COLOR": "1"}, False), ({"TERM": "xterm", "NO_COLOR": ""}, True),
    ({"TERM": "dumb"}, False), ({}, True)])
def test_colour_and_animation_follow_no_color_and_term(env, colour):
    assert use_colour(Tty(), env) is colour and can_animate(Tty(), env) is colour
    assert not use_colour(io.StringIO(), {"TERM": "xterm"})  # no terminal, no colour


def test_stderr_is_the_journal_only_when_journal_stream_names_it(tmp_path):
    with open(tmp_path / "err", "w") as stream, open(tmp_path / "other", "w") as other:
        st, ot = os.fstat(stream.fileno()), os.fstat(other.fileno())
        assert console_mode(stream, {}) == "batch"
        assert console_mode(stream, {"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"}) == "journal"
        # Inherited from a unit by a child whose stderr is somewhere else: not the journal.
        assert console_mode(stream, {"JOURNAL_STREAM": f"{ot.st_dev}:{ot.st_ino}"}) == "batch"
    assert console_mode(Tty(), {}) == "terminal"


@pytest.fixture
def recon_logging():
    """setup_logging reconfigures the process's `recon` logger: put it back as the tests had it."""
    root = logging.getLogger("recon")
    saved = (list(root.handlers), root.level, root.propagate, logging.raiseExceptions)
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    root.handlers[:], root.level, root.propagate, logging.raiseExceptions = saved


def test_json_fields_are_redacted_and_file_only_events_stay_off_stderr(tmp_path, recon_logging):
    secret = "s3cret-" + os.urandom(8).hex()
    register_secret(secret)
    log_file = tmp_path / "run.log"
    setup_logging(run_id="r1", log_format="json", log_file=log_file, mode="batch")
    log = logging.getLogger("recon.test")
    log.warning("token %s refused", secret, extra={"event": "token_refused", "source": "vipps",
                                                   "detail": {"echo": f"Bearer {secret}"}, "pages": 3})
    log.error("the verdict", extra={"event": "command_failed", "file_only": True})
    held = io.StringIO()
    from recon.logs import release_held

    release_held(held)
    for handler in logging.getLogger("recon").handlers:
        handler.flush()
    lines = log_file.read_text().splitlines()
    first = json.loads(lines[0])
    assert first["event"] == "token_refused" and first["source"] == "vipps" and first["pages"] == 3
    assert first["detail"] == {"echo": "Bearer ***"} and first["message"] == "token *** refused"
    assert first["run_id"] == "r1" and "file_only" not in json.loads(lines[1])
    assert secret not in log_file.read_text() + held.getvalue()
    # stderr (held for a batch reader) got the warning, not the file-only verdict.
    assert [json.loads(line)["event"] for line in held.getvalue().splitlines()[:-1]] == ["token_refused"]


def unit(name: str) -> dict[str, list[tuple[str, str]]]:
    """A systemd unit file: section -> [(key, value)] (keys repeat: LoadCredential, Environment)."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] = []
    for raw in (JOBS / name).read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), [])
        else:
            key, _, value = line.partition("=")
            current.append((key.strip(), value.strip()))
    return sections


def values(section: list[tuple[str, str]], key: str) -> list[str]:
    return [v for k, v in section if k == key]


def documented_exit_codes() -> set[int]:
    return {int(m[1]) for m in re.finditer(r"^ +(\d+)  ", EXIT_CODES.split("Exit codes:", 1)[1], re.M)}


def test_the_systemd_units_fail_loudly_read_credentials_and_run_at_oslo_time():
    timer, service = unit("recon.timer"), unit("recon.service")
    assert values(timer["Timer"], "OnCalendar") == ["*-*-* 02:30:00 Europe/Oslo"]
    [on_failure] = values(service["Unit"], "OnFailure")
    assert on_failure == "recon-failure@%n.service" and (JOBS / "recon-failure@.service").exists()
    assert values(unit("recon-failure@.service")["Service"], "ExecStart")
    svc = service["Service"]
    # Every secret from a credential: <VARIABLE>_FILE=%d/<name> for a credential the unit loads.
    loaded = {v.split(":", 1)[0] for v in values(svc, "LoadCredential")}
    env = dict(v.split("=", 1) for v in values(svc, "Environment"))
    for variable in ("RECON_VIPPS_CLIENT_SECRET", "RECON_ENTUR_CLIENT_SECRET", "RECON_SAMTRAFIKEN_PRIVATE_KEY"):
        path = env[variable + "_FILE"]
        assert path.startswith("%d/") and path.removeprefix("%d/") in loaded, variable
    assert not values(svc, "EnvironmentFile") and env["RECON_CONFIG"] == "/etc/recon/nightly.toml"
    # SuccessExitStatus agrees with the exit codes recon documents for the flags ExecStart uses.
    [exec_start] = values(svc, "ExecStart")
    argv = shlex.split(exec_start)
    assert argv[0] == "/opt/recon/.venv/bin/recon"
    run_at = argv.index("run")
    group_options = {o for p in cli.params for o in p.opts}
    run_options = {o for p in cli.commands["run"].params for o in p.opts}
    assert {a for a in argv[1:run_at] if a.startswith("-")} <= group_options
    assert {a for a in argv[run_at + 1:] if a.startswith("-")} <= run_options
    success = {int(code) for v in values(svc, "SuccessExitStatus") for code in v.split()}
    assert success <= documented_exit_codes()
    assert not success & {1, 2, 3, 4}  # failures: OnFailure must fire
    # Exit 5 comes only with --fail-on-mismatch / --fail-on-age, and those are there to fail the unit.
    assert 5 not in success
    assert 143 in success  # `systemctl stop` is not a failed night


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_analyze_verifies_the_units(tmp_path):
    for name in ("recon.service", "recon.timer", "recon-failure@.service"):
        text = (JOBS / name).read_text().replace("/opt/recon/.venv/bin/recon", str(RECON))
        (tmp_path / name).write_text(text)
    proc = subprocess.run(["systemd-analyze", "verify", *(str(tmp_path / n) for n in ("recon.service", "recon.timer",
                                                                                         "recon-failure@.service"))],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and str(tmp_path) not in proc.stdout + proc.stderr, proc.stdout + proc.stderr


def test_init_puts_a_system_config_s_lake_under_var_lib(tmp_path):
    assert default_lake(Path("/etc/recon/recon.toml")) == SYSTEM_LAKE == "/var/lib/recon/lake"
    assert default_lake(Path("/usr/local/etc/recon.toml")) == SYSTEM_LAKE
    assert default_lake(Path("/etcetera/recon.toml")) == "lake" and default_lake(tmp_path / "r.toml") == "lake"
    mine = tmp_path / "mine" / "recon.toml"
    proc = subprocess.run([str(RECON), "init", str(mine)], capture_output=True, text=True, timeout=60,
                          env=cron_env(tmp_path))
    assert proc.returncode == 0 and f"(lake: {tmp_path / 'mine' / 'lake'})" in proc.stdout
    assert re.search(r'^path = "lake" +#', mine.read_text(), re.M)
    chosen = tmp_path / "chosen.toml"
    assert subprocess.run([str(RECON), "init", str(chosen), "--lake", "/srv/recon/lake"], capture_output=True,
                          timeout=60, env=cron_env(tmp_path)).returncode == 0
    import tomllib

    assert tomllib.loads(chosen.read_text())["lake"]["path"] == "/srv/recon/lake"
