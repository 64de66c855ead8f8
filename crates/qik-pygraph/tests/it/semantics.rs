//! `/work/shared/pygraph-semantics.md`, item by item (numbers in the test
//! names), on small fixtures.

use qik_pygraph::BuildOptions;

use crate::support::{Fixture, arrows, edges, edges_of, modules};

/// The doc's `c` package.
fn c_package(extra: &[(&str, &str)]) -> Fixture {
    let mut files = vec![
        ("c/__init__.py", "util = 1\n"),
        ("c/util.py", "def helper(): pass\n"),
        ("c/sub/__init__.py", ""),
        ("c/sub/rel5.py", ""),
    ];
    files.extend_from_slice(extra);
    Fixture::new(&files)
}

#[test]
fn a1_only_py_files_are_modules() {
    let f = c_package(&[
        ("c/onlystub.pyi", "x: int\n"),
        ("c/native.so", "\x7fELF"),
        ("c/cy.pyx", "cdef int x\n"),
        ("c/m.py", "import c.onlystub\nimport c.native\n"),
    ]);
    let g = f.graph();
    assert_eq!(modules(&g), ["c", "c.m", "c.sub", "c.sub.rel5", "c.util"]);
    assert_eq!(edges_of(&g, "c.m"), arrows(&["c.m -> c"]));
}

#[test]
fn a2_names_come_from_paths() {
    let f = c_package(&[
        ("c/__main__.py", "from c import util\n"),
        ("c/sub/deep.py", ""),
    ]);
    let g = f.graph();
    assert!(modules(&g).contains(&"c.__main__".to_string()));
    assert!(modules(&g).contains(&"c.sub.deep".to_string()));
    assert_eq!(edges(&g), arrows(&["c.__main__ -> c.util"]));
    let i = g.find("c.sub").unwrap();
    assert_eq!(g.file(i), Some("c/sub/__init__.py"));
}

#[test]
fn a3_hidden_dotted_and_non_identifier_names_are_skipped() {
    let f = c_package(&[
        ("c/.hidden.py", ""),
        ("c/some.dotted.py", ""),
        ("c/test-examples/__init__.py", ""),
        ("c/test-examples/x.py", ""),
        ("c/.git/hooks.py", ""),
    ]);
    let built = f.build();
    assert_eq!(
        modules(&built.graph),
        ["c", "c.sub", "c.sub.rel5", "c.util"]
    );
    assert!(
        built
            .warnings
            .iter()
            .any(|w| w.starts_with("c/some.dotted.py:")),
        "{:?}",
        built.warnings
    );
}

#[test]
fn a4_orphan_directories_are_not_walked() {
    let f = c_package(&[
        ("c/noinit/app.py", ""),
        ("c/noinit/deeper/__init__.py", ""),
        ("c/noinit/deeper/x.py", ""),
        ("c/m.py", "from .noinit.app import App\n"),
        // A top-level directory without `__init__.py` is no package either.
        ("scripts/run.py", "import c\n"),
    ]);
    let g = f.graph();
    assert_eq!(modules(&g), ["c", "c.m", "c.sub", "c.sub.rel5", "c.util"]);
    // Unresolvable two levels down: falls back to the root package (13).
    assert_eq!(edges(&g), arrows(&["c.m -> c"]));
}

#[test]
fn a_top_level_files_are_internal_modules() {
    let f = c_package(&[
        ("conftest.py", "import c.util\nimport settings\n"),
        ("settings.py", ""),
        ("c/m.py", "import conftest\nfrom settings import X\n"),
    ]);
    let g = f.graph();
    assert!(g.modules().iter().all(|m| m.internal));
    assert_eq!(
        edges(&g),
        arrows(&[
            "c.m -> conftest",
            "c.m -> settings",
            "conftest -> c.util",
            "conftest -> settings"
        ])
    );
}

#[test]
fn b6_no_edges_to_parent_packages() {
    let f = c_package(&[("c/m.py", "import c.sub.rel5 as x, c.util\n")]);
    assert_eq!(
        edges(&f.graph()),
        arrows(&["c.m -> c.sub.rel5", "c.m -> c.util"])
    );
}

#[test]
fn b7_from_imports_one_record_per_name() {
    let f = c_package(&[(
        "c/m.py",
        "x = 1\nfrom c import (\n    util,\n    sub,\n)\nfrom c.util import *\n",
    )]);
    let g = f.graph();
    assert_eq!(edges(&g), arrows(&["c.m -> c.sub", "c.m -> c.util"]));
    let lines: Vec<u32> = g.sites().iter().map(|s| s.line).collect();
    assert_eq!(
        lines,
        [2, 2, 6],
        "a statement is reported at its first line"
    );
}

