"""File discovery: what git would show, default excludes outside git, and a reason for every
file left out. Real git repositories in temporary folders, real files on disk."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gemmacode.index.files import (
    Excludes,
    decode,
    detect_language,
    is_utf8,
    language_of,
    list_files,
)
from gemmacode.index.languages import language_for
from gemmacode.index.skiprules import content_reason
from tests.conftest import git

MIB = 1024 * 1024


def write(root: Path, rel: str, data: bytes | str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    path.write_bytes(data)
    return path


def listed(root: Path, **kw: object) -> tuple[set[str], dict[str, str]]:
    listing = list_files(root, max_file_bytes=int(kw.pop("max_file_bytes", MIB)), **kw)  # type: ignore[arg-type]
    return {c.path for c in listing.candidates}, {s.path: s.reason for s in listing.skipped}


def test_git_repo_lists_tracked_and_untracked_but_not_ignored(git_repo: Path) -> None:
    write(git_repo, ".gitignore", "*.log\nbuild/\n")
    write(git_repo, "src/.gitignore", "secret.py\n")
    write(git_repo, "src/app.py", "def main():\n    pass\n")
    write(git_repo, "src/secret.py", "KEY = 1\n")
    write(git_repo, "debug.log", "noise\n")
    write(git_repo, "build/out.py", "x = 1\n")
    write(git_repo, "notes/todo.md", "# todo\n")
    write(git_repo, "local.txt", "mine\n")
    (git_repo / ".git" / "info").mkdir(exist_ok=True)
    (git_repo / ".git" / "info" / "exclude").write_text("local.txt\n")
    git(git_repo, "add", ".gitignore", "src/.gitignore", "src/app.py")
    git(git_repo, "commit", "-qm", "init")

    listing = list_files(git_repo, max_file_bytes=MIB)
    assert listing.from_git
    paths = {c.path for c in listing.candidates}
    assert paths == {".gitignore", "src/.gitignore", "src/app.py", "notes/todo.md"}
    assert not listing.skipped


def test_tracked_but_deleted_file_is_vanished(git_repo: Path) -> None:
    write(git_repo, "a.py", "a = 1\n")
    write(git_repo, "b.py", "b = 1\n")
    git(git_repo, "add", ".")
    git(git_repo, "commit", "-qm", "init")
    (git_repo / "b.py").unlink()
    paths, skipped = listed(git_repo)
    assert paths == {"a.py"}
    assert skipped == {"b.py": "vanished"}


def test_name_and_size_reasons(git_repo: Path) -> None:
    write(git_repo, "package-lock.json", "{}\n")
    write(git_repo, "web/yarn.lock", "# yarn\n")
    write(git_repo, "go.sum", "x\n")
    write(git_repo, "static/app.min.js", "var a=1;\n")
    write(git_repo, "static/app.js.map", "{}\n")
    write(git_repo, "big.py", b"x = 1\n" * (300 * 1024 // 6))
    write(git_repo, "locale/fr/django.mo", b"text-looking, but a .mo is binary by format")
    write(git_repo, "img/Logo.PNG", b"\x89PNG")
    write(git_repo, "ok.py", "x = 1\n")
    paths, skipped = listed(git_repo, max_file_bytes=200 * 1024)
    assert paths == {"ok.py"}
    assert skipped == {
        "package-lock.json": "lockfile",
        "web/yarn.lock": "lockfile",
        "go.sum": "lockfile",
        "static/app.min.js": "minified",
        "static/app.js.map": "minified",
        "big.py": "too-large",
        "locale/fr/django.mo": "binary",
        "img/Logo.PNG": "binary",
    }


def test_symlinks_outside_the_root_and_loops(git_repo: Path, tmp_path: Path) -> None:
    outside = write(tmp_path, "outside/secret.py", "S = 1\n")
    write(git_repo, "real.py", "R = 1\n")
    os.symlink(outside, git_repo / "escape.py")
    os.symlink("real.py", git_repo / "alias.py")
    os.symlink("loop_b", git_repo / "loop_a")
    os.symlink("loop_a", git_repo / "loop_b")
    os.symlink("missing.py", git_repo / "dangling.py")
    paths, skipped = listed(git_repo)
    assert paths == {"real.py", "alias.py"}
    assert skipped == {
        "escape.py": "symlink-outside",
        "loop_a": "loop",
        "loop_b": "loop",
        "dangling.py": "vanished",
    }


def test_walk_outside_git_uses_default_excludes(tmp_path: Path) -> None:
    root = tmp_path / "plain"
    write(root, "main.py", "print(1)\n")
    write(root, "node_modules/lib/index.js", "x\n")
    write(root, ".venv/lib/site.py", "x\n")
    write(root, "pkg/__pycache__/m.cpython-311.pyc", b"\0\0")
    write(root, "pkg/mod.py", "y = 2\n")
    write(root, "gemma.egg-info/PKG-INFO", "x\n")
    write(root, "docs/guide.md", "# guide\n")
    os.symlink(root, root / "pkg" / "back")  # a folder link to an ancestor
    os.symlink(tmp_path, root / "up")  # a folder link out of the root
    listing = list_files(root, max_file_bytes=MIB)
    assert not listing.from_git
    assert [c.path for c in listing.candidates] == ["main.py", "docs/guide.md", "pkg/mod.py"]
    assert {s.path: s.reason for s in listing.skipped} == {
        "pkg/back": "loop",
        "up": "symlink-outside",
    }


def test_walk_never_opens_special_files(tmp_path: Path) -> None:
    root = tmp_path / "plain"
    write(root, "a.py", "a = 1\n")
    os.mkfifo(root / "pipe")
    paths, skipped = listed(root)
    assert paths == {"a.py"}
    assert skipped == {"pipe": "special"}


def test_exclude_globs(git_repo: Path) -> None:
    for rel in ("src/a.py", "src/gen/b.py", "docs/x.md", "tests/fixtures/big.json", "c.po"):
        write(git_repo, rel, "x\n")
    paths, _ = listed(git_repo, exclude=["src/gen", "*.po", "fixtures"])
    assert paths == {"src/a.py", "docs/x.md"}
    paths, _ = listed(git_repo, exclude=["docs/*.md", "/src/gen/"])
    assert paths == {"src/a.py", "tests/fixtures/big.json", "c.po"}


def test_ignore_dirs_hides_an_in_tree_cache(tmp_path: Path) -> None:
    root = tmp_path / "plain"
    write(root, "a.py", "a = 1\n")
    write(root, ".gc-cache/index.sqlite", b"SQLite format 3\0")
    listing = list_files(root, max_file_bytes=MIB, ignore_dirs=[".gc-cache"])
    assert [c.path for c in listing.candidates] == ["a.py"]
    assert not listing.skipped


def test_content_reasons() -> None:
    assert content_reason(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR") == "binary"
    assert content_reason(b"def f():\n    return 1\n") is None
    go_generated = b"// Code generated by protoc-gen-go. DO NOT EDIT.\npackage pb\n"
    assert content_reason(go_generated) == "generated"
    assert content_reason(b"# @generated by tool\nx = 1\n") == "generated"
    late = b"x = 1\n" * 10 + b"# DO NOT EDIT below\n"
    assert content_reason(late) is None  # only the header counts
    bundle = b"!function(e){" + b"var a=1;" * 2000 + b"}();\n"
    assert content_reason(bundle) == "minified"
    long_but_normal = b"x = 1  # a comment of ordinary length\n" * 500
    assert content_reason(long_but_normal) is None


def test_decode_replaces_and_flags_non_utf8() -> None:
    assert decode("naïve = 1\n".encode()) == ("naïve = 1\n", False)
    text, bad = decode(b"name = '\xe9t\xe9'\n")
    assert bad and text == "name = '\ufffdt\ufffd'\n"


@given(st.binary(max_size=4096))
def test_content_checks_never_raise(data: bytes) -> None:
    assert content_reason(data) in (None, "binary", "generated", "minified")
    text, bad = decode(data)
    assert bad or text.encode("utf-8") == data


@given(st.from_regex(r"[A-Za-z0-9_./-]{0,30}", fullmatch=True))
def test_fast_language_lookup_agrees_with_languages_module(path: str) -> None:
    assert language_of(path) == language_for(path)


def test_shebang_sets_the_language_of_extensionless_scripts() -> None:
    assert detect_language("bin/deploy", b"#!/usr/bin/env bash\necho hi\n") == "bash"
    assert detect_language("bin/tool", b"#!/usr/bin/python3\nprint(1)\n") == "python"
    assert detect_language("README", b"hello\n") == "text"
    assert detect_language("notes.txt", b"#!/bin/sh\n") == "text"


@pytest.mark.parametrize(
    ("pattern", "path", "hit"),
    [
        ("*.po", "locale/fr/django.po", True),
        ("vendor", "vendor/lib/a.go", True),
        ("vendor", "src/vendor/a.go", True),
        ("vendor", "src/vendors.go", False),
        ("src/gen", "src/gen/x.py", True),
        ("src/gen", "lib/src/gen/x.py", False),
        ("docs/**/*.md", "docs/a/b.md", True),
    ],
)
def test_exclude_pattern_semantics(pattern: str, path: str, hit: bool) -> None:
    assert Excludes([pattern]).match(path) is hit


@given(st.binary(max_size=256) | st.text(max_size=64).map(str.encode))
def test_is_utf8_agrees_with_decode(data: bytes) -> None:
    assert is_utf8(data) is (not decode(data)[1])


def test_root_below_the_git_top_level(git_repo: Path) -> None:
    write(git_repo, "svc/api/handler.py", "def handle():\n    pass\n")
    write(git_repo, "svc/api/.gitignore", "*.tmp\n")
    write(git_repo, "svc/api/scratch.tmp", "x\n")
    write(git_repo, "web/app.js", "x\n")
    listing = list_files(git_repo / "svc", max_file_bytes=MIB)
    assert listing.from_git
    assert {c.path for c in listing.candidates} == {"api/handler.py", "api/.gitignore"}
