"""Running as a systemd service: the unit, `entasis service install`, and the daemon speaking
sd_notify to a real NOTIFY_SOCKET while serving Prometheus metrics on loopback."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.cli.service import UnitSpec
from tests.conftest import REPO_ROOT
from tests.unit.test_sdnotify import FakeSystemd
from tests.waiting import wait_until

SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
DATA_DIR = "/srv/entasis-test/var"  # only named in the unit; outside /tmp, which PrivateTmp hides
MAX_EXPOSURE = 4.0


def install(tmp_path: Path, *extra: str, data_dir: str = DATA_DIR) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", "service", "install", "--unit-dir",
         str(tmp_path / "units"), "--data-dir", data_dir, "--json", *extra],
        capture_output=True, text=True, cwd=REPO_ROOT, timeout=60)


def test_the_shipped_unit_is_the_template_with_its_defaults() -> None:
    shipped = (REPO_ROOT / "deploy" / "entasis.service").read_text()
    assert shipped == UnitSpec().render(), "regenerate deploy/entasis.service from UnitSpec"
    for line in ("Type=notify", "WatchdogSec=30", "Restart=on-failure", "User=entasis",
                 "NoNewPrivileges=true", "ProtectSystem=strict", "PrivateTmp=true",
                 "ReadWritePaths=/opt/entasis/var", "EnvironmentFile=-/etc/entasis/entasis.env"):
        assert line in shipped.splitlines(), line


def test_service_install_writes_the_unit_for_the_given_user(tmp_path: Path) -> None:
    done = install(tmp_path, "--user", "trader", "--watchdog-s", "20")
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    unit = Path(answer["unit"]).read_text()
    assert Path(answer["unit"]) == tmp_path / "units" / "entasis.service"
    assert "User=trader" in unit and "Group=trader" in unit and "WatchdogSec=20" in unit
    assert f"ReadWritePaths={DATA_DIR}" in unit
    assert f"ExecStart={Path(sys.prefix).resolve()}/bin/entasis run --config" in unit
    assert any("useradd --system --user-group" in step for step in answer["next_steps"])


def test_service_install_runs_the_venv_under_prefix_as_the_users_own_group(tmp_path: Path) -> None:
    done = install(tmp_path, "--user", "trader", "--prefix", "/opt/entasis-b")
    assert done.returncode == 0, done.stderr
    unit = (tmp_path / "units" / "entasis.service").read_text().splitlines()
    assert "ExecStart=/opt/entasis-b/.venv/bin/entasis run --config /opt/entasis-b/config.toml" in unit
    assert "WorkingDirectory=/opt/entasis-b" in unit
    assert "Group=trader" in unit and not any(line.startswith("Group=no") for line in unit)


def test_service_install_names_an_existing_users_primary_group(tmp_path: Path) -> None:
    import grp
    import pwd

    user = pwd.getpwuid(os.getuid())
    if not user.pw_name.islower() or not user.pw_name.isalnum():
        pytest.skip(f"current user {user.pw_name!r} is not a plain system user name")
    done = install(tmp_path, "--user", user.pw_name)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1])["group"] == grp.getgrgid(user.pw_gid).gr_name


@pytest.mark.parametrize(("option", "path", "setting"), [
    ("--prefix", "/home/alice/entasis", "ProtectHome=true"),
    ("--data-dir", "/tmp/entasis-var", "PrivateTmp=true"),
    ("--data-dir", "/root/var", "ProtectHome=true"),
])
def test_service_install_refuses_paths_the_sandbox_hides(
        tmp_path: Path, option: str, path: str, setting: str) -> None:
    extra = [option, path] if option != "--data-dir" else []
    done = install(tmp_path, "--user", "entasis", *extra,
                   data_dir=path if option == "--data-dir" else DATA_DIR)
    assert done.returncode == 2, done.stdout
    message = " ".join(done.stderr.split())
    assert f"{option} {path} is under" in message and setting in message and "/opt" in message
    assert not (tmp_path / "units" / "entasis.service").exists()


def test_printed_install_steps_are_whole_lines_at_any_terminal_width(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli", "service", "install", "--unit-dir", str(tmp_path / "u"),
         "--data-dir", "/srv/a-rather-long-path/that/would/wrap/on/a/narrow/terminal/var",
         "--user", "entasis"],
        capture_output=True, text=True, cwd=REPO_ROOT, timeout=60,
        env={**os.environ, "COLUMNS": "40", "TERM": "xterm"})
    assert done.returncode == 0, done.stderr
    steps = [line.strip() for line in done.stdout.splitlines()[1:]]
    assert steps[0].startswith("useradd --system") and steps[0].endswith("entasis")
    assert steps[1] == ("install -d -o entasis -g entasis -m 0750 "
                        "/srv/a-rather-long-path/that/would/wrap/on/a/narrow/terminal/var")


@pytest.mark.skipif(SYSTEMD_ANALYZE is None,
                    reason="systemd-analyze not installed (apt-get install systemd)")
def test_the_shipped_unit_exposure_is_at_most_4() -> None:
    done = subprocess.run([SYSTEMD_ANALYZE, "security", "--offline=true", "--no-pager",
                           str(REPO_ROOT / "deploy" / "entasis.service")],
                          capture_output=True, text=True, timeout=60)
    match = re.search(r"Overall exposure level for \S+: ([0-9.]+)", done.stdout + done.stderr)
    assert match, done.stdout + done.stderr
    assert float(match.group(1)) <= MAX_EXPOSURE, done.stdout
    shipped = (REPO_ROOT / "deploy" / "entasis.service").read_text().splitlines()
    assert "RestartPreventExitStatus=2 3 4" in shipped  # hardening kept the no-restart codes
    assert not any(line.startswith("MemoryDenyWriteExecute") for line in shipped)  # numba JIT


def test_service_install_refuses_a_bad_user_name(tmp_path: Path) -> None:
    done = install(tmp_path, "--user", "Root Admin")
    assert done.returncode == 2 and "lower-case system user" in " ".join(done.stderr.split())
    assert not (tmp_path / "units" / "entasis.service").exists()


@pytest.mark.skipif(SYSTEMD_ANALYZE is None,
                    reason="systemd-analyze not installed (apt-get install systemd) ")
def test_systemd_analyze_verify_accepts_the_generated_unit(tmp_path: Path) -> None:
    done = install(tmp_path, "--user", "entasis")
    assert done.returncode == 0, done.stderr
    unit = tmp_path / "units" / "entasis.service"
    verify = subprocess.run([SYSTEMD_ANALYZE, "verify", str(unit)], capture_output=True,
                            text=True, timeout=60)
    # verify exits 0 on unknown keys too and only warns: any output is a finding.
    assert verify.returncode == 0 and verify.stderr.strip() == "", verify.stderr
    broken = tmp_path / "units" / "broken.service"
    broken.write_text(unit.read_text().replace("WatchdogSec=", "WatchdogSecs="))
    check = subprocess.run([SYSTEMD_ANALYZE, "verify", str(broken)], capture_output=True,
                           text=True, timeout=60)
    assert "Unknown key" in check.stderr, "the check must catch a misspelled directive"


FAST = """
[sim]
coins = 8
speed = 600.0
history_days = 1.2
[feed]
backfill_minutes = 1500
stale_after_s = 5.0
[strategy]
max_spread_bps = 500.0
[schedule]
enabled = false
[metrics]
enabled = true
port = 0
"""


def scrape(port: int) -> dict[str, list]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    samples: dict[str, list] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append(sample)
    return samples


@pytest.mark.slow
def test_daemon_under_a_fake_systemd_notifies_and_serves_metrics(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(FAST)
    fake = FakeSystemd(str(tmp_path / "notify.sock"))
    env = {**os.environ, "PYTHONFAULTHANDLER": "1", "NOTIFY_SOCKET": str(tmp_path / "notify.sock"),
           "WATCHDOG_USEC": "1000000", "PYTHONUNBUFFERED": "1"}
    env.pop("WATCHDOG_PID", None)
    daemon = subprocess.Popen([sys.executable, "-m", "bot.cli", "run", "--config", str(config)],
                              cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, env=env)
    try:
        deadline = time.monotonic() + 60  # for all three waits together

        def alive() -> bool:
            assert daemon.poll() is None, daemon.stdout.read() if daemon.stdout else ""
            return True

        wait_until(lambda: alive() and "READY=1" in fake.lines(), deadline - time.monotonic(),
                   what="READY=1", interval_s=0.2)
        port = json.loads((tmp_path / "var" / "metrics.json").read_text())["port"]
        samples = scrape(port)

        def three_steps_counted() -> bool:
            nonlocal samples
            samples = scrape(port)
            steps = samples.get("entasis_decision_steps_total", [])
            return (bool(steps) and steps[0].value >= 3
                    and "entasis_decision_latency_ms_count" in samples)

        wait_until(three_steps_counted, deadline - time.monotonic(),
                   what="three decision steps counted", interval_s=0.5)
        assert samples["entasis_ticks_total"][0].value > 0
        assert samples["entasis_equity"][0].value == pytest.approx(10_000, rel=0.05)
        assert samples["entasis_feed_stale"][0].value == 0
        assert samples["entasis_decision_latency_ms_count"][0].value >= 1
        assert "entasis_orders_total" in samples and "entasis_fills_total" in samples
        assert samples["entasis_model_info"][0].labels["version"] == "baseline (rule-based)"
        # the heartbeat pings every WATCHDOG_USEC / 2 = 0.5 s: see a second ping before stopping
        # (on a fast machine READY and three decision steps can all fit in one interval)
        wait_until(lambda: alive() and fake.lines().count("WATCHDOG=1") >= 2,
                   deadline - time.monotonic(), what="a second watchdog ping", interval_s=0.1)
    finally:
        daemon.send_signal(signal.SIGINT)
        try:
            output, _ = daemon.communicate(timeout=15)
        except subprocess.TimeoutExpired:  # never leave a daemon behind; the asserts say why
            daemon.send_signal(signal.SIGABRT)
            output, _ = daemon.communicate()
        time.sleep(0.2)  # the last datagram (STOPPING=1) in flight; no wait that can raise here
        fake.close()
    assert daemon.returncode == 0 and "Traceback" not in output, output
    lines = fake.lines()
    ready = lines.index("READY=1")
    assert lines.count("WATCHDOG=1") >= 2, "pings every WATCHDOG_USEC / 2 = 0.5 s"
    assert lines[-1] == "STOPPING=1"
    assert any(line.startswith("STATUS=paper · feed live · 8 symbols") for line in lines[ready:])
    assert not (tmp_path / "var" / "metrics.json").exists()

