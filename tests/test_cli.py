"""The command line: `python -m glue_helpers`."""

import subprocess
import sys

from glue_helpers.cli import main


def test_kit_command_prints_usable_paths(tmp_path, capsys):
    assert main(["kit", "--dir", str(tmp_path / "k")]) == 0
    out = capsys.readouterr().out
    assert f"model_checkpoint: {tmp_path / 'k' / 'tiny-bert'}" in out
    assert (tmp_path / "k" / "tiny-bert" / "config.json").is_file()
    assert (tmp_path / "k" / "glue" / "cola").is_dir()


def test_module_entry_point_lists_commands():
    out = subprocess.run([sys.executable, "-m", "glue_helpers", "--help"], capture_output=True, text=True, check=True)
    assert "kit" in out.stdout
