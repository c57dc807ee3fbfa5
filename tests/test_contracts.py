"""Contracts kept in step: the contract package lives once (no Space keeps a copy), and the
README's settings table against every Space's config.py."""

from __future__ import annotations

import re

from tests.conftest import ROOT, SPACES


def test_the_contract_lives_once_and_no_space_keeps_a_copy():
    contract = ROOT / "contract" / "rag_contract"
    for shared in ("table.py", "answer_model.py"):
        assert (contract / shared).is_file() and not list(SPACES.glob(f"*/rag_*/{shared}")), shared
    for path in [*SPACES.glob("*/rag_*/*.py"), *(ROOT / "pipeline").glob("*.py")]:
        text = path.read_text()
        for name in ("message_text", "hub_reachable", "offline", "to_table", "cpu_flags"):
            assert not re.search(rf"^def {name}\(", text, re.M), f"{path.relative_to(ROOT)} defines its own {name}"
        assert not re.search(r"^def _(get|int|num|switch)\(", text, re.M), (
            f"{path.relative_to(ROOT)} reads settings itself"
        )
    api = (ROOT / "docs" / "api.md").read_text()
    assert "## The documents table" in api and "1000" in api


def test_the_reader_and_the_benchmarks_hold_out_the_same_articles():
    def constant(path, name):
        return int(re.search(rf"^{name} = (\d+)", path.read_text(), re.M).group(1))

    assert constant(ROOT / "training" / "train_reader.py", "HELD_FROM_ARTICLE") == constant(
        ROOT / "benchmarks" / "answer_quality.py", "READER_HELD_FROM_ARTICLE"
    )


def readme_settings() -> dict[str, str]:
    rows = re.findall(r"^\| `([A-Z][A-Z0-9_]+)` \| ([^|]*) \|", (ROOT / "README.md").read_text(), re.M)
    return {name: default.strip() for name, default in rows}


def space_settings() -> dict[str, str]:
    import rag_generate.config
    import rag_rerank.config
    import rag_retrieve.config

    out = {}
    for module in (rag_retrieve.config, rag_rerank.config, rag_generate.config):
        out.update({name: default for name, (default, _doc) in module.ENV.items()})
    return out


def test_the_readme_lists_every_setting_of_every_space_and_no_other():
    documented, actual = readme_settings(), space_settings()
    # the pipeline's own (pipeline/config.py), and huggingface_hub's offline switch, which every Space honours
    import pipeline.config
    from pipeline.launcher import DEFAULT_PORTS

    readme = (ROOT / "README.md").read_text()
    assert all(f"`{name}`" in readme for name in pipeline.config.ENV), "the README names every pipeline setting"
    assert all(pipeline.config.ENV[f"PIPELINE_{s.upper()}_URL"][0].endswith(f":{p}/") for s, p in DEFAULT_PORTS.items())
    pipeline = set(pipeline.config.ENV) | {"HF_HUB_OFFLINE"}
    assert set(documented) - (pipeline - set(actual)) == set(actual), (
        f"missing from the README: {sorted(set(actual) - set(documented))}; "
        f"in the README but read by no Space: {sorted(set(documented) - set(actual) - pipeline)}"
    )
    # A default shown as a literal must be the one the code uses.
    for name, default in actual.items():
        shown = re.fullmatch(r"`([^`]*)`", documented[name])
        if shown and default and "/" not in default:
            assert shown.group(1) == default, f"{name}: the README says {shown.group(1)!r}, config.py {default!r}"


def test_product_code_stays_small_enough_to_change():
    import ast

    files = sorted([*SPACES.glob("*/rag_*/*.py"), *SPACES.glob("*/app.py"), *(ROOT / "pipeline").glob("*.py")])
    too_long = [f"{p.relative_to(ROOT)}: {n} lines" for p in files if (n := len(p.read_text().splitlines())) > 400]
    big = []
    for p in files:
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1  # docstring included
                if lines > 50:
                    big.append(f"{p.relative_to(ROOT)}:{node.lineno} {node.name}: {lines} lines")
    assert not too_long and not big, f"files over 400 lines: {too_long}; functions over 50 lines: {big}"


def test_no_script_or_test_edits_the_import_path():
    sources = [*ROOT.glob("benchmarks/**/*.py"), *ROOT.glob("tests/*.py"), *ROOT.glob("docs/*.py")]
    sources += [*SPACES.glob("**/*.py"), *(ROOT / "pipeline").glob("*.py")]
    edits = [
        str(p.relative_to(ROOT))
        for p in sources
        if "sys.path.insert" in p.read_text() and p.name != "test_contracts.py"
    ]
    assert not edits, f"sys.path edits (pyproject.toml makes the packages importable): {edits}"
