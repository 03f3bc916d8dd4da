"""Where `adamant login` keeps the service URL and API key, and how the environment overrides them.

The file is $ADAMANT_CONFIG, else $XDG_CONFIG_HOME/adamant/config.json (~/.config/...), written
with mode 600 because it holds a key. ADAMANT_URL and ADAMANT_API_KEY, when set, win over it.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from client.exceptions import NotConfigured

DEFAULT_URL = "http://127.0.0.1:8000"


@dataclass(frozen=True)
class Credentials:
    url: str
    api_key: str | None


def config_path() -> Path:
    explicit = os.environ.get("ADAMANT_CONFIG")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base) / "adamant" / "config.json"


def read_config(path: Path | None = None) -> dict[str, str]:
    """The stored settings; {} when nothing was stored yet."""
    path = path or config_path()
    try:
        stored = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise NotConfigured(f"cannot read {path}: {exc} (run `adamant login` again)") from exc
    return {k: v for k, v in stored.items() if isinstance(v, str)} if isinstance(stored, dict) else {}


def save_config(url: str, api_key: str, path: Path | None = None) -> Path:
    """Store url and key, readable by this user only (the file is replaced whole, never half-written)."""
    path = path or config_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    descriptor, temporary = tempfile.mkstemp(prefix=".config-", dir=path.parent)  # mkstemp creates it 0600
    try:
        with os.fdopen(descriptor, "w") as file:
            json.dump({"url": url, "api_key": api_key}, file, indent=2)
            file.write("\n")
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def load_credentials() -> Credentials:
    """URL and key: the environment first, then the file, then the local default URL."""
    env_url, env_key = os.environ.get("ADAMANT_URL"), os.environ.get("ADAMANT_API_KEY")
    stored = {} if env_url and env_key else read_config()  # a broken file does not matter then
    url = env_url or stored.get("url") or DEFAULT_URL
    key = env_key or stored.get("api_key")
    return Credentials(url=url.rstrip("/"), api_key=key)


def require_credentials() -> Credentials:
    credentials = load_credentials()
    if not credentials.api_key:
        raise NotConfigured("no API key: run `adamant login` or set ADAMANT_API_KEY")
    return credentials
