"""The Space's configuration files agree with each other and with what the tests run."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent


def front_matter() -> dict[str, str]:
    """The README's YAML front matter as flat key/value strings (it holds no nesting)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.match(r"---\n(.*?)\n---\n", text, re.S)
    assert match, "README.md starts with the Space's front matter"
    pairs = (line.split(":", 1) for line in match.group(1).splitlines() if ":" in line)
    return {key.strip(): value.strip().strip('"') for key, value in pairs}


def requirements(name: str) -> tuple[list[str], dict[str, Requirement]]:
    """The pip options and the requirements of a requirements file, by project name."""
    options, reqs = [], {}
    for line in (ROOT / name).read_text(encoding="utf-8").splitlines():
        line = line.split(" #")[0].strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("-"):
            options.append(line)
        else:
            req = Requirement(line)
            reqs[req.name.lower()] = req
    return options, reqs


def test_the_gradio_pin_is_the_spaces_sdk_version():
    meta = front_matter()
    _, reqs = requirements("requirements.txt")
    assert meta["sdk"] == "gradio"
    assert str(reqs["gradio"].specifier) == f"=={meta['sdk_version']}"


def test_the_spaces_python_satisfies_the_package_and_is_the_one_tested_here():
    meta = front_matter()
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    requires = re.search(r'^requires-python = "([^"]+)"', pyproject, re.M).group(1)
    assert Version(meta["python_version"] + ".0") in SpecifierSet(requires)
    assert meta["python_version"] == f"{sys.version_info.major}.{sys.version_info.minor}"


def test_the_app_file_exists_and_exposes_demo_at_module_level():
    """A Space imports the app file and looks for ``demo``: assigned, or built by a module ``__getattr__``."""
    tree = ast.parse((ROOT / front_matter()["app_file"]).read_text(encoding="utf-8"))
    assigned = {t.id for node in tree.body if isinstance(node, ast.Assign) for t in node.targets
                if isinstance(t, ast.Name)}
    lazy = [node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == "__getattr__"
            and any(isinstance(c, ast.Constant) and c.value == "demo" for c in ast.walk(node))]
    assert "demo" in assigned or lazy


def test_a_cpu_space_takes_torch_from_the_cpu_index_within_the_apps_range():
    options, pre = requirements("pre-requirements.txt")
    assert options == ["--index-url https://download.pytorch.org/whl/cpu"]
    assert set(pre) == {"torch"}
    pinned = Version(str(pre["torch"].specifier).removeprefix("=="))
    _, reqs = requirements("requirements.txt")
    assert pinned in reqs["torch"].specifier


def test_the_readme_install_and_ci_never_read_an_extra_index():
    for name in ("requirements.txt", "requirements-dev.txt"):
        options, _ = requirements(name)
        assert not [o for o in options if "index-url" in o], f"{name} names an index"
    assert "pre-requirements" not in (ROOT / ".ci" / "run").read_text(encoding="utf-8")