#[test]
fn b8_relative_imports() {
    let f = c_package(&[
        ("c/rel1.py", "from . import util\n"),
        ("c/sub/rel4.py", "from ..util import helper\n"),
        ("c/sub/__init__.py", "from . import rel5\n"),
        ("c/star.py", "from . import *\n"),
        (
            "c/sub/up.py",
            "from .. import util\nfrom .rel5 import thing\n",
        ),
    ]);
    let g = f.graph();
    assert_eq!(edges_of(&g, "c.rel1"), arrows(&["c.rel1 -> c.util"]));
    assert_eq!(
        edges_of(&g, "c.sub.rel4"),
        arrows(&["c.sub.rel4 -> c.util"])
    );
    assert_eq!(edges_of(&g, "c.sub"), arrows(&["c.sub -> c.sub.rel5"]));
    assert_eq!(edges_of(&g, "c.star"), arrows(&["c.star -> c"]));
    assert_eq!(
        edges_of(&g, "c.sub.up"),
        arrows(&["c.sub.up -> c.sub.rel5", "c.sub.up -> c.util"])
    );
}

#[test]
fn b9_imports_are_found_everywhere() {
    let src = r#"
def f():
    import e1
async def g():
    import e2
class C:
    import e3
    def m(self):
        from e4 import x
try:
    import e5
except ImportError:
    import e6
finally:
    import e7
if x:
    import e8
elif y:
    import e9
else:
    import e10
while x:
    import e11
else:
    import e12
for i in y:
    import e13
with ctx() as c:
    import e14
match x:
    case 1:
        import e15
if False:
    import e16
if 0:
    import e17
lazy import e18
lazy from e19 import y
importlib.import_module("n1")
__import__("n2")
exec("import n3")
s = "import n4"
# import n5
t = """
import n6
"""
"#;
    let f = c_package(&[("c/m.py", src)]);
    let g = f.graph();
    let expect: Vec<String> = (1..=19).map(|i| format!("c.m -> !e{i}")).collect();
    let mut expect = expect;
    expect.sort();
    assert_eq!(edges_of(&g, "c.m"), expect);
}

const TYPE_CHECKING_SRC: &str = r#"
from typing import TYPE_CHECKING
import typing, typing as t
if TYPE_CHECKING:
    import x1
    def f():
        import x2
    if TYPE_CHECKING:
        import x3
elif other:
    import k1
else:
    import k2
if typing.TYPE_CHECKING:
    import x4
if t.TYPE_CHECKING: import x5
if typing_extensions.TYPE_CHECKING:
    import x6
if foo.TYPE_CHECKING:
    import x7
if (TYPE_CHECKING):
    import x8
if not TYPE_CHECKING:
    import k3
if TYPE_CHECKING and X:
    import k4
from typing import TYPE_CHECKING as TC
if TC:
    import k5
if TYPE_CHECKING is True:
    import k6
if TYPE_CHECKING == True:
    import k7
if TYPE_CHECKING():
    import k8
while TYPE_CHECKING:
    import k9
with TYPE_CHECKING:
    import k10
if x:
    pass
elif TYPE_CHECKING:
    import x9
import k11
"#;

#[test]
fn b10_type_checking_imports_are_left_out_on_request() {
    let mut f = c_package(&[
        ("c/m.py", TYPE_CHECKING_SRC),
        (
            "c/n.py",
            "TYPE_CHECKING = False\nif TYPE_CHECKING:\n    import x10\n",
        ),
    ]);
    let all = f.graph();
    assert_eq!(
        edges_of(&all, "c.m").len(),
        20,
        "{:?}",
        edges_of(&all, "c.m")
    );
    f.options = BuildOptions {
        ignore_type_checking: true,
        ..BuildOptions::default()
    };
    let g = f.graph();
    let mut expect: Vec<String> = (1..=11).map(|i| format!("c.m -> !k{i}")).collect();
    expect.sort();
    assert_eq!(edges_of(&g, "c.m"), expect);
    assert!(edges_of(&g, "c.n").is_empty());
}

#[test]
fn c11_to_c13_resolution() {
    let f = c_package(&[
        (
            "c/m.py",
            "from c import util\nfrom c import X\nfrom c.util import helper\nimport c.nonexistent\n",
        ),
        (
            "c/deep.py",
            "import c.nonexistent.deeper\nimport c.sub.rel5.thing.more\nfrom c.util.helper import x\n",
        ),
    ]);
    let g = f.graph();
    assert_eq!(edges_of(&g, "c.m"), arrows(&["c.m -> c", "c.m -> c.util"]));
    assert_eq!(edges_of(&g, "c.deep"), arrows(&["c.deep -> c"]));
    // The root fallback goes through the external rule, so it goes with it.
    let mut f = f;
    f.options = BuildOptions {
        ignore_pydists: true,
        ..BuildOptions::default()
    };
    let g = f.graph();
    assert_eq!(edges_of(&g, "c.deep"), Vec::<String>::new());
    assert_eq!(edges_of(&g, "c.m"), arrows(&["c.m -> c", "c.m -> c.util"]));
}

