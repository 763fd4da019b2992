from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gemmacode.config import load_settings
from gemmacode.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent


def _user_file(text: str, env_dir: Path) -> None:
    env_dir.mkdir(parents=True, exist_ok=True)
    (env_dir / "config.toml").write_text(text)


def test_defaults_follow_the_seed_advice(tmp_path: Path) -> None:
    s = load_settings(tmp_path, env={"GEMMACODE_CONFIG_DIR": str(tmp_path / "none")})
    assert s.backend.model == "gemma4:e4b"
    assert s.sampling.temperature == 0.2
    assert s.sampling.top_p == 0.9
    assert s.backend.keep_alive == "5m"
    assert s.backend.think is False


def test_layers_in_order(tmp_path: Path) -> None:
    cfg = tmp_path / "cfg"
    _user_file('[backend]\nmodel = "user"\nkeep_alive = "10m"\n[sampling]\ntop_k = 7\n', cfg)
    project = tmp_path / "proj"
    project.mkdir()
    (project / ".gemmacode.toml").write_text('[backend]\nmodel = "project"\nkeep_alive = "1m"\n')
    env = {
        "GEMMACODE_CONFIG_DIR": str(cfg),
        "GEMMACODE_BACKEND_KEEP_ALIVE": "2m",
        "GEMMACODE_SAMPLING_TEMPERATURE": "0.1",
    }
    s = load_settings(
        project, env=env, overrides={"backend.model": "flag", "context.num_ctx": None}
    )
    assert s.backend.model == "flag"  # flag beats project beats user
    assert s.backend.keep_alive == "2m"  # env beats project
    assert s.sampling.top_k == 7  # user file survives where nothing overrides
    assert s.sampling.temperature == 0.1
    assert s.context.num_ctx == 0  # a None flag is "not given"


def test_unknown_key_names_file_key_and_fix(tmp_path: Path) -> None:
    project = tmp_path / "p"
    project.mkdir()
    (project / ".gemmacode.toml").write_text("[backend]\nmodle = 'x'\n")
    with pytest.raises(ConfigError) as err:
        load_settings(project, env={"GEMMACODE_CONFIG_DIR": str(tmp_path / "none")})
    text = str(err.value)
    assert ".gemmacode.toml" in text and "backend.modle" in text and "did you mean 'model'" in text


def test_wrong_type_and_bad_toml(tmp_path: Path) -> None:
    project = tmp_path / "p"
    project.mkdir()
    (project / ".gemmacode.toml").write_text("[sampling]\ntemperature = 'hot'\n")
    with pytest.raises(ConfigError, match="sampling.temperature"):
        load_settings(project, env={})
    (project / ".gemmacode.toml").write_text("[sampling\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(project, env={})


def test_bad_env_and_range(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="GEMMACODE_BACKEND_MODLE"):
        load_settings(tmp_path, env={"GEMMACODE_BACKEND_MODLE": "x"})
    with pytest.raises(ConfigError, match="kv_cache_type"):
        load_settings(tmp_path, env={"GEMMACODE_CONTEXT_KV_CACHE_TYPE": "q2"})
    with pytest.raises(ConfigError, match="num_ctx"):
        load_settings(tmp_path, env={"GEMMACODE_CONTEXT_NUM_CTX": "lots"})


def test_cli_renders_config_error_as_one_line(tmp_path: Path) -> None:
    (tmp_path / ".gemmacode.toml").write_text("[nope]\n")
    out = subprocess.run(
        [sys.executable, "-m", "gemmacode", "config", "--root", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and "unknown section [nope]" in out.stderr
    assert "Traceback" not in out.stderr


def test_example_files_are_valid(tmp_path: Path) -> None:
    """The commented examples in .config-example/ must load cleanly."""
    for name in ("config.toml", ".gemmacode.toml"):
        example = ROOT / ".config-example" / name
        proj = tmp_path / name.strip(".")
        proj.mkdir()
        (proj / ".gemmacode.toml").write_text(example.read_text())
        load_settings(proj, env={})
