"""Where the URL and key come from: the environment over `adamant login`'s file over the default."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from client.config import DEFAULT_URL, config_path, load_credentials, require_credentials, save_config
from client.exceptions import NotConfigured


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in ("ADAMANT_URL", "ADAMANT_API_KEY", "ADAMANT_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    return tmp_path


def test_the_file_lives_under_xdg_config_home_unless_adamant_config_names_one(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert config_path() == tmp_path / "xdg" / "adamant" / "config.json"
    monkeypatch.setenv("ADAMANT_CONFIG", str(tmp_path / "elsewhere.json"))
    assert config_path() == tmp_path / "elsewhere.json"


def test_login_saves_a_file_only_its_owner_can_read() -> None:
    path = save_config("https://adamant.example/", "key-1")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) & 0o077 == 0
    assert load_credentials().url == "https://adamant.example" and load_credentials().api_key == "key-1"


def test_saving_again_replaces_the_file_and_keeps_it_private(tmp_path: Path) -> None:
    path = save_config("http://a", "key-1")
    path.chmod(0o644)
    save_config("http://b", "key-2")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_credentials().api_key == "key-2"
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".config-")]


def test_environment_variables_win_over_the_file(monkeypatch: pytest.MonkeyPatch) -> None:
    save_config("http://stored:8000", "stored-key")
    monkeypatch.setenv("ADAMANT_URL", "http://env:9000")
    assert (load_credentials().url, load_credentials().api_key) == ("http://env:9000", "stored-key")
    monkeypatch.setenv("ADAMANT_API_KEY", "env-key")
    assert (load_credentials().url, load_credentials().api_key) == ("http://env:9000", "env-key")


def test_without_file_or_environment_the_local_url_and_no_key() -> None:
    assert load_credentials().url == DEFAULT_URL and load_credentials().api_key is None
    with pytest.raises(NotConfigured, match="adamant login"):
        require_credentials()


def test_a_broken_file_is_reported_unless_the_environment_gives_everything(monkeypatch: pytest.MonkeyPatch) -> None:
    config_path().parent.mkdir(parents=True)
    config_path().write_text("{not json")
    with pytest.raises(NotConfigured, match="login"):
        load_credentials()
    monkeypatch.setenv("ADAMANT_URL", "http://env")
    monkeypatch.setenv("ADAMANT_API_KEY", "env-key")
    assert load_credentials().api_key == "env-key"
