"""Print, for every .py file under DIR that Python itself parses, its imports
as JSON lines: {"path": ..., "imports": [[level, name, line, type_checking]]}
with the records qik.pygraph's scanner extracts (one per imported name,
`from m import n` as `m.n`, `from __future__ import ...` as `__future__`).

usage: ast_imports.py DIR
"""

import ast
import json
import os
import sys
import warnings

warnings.simplefilter("ignore")


def is_type_checking(test):
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports(tree):
    out = []

    def visit(node, tc):
        if isinstance(node, ast.Import):
            for alias in node.names:
                out.append((0, alias.name, node.lineno, tc))
        elif isinstance(node, ast.ImportFrom):
            for alias in node.names:
                if node.module == "__future__":
                    name = "__future__"
                elif node.module:
                    name = f"{node.module}.{alias.name}"
                else:
                    name = alias.name
                out.append((node.level, name, node.lineno, tc))
        if isinstance(node, ast.If) and is_type_checking(node.test):
            for child in node.body:
                visit(child, True)
            for child in node.orelse:
                visit(child, tc)
            return
        for child in ast.iter_child_nodes(node):
            visit(child, tc)

    visit(tree, False)
    return sorted(set(out))


# Of the test suites, only the files that torture the tokenizer and parser
# (the rest is slow to parse and adds nothing).
TORTURE = {
    "test_grammar.py",
    "test_fstring.py",
    "test_tokenize.py",
    "test_string_literals.py",
    "test_unparse.py",
    "test_ast.py",
    "test_syntax.py",
    "test_patma.py",
    "test_typing.py",
    "test_coroutines.py",
    "test_utf8source.py",
}

for dirpath, dirnames, filenames in os.walk(sys.argv[1]):
    dirnames[:] = sorted(d for d in dirnames if d != "site-packages")
    in_tests = any(part in ("test", "tests") for part in dirpath.split(os.sep))
    for filename in sorted(filenames):
        if not filename.endswith(".py") or (in_tests and filename not in TORTURE):
            continue
        path = os.path.join(dirpath, filename)
        with open(path, "rb") as f:
            src = f.read()
        try:
            tree = ast.parse(src)
        except (SyntaxError, ValueError):
            continue
        print(json.dumps({"path": path, "imports": imports(tree)}))
