from __future__ import annotations

from pathlib import Path

import pytest

from inprod.config import load_settings, mask_url
from inprod.errors import InvalidInput


def test_defaults_live_under_dot_inprod(tmp_path: Path) -> None:
    s = load_settings(environ={}, cwd=tmp_path)
    assert s.home == tmp_path / ".inprod"
    assert s.store_url == f"sqlite:///{tmp_path / '.inprod' / 'store.db'}"
    assert s.artifacts == str(tmp_path / ".inprod" / "artifacts")
    assert s.sources["home"] == "default"


def test_env_beats_file_and_argument_beats_env(tmp_path: Path) -> None:
    (tmp_path / "inprod.toml").write_text('[inprod]\nhome = "h"\nartifacts = "memory://a"\n')
    s = load_settings(environ={"INPROD_ARTIFACTS": "memory://b"}, cwd=tmp_path)
    assert s.home == tmp_path / "h"
    assert s.sources["home"].startswith("file ")
    assert s.artifacts == "memory://b"
    assert s.sources["artifacts"] == "env INPROD_ARTIFACTS"
    s = load_settings(environ={"INPROD_ARTIFACTS": "memory://b"}, cwd=tmp_path, artifacts="x://")
    assert s.artifacts == "x://" and s.sources["artifacts"] == "argument"


def test_unknown_key_in_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "inprod.toml").write_text('stor_url = "x"\n')
    with pytest.raises(InvalidInput, match="stor_url"):
        load_settings(environ={}, cwd=tmp_path)


def test_broken_toml_is_reported(tmp_path: Path) -> None:
    (tmp_path / "inprod.toml").write_text("home = \n")
    with pytest.raises(InvalidInput, match="not valid TOML"):
        load_settings(environ={}, cwd=tmp_path)


def test_missing_config_file_from_env(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="INPROD_CONFIG"):
        load_settings(environ={"INPROD_CONFIG": "nope.toml"}, cwd=tmp_path)


def test_passwords_are_masked() -> None:
    assert mask_url("postgresql://u:pw@h/d") == "postgresql://u:***@h/d"
    assert mask_url("sqlite:////x") == "sqlite:////x"


def test_config_show_lists_every_setting_and_its_source(cli) -> None:
    out = cli.ok("config", "show", "--json").stdout
    import json

    data = json.loads(out)
    assert set(data) == {
        "home",
        "store_url",
        "artifacts",
        "max_body_bytes",
        "log_buffer_capacity",
        "refresh_seconds",
        "auth_refresh_seconds",
        "rollout_tick_seconds",
        "review_lease_seconds",
        "profile_seconds",
        "monitor_tick_seconds",
        "retrain_tick_seconds",
    }
    assert data["max_body_bytes"]["value"] == str(10 * 1024 * 1024)
    assert data["store_url"]["source"] == "env INPROD_STORE_URL"
    assert data["artifacts"]["source"] == "default"


def test_numeric_settings_are_cast_and_checked(tmp_path: Path) -> None:
    s = load_settings(environ={"INPROD_MAX_BODY_BYTES": "2048"}, cwd=tmp_path)
    assert s.max_body_bytes == 2048 and s.sources["max_body_bytes"] == "env INPROD_MAX_BODY_BYTES"
    with pytest.raises(InvalidInput, match="INPROD_REFRESH_SECONDS"):
        load_settings(environ={"INPROD_REFRESH_SECONDS": "soon"}, cwd=tmp_path)
    with pytest.raises(InvalidInput, match="must be positive"):
        load_settings(environ={"INPROD_LOG_BUFFER_CAPACITY": "0"}, cwd=tmp_path)


def test_zero_turns_the_rollout_controller_off_but_negative_is_refused(tmp_path: Path) -> None:
    s = load_settings(environ={"INPROD_ROLLOUT_TICK_SECONDS": "0"}, cwd=tmp_path)
    assert s.rollout_tick_seconds == 0
    with pytest.raises(InvalidInput, match=r"must be 0 or more \(0 turns it off\)"):
        load_settings(environ={"INPROD_ROLLOUT_TICK_SECONDS": "-1"}, cwd=tmp_path)
    with pytest.raises(InvalidInput, match=r"INPROD_REVIEW_LEASE_SECONDS.*must be positive"):
        load_settings(environ={"INPROD_REVIEW_LEASE_SECONDS": "0"}, cwd=tmp_path)
