"""The repository keeps its promises to a new user: README commands and CI agree."""

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _code_blocks(text: str) -> list[str]:
    return [b.strip() for b in re.findall(r"```(?:bash)?\n(.*?)```", text, flags=re.S)]


def test_readme_opens_with_install_and_test_commands() -> None:
    blocks = _code_blocks((REPO / "README.md").read_text())
    assert len(blocks) >= 2
    assert blocks[0].startswith("pip install")
    assert "pytest" in blocks[1]


def test_ci_runs_exactly_the_readme_test_command() -> None:
    test_cmd = _code_blocks((REPO / "README.md").read_text())[1]
    ci_lines = [ln.strip() for ln in (REPO / ".ci" / "run").read_text().splitlines()
                if ln.strip() and not ln.strip().startswith("#")]
    assert ci_lines[-1] == test_cmd


def test_readme_main_job_files_exist() -> None:
    first = _code_blocks((REPO / "README.md").read_text())[0]
    for token in first.split():
        if token.startswith("kws/assets/"):
            assert (REPO / token).is_file(), token
