"""Tags queries: every bundled query compiles against the pinned grammars, and each language
yields the definitions (kind, scope path, lines, signature) and references a reader expects
from a small real-looking source file."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gemmacode.index.languages import LANGUAGES
from gemmacode.index.tags import QUERY_DIR, extract_tags, get_query, parse_tags, query_source

# language -> (file name, source)
SAMPLES: dict[str, tuple[str, str]] = {
    "python": (
        "a.py",
        r'''"""Module doc."""
import os

MAX_SIZE = 10


@dataclass
class Store(Base, mixins.Loggable):
    """A store."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def size(self) -> int:  # comment
        return os.path.getsize(self.path)

    class Meta:
        ordering = ["x"]


def load(
    path: str,
    *,
    strict: bool = False,
) -> Store:
    def helper(x):
        return x

    return Store(helper(path))
''',
    ),
    "javascript": (
        "a.js",
        r"""import React from "react";

export class Widget extends Component {
  constructor(props) {
    super(props);
  }

  render() {
    return <Button label="x" />;
  }

  #secret() {}
}

function helper(a, b) {
  return a + b;
}

const handler = async (event) => {
  helper(1, 2);
  return new Widget(event);
};

module.exports.run = function (x) {
  return x;
};

export const LIMIT = 10;
""",
    ),
    "typescript": (
        "a.ts",
        r"""export interface Shape {
  area(): number;
}

export type Id = string | number;

export enum Color { Red, Green }

export abstract class Base implements Shape {
  abstract area(): number;
}

export class Circle extends Base {
  constructor(private r: number) { super(); }

  area(): number {
    return Math.PI * this.r * this.r;
  }
}

namespace Geometry {
  export function unit(): Circle {
    return new Circle(1);
  }
}

declare function external(x: number): void;
""",
    ),
    "tsx": (
        "a.tsx",
        r"""import React from "react";

interface Props {
  title: string;
}

export function Header({ title }: Props) {
  return <h1>{title}</h1>;
}

export const App = () => {
  return <Header title="hi" />;
};
""",
    ),
    "go": (
        "a.go",
        r"""package store

import "fmt"

const MaxSize = 10

var ErrNotFound = fmt.Errorf("not found")

type Reader interface {
	Read(p []byte) (int, error)
}

type Store struct {
	path string
}

type ID = string

func New(path string) *Store {
	return &Store{path: path}
}

func (s *Store) Get(key string) (string, error) {
	return fmt.Sprintf("%s/%s", s.path, key), nil
}

func (s Stack[T]) Push(v T) {}
""",
    ),
    "rust": (
        "a.rs",
        r"""use std::fmt;

pub const LIMIT: usize = 10;

pub struct Store {
    path: String,
}

pub enum Mode { Read, Write }

pub trait Backend {
    fn get(&self, key: &str) -> Option<String>;
}

impl Store {
    pub fn new(path: &str) -> Self {
        Store { path: path.to_string() }
    }
}

impl fmt::Display for Store {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}", self.path)
    }
}

mod tests {
    fn check() {
        let s = Store::new("x");
        helper(&s);
    }
}

macro_rules! square {
    ($x:expr) => { $x * $x };
}
""",
    ),
    "java": (
        "A.java",
        r"""package com.example;

import java.util.List;

public class Store extends Base implements Closeable {
    private final String path;

    public Store(String path) {
        this.path = path;
    }

    @Override
    public void close() {
        helper(path);
    }

    interface Listener {
        void onChange(String key);
    }

    enum Mode { READ, WRITE }
}

record Point(int x, int y) {}
""",
    ),
    "c": (
        "a.c",
        r"""#include <stdio.h>

#define MAX 10
#define SQUARE(x) ((x) * (x))

typedef struct node {
    int value;
    struct node *next;
} node_t;

struct list {
    node_t *head;
};

enum color { RED, GREEN };

int list_len(struct list *l);

static char *copy_name(const char *name) {
    return strdup(name);
}

int list_len(struct list *l) {
    int n = 0;
    for (node_t *p = l->head; p; p = p->next) n++;
    printf("%d\n", n);
    return n;
}
""",
    ),
    "cpp": (
        "a.cpp",
        r"""#include <vector>

namespace store {

class Store : public Base {
public:
    explicit Store(int size);
    int get(int key) const;
    ~Store();
private:
    std::vector<int> data_;
};

Store::Store(int size) : data_(size) {}

int Store::get(int key) const {
    return data_.at(key);
}

template <typename T>
T clamp(T v, T lo, T hi) {
    return std::max(lo, std::min(v, hi));
}

struct Point { int x; int y; };

}  // namespace store
""",
    ),
    "csharp": (
        "a.cs",
        r"""using System;

namespace Example.Store
{
    public interface IStore
    {
        string Get(string key);
    }

    public class Store : IStore
    {
        public Store(string path) { Path = path; }

        public string Path { get; }

        public string Get(string key)
        {
            return Helper.Join(Path, key);
        }
    }

    public struct Point { public int X; }

    public enum Mode { Read, Write }

    public record Person(string Name);
}
""",
    ),
    "ruby": (
        "a.rb",
        r"""require "json"

LIMIT = 10

module Storage
  class Store < Base
    def initialize(path)
      @path = path
    end

    def get(key)
      File.read(File.join(@path, key))
    end

    def self.open(path)
      new(path)
    end
  end
end

def helper(x)
  x.to_s
end
""",
    ),
    "php": (
        "a.php",
        r"""<?php
namespace App\Store;

interface Reader {
    public function read(string $key): string;
}

trait Logs {
    public function log($m) { error_log($m); }
}

class Store extends Base implements Reader {
    private string $path;

    public function __construct(string $path) {
        $this->path = $path;
    }

    public function read(string $key): string {
        return file_get_contents($this->path . $key);
    }
}

function helper($x) {
    return new Store($x);
}
""",
    ),
    "bash": (
        "a.sh",
        r"""#!/usr/bin/env bash
set -euo pipefail

ROOT_DIR="$(cd "$(dirname "$0")" && pwd)"
export LOG_LEVEL=info

log() {
  echo "[$LOG_LEVEL] $*" >&2
}

function build {
  log "building"
  make -C "$ROOT_DIR" all
}

build
""",
    ),
}

# language -> (kind, scope, first line, last line) that must be found
EXPECTED: dict[str, set[tuple[str, str, int, int]]] = {
    "python": {
        ("constant", "MAX_SIZE", 4, 4),
        ("class", "Store", 7, 19),  # the decorator belongs to the class
        ("method", "Store.__init__", 11, 12),
        ("method", "Store.size", 14, 16),
        ("class", "Store.Meta", 18, 19),
        ("function", "load", 22, 30),
        ("function", "load.helper", 27, 28),
    },
    "javascript": {
        ("class", "Widget", 3, 13),
        ("method", "Widget.constructor", 4, 6),
        ("method", "Widget.render", 8, 10),
        ("method", "Widget.#secret", 12, 12),
        ("function", "helper", 15, 17),
        ("function", "handler", 19, 22),
        ("function", "run", 24, 26),
        ("constant", "LIMIT", 28, 28),
    },
    "typescript": {
        ("interface", "Shape", 1, 3),
        ("method", "Shape.area", 2, 2),
        ("type", "Id", 5, 5),
        ("enum", "Color", 7, 7),
        ("class", "Base", 9, 11),
        ("method", "Base.area", 10, 10),
        ("class", "Circle", 13, 19),
        ("method", "Circle.area", 16, 18),
        ("module", "Geometry", 21, 25),
        ("function", "Geometry.unit", 22, 24),
        ("function", "external", 27, 27),
    },
    "tsx": {
        ("interface", "Props", 3, 5),
        ("function", "Header", 7, 9),
        ("function", "App", 11, 13),
    },
    "go": {
        ("constant", "MaxSize", 5, 5),
        ("variable", "ErrNotFound", 7, 7),
        ("interface", "Reader", 9, 11),
        ("struct", "Store", 13, 15),
        ("type", "ID", 17, 17),
        ("function", "New", 19, 21),
        ("method", "Store.Get", 23, 25),  # receiver type as scope
        ("method", "Stack.Push", 27, 27),
    },
    "rust": {
        ("constant", "LIMIT", 3, 3),
        ("struct", "Store", 5, 7),
        ("enum", "Mode", 9, 9),
        ("interface", "Backend", 11, 13),
        ("method", "Backend.get", 12, 12),
        ("method", "Store.new", 16, 18),  # impl block as scope
        ("method", "Store.fmt", 22, 24),
        ("module", "tests", 27, 32),
        ("function", "tests.check", 28, 31),
        ("macro", "square", 34, 36),
    },
    "java": {
        ("class", "Store", 5, 22),
        ("constructor", "Store.Store", 8, 10),
        ("method", "Store.close", 12, 15),
        ("interface", "Store.Listener", 17, 19),
        ("method", "Store.Listener.onChange", 18, 18),
        ("enum", "Store.Mode", 21, 21),
        ("class", "Point", 24, 24),
    },
    "c": {
        ("macro", "MAX", 3, 3),
        ("macro", "SQUARE", 4, 4),
        ("type", "node_t", 6, 9),
        ("struct", "node", 6, 9),  # a typedef is not a scope
        ("struct", "list", 11, 13),
        ("enum", "color", 15, 15),
        ("function", "list_len", 17, 17),
        ("function", "copy_name", 19, 21),
        ("function", "list_len", 23, 28),
    },
    "cpp": {
        ("module", "store", 3, 27),
        ("class", "store.Store", 5, 12),
        ("method", "store.Store.get", 8, 8),
        ("method", "store.Store.~Store", 9, 9),
        ("method", "store.Store.Store", 14, 14),  # out of class: Foo::Foo
        ("method", "store.Store.get", 16, 18),
        ("function", "store.clamp", 21, 23),
        ("struct", "store.Point", 25, 25),
    },
    "csharp": {
        ("module", "Example.Store", 3, 27),
        ("interface", "Example.Store.IStore", 5, 8),
        ("method", "Example.Store.IStore.Get", 7, 7),
        ("class", "Example.Store.Store", 10, 20),
        ("constructor", "Example.Store.Store.Store", 12, 12),
        ("property", "Example.Store.Store.Path", 14, 14),
        ("method", "Example.Store.Store.Get", 16, 19),
        ("struct", "Example.Store.Point", 22, 22),
        ("enum", "Example.Store.Mode", 24, 24),
        ("class", "Example.Store.Person", 26, 26),
    },
    "ruby": {
        ("constant", "LIMIT", 3, 3),
        ("module", "Storage", 5, 19),
        ("class", "Storage.Store", 6, 18),
        ("method", "Storage.Store.initialize", 7, 9),
        ("method", "Storage.Store.get", 11, 13),
        ("method", "Storage.Store.open", 15, 17),
        ("function", "helper", 21, 23),
    },
    "php": {
        ("module", "App\\Store", 2, 2),
        ("interface", "Reader", 4, 6),
        ("method", "Reader.read", 5, 5),
        ("interface", "Logs", 8, 10),
        ("class", "Store", 12, 22),
        ("field", "Store.path", 13, 13),
        ("method", "Store.__construct", 15, 17),
        ("method", "Store.read", 19, 21),
        ("function", "helper", 24, 26),
    },
    "bash": {
        ("variable", "ROOT_DIR", 4, 4),
        ("variable", "LOG_LEVEL", 5, 5),
        ("function", "log", 7, 9),
        ("function", "build", 11, 14),
    },
}

# language -> names that must appear among the references
EXPECTED_REFS: dict[str, set[str]] = {
    "python": {"Base", "Loggable", "dataclass", "property", "getsize", "helper", "Store", "Path"},
    "javascript": {"Component", "Widget", "helper", "Button"},
    "typescript": {"Base", "Circle", "Shape"},
    "tsx": {"Header", "Props"},
    "go": {"Errorf", "Sprintf", "Store"},
    "rust": {"new", "helper", "write", "to_string"},
    "java": {"Base", "Closeable", "helper"},
    "c": {"printf", "strdup", "node_t"},
    "cpp": {"Base", "max", "min", "at"},
    "csharp": {"IStore", "Join"},
    "ruby": {"Base", "join", "read", "new"},
    "php": {"Base", "Reader", "Store", "file_get_contents", "error_log"},
    "bash": {"log", "make", "build", "echo"},
}

# language -> (scope, signature) spot checks: headers without bodies
SIGNATURES: dict[str, tuple[str, str]] = {
    "python": ("load", "def load(path: str, *, strict: bool = False,) -> Store:"),
    "javascript": ("handler", "const handler = async (event) =>"),
    "go": ("Store.Get", "func (s *Store) Get(key string) (string, error)"),
    "rust": ("Store.fmt", "fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result"),
    "java": ("Store.close", "@Override public void close()"),
    "c": ("copy_name", "static char *copy_name(const char *name)"),
    "ruby": ("Storage.Store", "class Store < Base"),
}


def test_every_language_has_a_sample_and_expectations() -> None:
    assert set(SAMPLES) == set(LANGUAGES) == set(EXPECTED) == set(EXPECTED_REFS)


@pytest.mark.parametrize("language", sorted(LANGUAGES))
def test_bundled_query_compiles_against_the_pinned_grammar(language: str) -> None:
    assert (QUERY_DIR / f"{language}.scm").is_file()
    query = get_query(language)
    assert query.pattern_count > 0
    kinds = {query.capture_name(i) for i in range(query.capture_count)}
    assert any(k.startswith("definition.") for k in kinds)
    assert any(k.startswith("reference.") for k in kinds)


def test_typescript_query_extends_javascript() -> None:
    ts = query_source("typescript")
    assert (QUERY_DIR / "_ecma.scm").read_text() in ts
    assert "interface_declaration" in ts
    assert query_source("tsx").count("jsx_opening_element") == 1


@pytest.mark.parametrize("language", sorted(LANGUAGES))
def test_definitions_per_language(language: str) -> None:
    name, source = SAMPLES[language]
    symbols, _ = extract_tags(source, language, name)
    found = {(s.kind, s.scope, s.start_line, s.end_line) for s in symbols}
    missing = EXPECTED[language] - found
    assert not missing, f"missing {sorted(missing)}; found {sorted(found)}"
    data = source.encode()
    for s in symbols:
        assert s.file == name
        assert s.scope == s.name or s.scope.endswith("." + s.name)
        assert 0 <= s.start_byte < s.end_byte <= len(data)
        assert data[: s.start_byte].count(b"\n") + 1 == s.start_line
        assert s.signature and "\n" not in s.signature


@pytest.mark.parametrize("language", sorted(LANGUAGES))
def test_references_per_language(language: str) -> None:
    name, source = SAMPLES[language]
    symbols, refs = extract_tags(source, language, name)
    names = {r.name for r in refs}
    assert EXPECTED_REFS[language] <= names, sorted(names)
    lines = source.splitlines()
    for r in refs:
        assert r.file == name
        assert r.name in lines[r.line - 1]


@pytest.mark.parametrize("language", sorted(SIGNATURES))
def test_signatures_stop_before_the_body(language: str) -> None:
    name, source = SAMPLES[language]
    scope, signature = SIGNATURES[language]
    symbols, _ = extract_tags(source, language, name)
    assert {s.scope: s.signature for s in symbols}[scope] == signature


def test_definition_names_are_not_references_to_themselves() -> None:
    source = "type Store struct{}\n\nfunc use(s Store) {}\n"
    symbols, refs = extract_tags("package p\n" + source, "go", "p.go")
    assert [r.line for r in refs if r.name == "Store"] == [4]


def test_unknown_language_and_broken_code() -> None:
    assert extract_tags("# Title\n", "text", "README.md") == ([], [])
    symbols, _ = extract_tags("def ok():\n    pass\n\ndef broken(:\n", "python", "x.py")
    assert "ok" in {s.name for s in symbols}
    assert parse_tags(b"def broken(:\n", "python").has_error


def test_non_utf8_offsets_follow_the_replaced_text() -> None:
    text = "s = '\ufffd'\n\ndef after():\n    pass\n"
    symbols, _ = extract_tags(text, "python", "x.py")
    after = next(s for s in symbols if s.name == "after")
    assert text.encode()[after.start_byte : after.end_byte].startswith(b"def after")


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(sorted(LANGUAGES)),
    st.lists(
        st.sampled_from(
            [
                "def f(x):",
                "class A:",
                "  return g(x)",
                "}",
                "{",
                "fn main() {",
                "func (s *S) M() {",
                "int f(void) {",
                "end",
                "x = 1",
                "// c",
                "# c",
                "\u00e9",
                "(",
                ")",
                "",
            ]
        ),
        max_size=25,
    ),
)
def test_any_text_gives_consistent_tags(language: str, lines: list[str]) -> None:
    text = "\n".join(lines)
    data = text.encode()
    symbols, refs = extract_tags(text, language, "f")
    nlines = text.count("\n") + 1
    for s in symbols:
        assert 1 <= s.start_line <= s.end_line <= nlines
        assert 0 <= s.start_byte <= s.end_byte <= len(data)
        assert s.scope == s.name or s.scope.endswith("." + s.name)
    for r in refs:
        assert 1 <= r.line <= nlines
