"""Print the import graph grimp builds for the packages under ROOT, in the
graph.json shape of qik.pygraph (what the Python qik derives from grimp,
without its parent-package edges).

usage: grimp_graph.py ROOT [--ignore-type-checking] [--no-external]
"""

import importlib.machinery
import json
import pkgutil
import sys

import grimp

root = sys.argv[1]
type_checking = "--ignore-type-checking" in sys.argv
external = "--no-external" not in sys.argv
sys.path.insert(0, root)
packages = sorted(
    m.name
    for m in pkgutil.iter_modules([root])
    if m.ispkg and isinstance(m.module_finder, importlib.machinery.FileFinder)
)
graph = grimp.build_graph(
    *packages,
    include_external_packages=external,
    exclude_type_checking_imports=type_checking,
    cache_dir=None,
)
stdlib = sys.stdlib_module_names | set(sys.builtin_module_names)
names = sorted(m for m in graph.modules if m.split(".")[0] not in stdlib)
index = {name: i for i, name in enumerate(names)}
edges = sorted(
    {
        (index[a], index[b])
        for a in names
        for b in graph.find_modules_directly_imported_by(a)
        if b in index
    }
)
modules = [[n, n.split(".")[0] in packages] for n in names]
json.dump({"modules": modules, "edges": edges}, sys.stdout)
