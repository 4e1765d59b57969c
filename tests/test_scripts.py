"""The README's main-job command explains a missing prerequisite instead of failing obscurely."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_up(tmp_path: Path, tools: dict[str, str]) -> subprocess.CompletedProcess:
    """scripts/up.sh with a PATH holding only coreutils we link and the given fake tools."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for tool in ("bash", "dirname", "python3", "mkdir", "chmod", "cat", "id", "env"):
        found = shutil.which(tool)
        if found and not (bin_dir / tool).exists():
            (bin_dir / tool).symlink_to(found)
    for name, script in tools.items():
        path = bin_dir / name
        path.write_text(f"#!{shutil.which('bash')}\n{script}\n")
        path.chmod(0o755)
    env = {"PATH": str(bin_dir), "HOME": str(tmp_path)}
    return subprocess.run([str(bin_dir / "bash"), str(ROOT / "scripts" / "up.sh")], env=env,
                          capture_output=True, text=True, timeout=60)


def test_missing_pulumi_cli_is_explained(tmp_path):
    result = run_up(tmp_path, {})
    assert result.returncode == 2
    assert "the Pulumi CLI is not installed" in result.stderr and "get.pulumi.com" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_missing_docker_is_explained(tmp_path):
    result = run_up(tmp_path, {"pulumi": "exit 0"})
    assert result.returncode == 2 and "Docker is not installed" in result.stderr


def test_stopped_docker_engine_is_explained(tmp_path):
    result = run_up(tmp_path, {"pulumi": "exit 0", "docker": "exit 1"})
    assert result.returncode == 2 and "engine is not reachable" in result.stderr


def build_script_tree(tmp_path: Path, script: str, version_file: str, version: str,
                     tools: tuple[str, ...] = ("bash", "dirname", "tr", "sh")) -> tuple[Path, Path]:
    """A copy of scripts/<script> and its pinned version file in a tmp checkout, and a PATH
    holding only `tools` (no Go)."""
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / script, tmp_path / "scripts")
    (tmp_path / "scripts" / version_file).write_text(version + "\n")
    bin_dir = tmp_path / "path"
    bin_dir.mkdir()
    for tool in tools:
        (bin_dir / tool).symlink_to(shutil.which(tool))
    return tmp_path / "scripts" / script, bin_dir


def build_pulumi_tree(tmp_path: Path, version: str = "v3.1.2") -> tuple[Path, Path]:
    return build_script_tree(tmp_path, "build-pulumi.sh", "pulumi-cli.version", version)


def test_build_pulumi_skips_when_the_pinned_cli_exists(tmp_path):
    script, path = build_pulumi_tree(tmp_path)
    cli = tmp_path / ".tools" / "pulumi-v3.1.2" / "bin"
    cli.mkdir(parents=True)
    for name, body in (("pulumi", 'echo v3.1.2'), ("pulumi-resource-pulumi-python", "exit 0")):
        (cli / name).write_text(f"#!/bin/sh\n{body}\n")
        (cli / name).chmod(0o755)
    result = subprocess.run([str(path / "bash"), str(script)], env={"PATH": str(path)},
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(cli.parent)


def test_build_pulumi_rebuilds_another_version_and_explains_missing_go(tmp_path):
    script, path = build_pulumi_tree(tmp_path)
    stale = tmp_path / ".tools" / "pulumi-v3.1.2" / "bin"
    stale.mkdir(parents=True)
    (stale / "pulumi").write_text("#!/bin/sh\necho v3.0.0\n")
    (stale / "pulumi").chmod(0o755)
    result = subprocess.run([str(path / "bash"), str(script)], env={"PATH": str(path)},
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "Go is needed to build the Pulumi CLI" in result.stderr


def build_deck_tree(tmp_path: Path, version: str = "v1.2.3") -> tuple[Path, Path]:
    return build_script_tree(tmp_path, "build-deck.sh", "deck.version", version,
                             ("bash", "dirname", "tr", "sh", "grep", "head"))


def fake_deck(tmp_path: Path, prints: str) -> Path:
    folder = tmp_path / ".tools" / "deck-v1.2.3" / "bin"
    folder.mkdir(parents=True)
    (folder / "deck").write_text(f"#!/bin/sh\necho '{prints}'\n")
    (folder / "deck").chmod(0o755)
    return folder / "deck"


def test_build_deck_skips_when_the_pinned_deck_exists(tmp_path):
    script, path = build_deck_tree(tmp_path)
    deck = fake_deck(tmp_path, "decK v1.2.3 (unknown)")
    result = subprocess.run([str(path / "bash"), str(script)], env={"PATH": str(path)},
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(deck)


def test_build_deck_rebuilds_another_version_and_explains_missing_go(tmp_path):
    script, path = build_deck_tree(tmp_path)
    fake_deck(tmp_path, "decK v1.0.0 (unknown)")
    result = subprocess.run([str(path / "bash"), str(script)], env={"PATH": str(path)},
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "Go is needed to build decK" in result.stderr
