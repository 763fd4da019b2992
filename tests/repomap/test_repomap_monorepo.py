"""The map of a monorepo leads with the project's own core, not with vendored declarations,
a sandbox, test fixtures or one-letter type variables, which stay in the index."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gemmacode.cli import main
from tests.conftest import git

ENGINE = """\
import { debounce, chunk } from "../../../core/vendor/modules/lodash";

export interface EngineOptions {
  workers: number;
}

export class Engine {
  constructor(private options: EngineOptions) {}
  schedule(job: Job): void {
    debounce(() => job.run(), 10);
  }
  drain(): Job[] {
    return chunk([], 2);
  }
}

export class Job {
  run(): void {}
}

export function createEngine(options: EngineOptions): Engine {
  return new Engine(options);
}
"""

SERVICE = """\
import {{ createEngine, Engine, Job, EngineOptions }} from "../../core/src/engine";
import {{ debounce, chunk, map, filter }} from "../../../core/vendor/modules/lodash";

export class {name}Service {{
  private engine: Engine;
  constructor(options: EngineOptions) {{
    this.engine = createEngine(options);
  }}
  submit(job: Job): void {{
    this.engine.schedule(job);
    debounce(() => map([], filter), 5);
    chunk([], 3);
  }}
}}
"""

LODASH = "".join(
    f"export declare function {name}(...args: any[]): any;\n"
    for name in ("debounce", "chunk", "map", "filter", "reduce", "throttle", "groupBy", "keyBy")
)

SANDBOX = """\
import { createEngine, Engine, Job } from "../packages/core/src/engine";
import { debounce, chunk, map } from "../core/vendor/modules/lodash";

export function tryEverything(): Engine {
  const engine = createEngine({ workers: 1 });
  engine.schedule(new Job());
  debounce(() => chunk([], 1), 1);
  map([], () => 1);
  return engine;
}

export function data(): Job[] {
  return [new Job()];
}
"""

FIXTURE = """\
from typing import Generic, TypeVar

T = TypeVar("T")


class Vector(Generic[T]):
    def test(self, data: T) -> T:
        return data
"""

FIXTURE_USER = """\
from tests.fixtures.generic import T, Vector


def test_vector{i}(data: T) -> T:
    return Vector().test(data)
"""


@pytest.fixture
def monorepo(git_repo: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    files = {
        "packages/core/src/engine.ts": ENGINE,
        "core/vendor/modules/lodash/index.d.ts": LODASH,
        "node_modules/left-pad/index.d.ts": "export declare function leftPad(s: string): string;\n",
        "manual-testing-sandbox/src/playground.ts": SANDBOX,
        "tests/fixtures/generic.py": FIXTURE,
        "examples/basic/demo.ts": SANDBOX.replace("../", "../../").replace("tryEverything", "demo"),
        "generated/api.ts": "export function apiCall(): void {}\n",
        ".gitattributes": "generated/** linguist-generated\n",
    }
    for name in ("Billing", "Search", "Orders", "Users", "Mail"):
        files[f"packages/{name.lower()}/src/service.ts"] = SERVICE.format(name=name)
    for i in range(6):
        files[f"tests/test_vector_{i}.py"] = FIXTURE_USER.format(i=i)
    for path, text in files.items():
        (git_repo / path).parent.mkdir(parents=True, exist_ok=True)
        (git_repo / path).write_text(text)
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-q", "-m", "monorepo")
    monkeypatch.chdir(git_repo)
    return git_repo


NUMBERED = re.compile(r"^\d+: ")
NOT_OWN = (
    "core/vendor/",
    "node_modules/",
    "manual-testing-sandbox/",
    "tests/fixtures/",
    "examples/",
    "generated/",
)


def _headers(out: str) -> list[str]:
    lines = out.splitlines()
    return [line[:-1] for line in lines if line.endswith(":") and not NUMBERED.match(line)]


@pytest.mark.parametrize("tokens", ["120", "300", "1024"])
def test_map_leads_with_the_projects_own_core(
    monorepo: Path, capsys: pytest.CaptureFixture[str], tokens: str
) -> None:
    assert main(["map", "--tokens", tokens]) == 0
    out = capsys.readouterr().out
    headers = _headers(out)
    assert headers[0] == "packages/core/src/engine.ts"
    own = [i for i, h in enumerate(headers) if h.startswith("packages/")]
    other = [i for i, h in enumerate(headers) if h.startswith(NOT_OWN)]
    assert own and (not other or max(own) < min(other)), headers
    first_lines = out.splitlines()[:6]
    assert not any("TypeVar" in line for line in first_lines)


def test_focused_map_shows_what_the_focused_code_uses_first(
    monorepo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["map", "--tokens", "200", "--focus", "packages/billing/src/service.ts"]) == 0
    out = capsys.readouterr().out
    assert _headers(out)[0] == "packages/core/src/engine.ts"
    for name in ("createEngine", "class Engine", "class Job"):
        assert name in out


def test_vendored_and_sandbox_files_stay_indexed(
    monorepo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["map", "--tokens", "2000", "--question", "tryEverything"]) == 0
    out = capsys.readouterr().out
    assert _headers(out)[0] == "manual-testing-sandbox/src/playground.ts"