#[test]
fn c15_c16_stdlib_is_left_out_and_third_party_squashed() {
    let f = c_package(&[
        (
            "c/m.py",
            "import os.path\nfrom __future__ import annotations\nimport xml.etree.ElementTree\nimport _thread\nimport django.db.models\nimport google.protobuf\nimport code.x\n",
        ),
        // Project packages with standard-library names are left out too.
        ("code/__init__.py", "import c\n"),
        ("code/x.py", ""),
    ]);
    let g = f.graph();
    assert_eq!(
        edges_of(&g, "c.m"),
        arrows(&["c.m -> !django", "c.m -> !google"])
    );
    assert!(!modules(&g).iter().any(|m| m.starts_with("code")));
}

#[test]
fn c17_edges_are_a_set_with_self_edges() {
    let f = c_package(&[(
        "c/selfimp.py",
        "import c.selfimp\nimport c.util\nfrom c import util\n",
    )]);
    let g = f.graph();
    assert_eq!(
        edges_of(&g, "c.selfimp"),
        arrows(&["c.selfimp -> c.selfimp", "c.selfimp -> c.util"])
    );
    let lines: Vec<u32> = g.sites().iter().map(|s| s.line).collect();
    assert_eq!(lines, [1, 2, 3], "per-line details are kept");
}

#[test]
fn c18_relative_imports_past_the_top_are_dropped_with_a_warning() {
    let f = Fixture::new(&[
        ("e/__init__.py", ""),
        ("e/sub/__init__.py", "from ... import x\n"),
        (
            "e/sub/beyond.py",
            "import os\nfrom ... import x\nfrom .... import y\n",
        ),
        ("top.py", "from . import z\n"),
    ]);
    let built = f.build();
    assert!(edges(&built.graph).is_empty(), "{:?}", edges(&built.graph));
    let mut warnings = built.warnings.clone();
    warnings.sort();
    assert_eq!(warnings.len(), 4, "{warnings:?}");
    assert!(warnings[0].starts_with("e/sub/__init__.py:1: relative import climbs past"));
    assert!(warnings[1].starts_with("e/sub/beyond.py:2:"));
    assert!(warnings[2].starts_with("e/sub/beyond.py:3:"));
    assert!(warnings[3].starts_with("top.py:1:"));
}

#[test]
fn d19_decoding() {
    let f = c_package(&[]);
    f.write("c/bom.py", b"\xef\xbb\xbfimport c.util\n");
    f.write(
        "c/latin.py",
        b"# -*- coding: latin-1 -*-\ns = '\xe9'\nimport c.sub\n",
    );
    f.write(
        "c/vim.py",
        b"#!/usr/bin/env python\n# vim: set fileencoding=cp1252 :\ns = '\x80'\nimport c.util\n",
    );
    f.write(
        "c/eucjp.py",
        b"# coding: euc-jp\ns = '\xa4\xa2'\nimport c.util\n",
    );
    f.write("c/crlf.py", b"import c.util\r\nimport c.sub");
    let g = f.graph();
    for m in ["c.bom", "c.latin", "c.vim", "c.eucjp", "c.crlf"] {
        assert!(!edges_of(&g, m).is_empty(), "{m}");
    }
}

#[test]
fn e21_cache_never_keeps_stale_edges() {
    let f = Fixture::new(&[
        ("s/__init__.py", ""),
        ("s/a.py", "from s import newmod\n"),
        ("s/b.py", "import s.gone\n"),
        ("s/gone.py", ""),
    ]);
    let first = f.build();
    assert_eq!(first.parsed, 4);
    assert_eq!(edges(&first.graph), arrows(&["s.a -> s", "s.b -> s.gone"]));
    // A new module and a deleted one; the importers did not change.
    f.write("s/newmod.py", b"NEW = 1\n");
    f.remove("s/gone.py");
    let second = f.build();
    assert_eq!(second.parsed, 1, "only the new file is parsed");
    assert_eq!(
        edges(&second.graph),
        arrows(&["s.a -> s.newmod", "s.b -> s"])
    );
    assert!(!modules(&second.graph).contains(&"s.gone".to_string()));
}
