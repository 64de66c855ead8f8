//! A workspace member's share of `uv.lock`: the packages `uv sync` installs
//! for it, its groups and its extras.
//!
//! One `uv.lock` covers a whole workspace, so its bytes change whenever any
//! member's dependencies do. A space backed by one member hashes only the
//! member's resolution instead: the member's package and everything its
//! dependencies, selected extras and groups reach, each package's lock entry
//! kept whole (version, source, wheel and sdist hashes, its own deps). A
//! change elsewhere in the lock leaves that text, and so the space, as it was.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use toml::{Table, Value};

/// Which of a member's groups or extras to include.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Pick {
    /// Exactly these names (possibly none).
    Only(Vec<String>),
    /// Every one the member defines.
    All,
}

impl Pick {
    fn names<'a>(&'a self, defined: &'a Option<&'a Table>) -> Vec<&'a str> {
        match self {
            Pick::Only(names) => names.iter().map(String::as_str).collect(),
            Pick::All => defined
                .map(|table| table.keys().map(String::as_str).collect())
                .unwrap_or_default(),
        }
    }
}

/// What one member resolves to.
#[derive(Debug)]
pub(crate) struct Resolution {
    /// The member's packages as canonical TOML, the lock's header first.
    pub(crate) text: String,
    /// How many packages it holds, the member's own included.
    pub(crate) packages: usize,
    /// Normalised name → version of its packages; a name locked at two
    /// versions (for different platforms) is left out: which one is
    /// installed is not the lock's to say.
    pub(crate) versions: BTreeMap<String, String>,
    /// Directories (relative to the lock's directory) of the local projects
    /// in the resolution (the member, the workspace members it uses): their
    /// `pyproject.toml` decides whether the lock is still current.
    pub(crate) local_projects: Vec<String>,
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum LockError {
    /// Not TOML, or not shaped like a uv lock.
    Malformed(String),
    /// No package of the lock is the project at this directory.
    NoMember(String),
    /// A group or extra the member does not define.
    Unknown {
        kind: &'static str,
        name: String,
        member: String,
        defined: Vec<String>,
    },
}

impl std::fmt::Display for LockError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LockError::Malformed(why) => write!(f, "uv.lock is not a uv lock file: {why}"),
            LockError::NoMember(dir) => {
                write!(f, "uv.lock has no project at `{dir}`")
            }
            LockError::Unknown {
                kind,
                name,
                member,
                defined,
            } => {
                let defined = if defined.is_empty() {
                    "none".to_string()
                } else {
                    defined.join(", ")
                };
                write!(
                    f,
                    "{kind} `{name}` is not in uv.lock for `{member}` (it has: {defined})"
                )
            }
        }
    }
}

/// Where a local package's source lives: `editable`, `virtual` or
/// `directory`, as uv writes it.
fn local_dir(package: &Table) -> Option<&str> {
    let source = package.get("source")?.as_table()?;
    ["editable", "virtual", "directory"]
        .iter()
        .find_map(|kind| source.get(*kind)?.as_str())
}

/// `a/./b/` and `./a/b` are `a/b`; the root is `.`.
fn normalize_dir(dir: &str) -> String {
    let parts: Vec<&str> = dir
        .split('/')
        .filter(|part| !part.is_empty() && *part != ".")
        .collect();
    if parts.is_empty() {
        ".".to_string()
    } else {
        parts.join("/")
    }
}

fn tables(value: Option<&Value>) -> impl Iterator<Item = &Table> {
    value
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_table)
}

/// The resolution of the project at `member_dir` (relative to the lock's
/// directory, `.` for the root project) with `groups` and `extras`.
pub(crate) fn member_resolution(
    lock: &str,
    member_dir: &str,
    groups: &Pick,
    extras: &Pick,
) -> Result<Resolution, LockError> {
    let mut doc: Table =
        toml::from_str(lock).map_err(|err| LockError::Malformed(err.message().to_string()))?;
    let Some(Value::Array(packages)) = doc.remove("package") else {
        return Err(LockError::Malformed("it has no [[package]]".to_string()));
    };
    let packages: Vec<Table> = packages
        .into_iter()
        .map(|value| match value {
            Value::Table(table) => Ok(table),
            _ => Err(LockError::Malformed("a package is not a table".to_string())),
        })
        .collect::<Result<_, _>>()?;
    let mut by_name: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (index, package) in packages.iter().enumerate() {
        let name = package
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| LockError::Malformed("a package has no name".to_string()))?;
        by_name.entry(name).or_default().push(index);
    }

    let wanted = normalize_dir(member_dir);
    let root = packages
        .iter()
        .position(|package| local_dir(package).map(normalize_dir).as_deref() == Some(&wanted))
        .ok_or_else(|| LockError::NoMember(wanted.clone()))?;
    let root_package = &packages[root];
    let member_name = root_package["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();

    // (package, extra) pairs reached so far: a package reached with another
    // extra adds that extra's dependencies.
    let mut reached: BTreeSet<(usize, Option<String>)> = BTreeSet::new();
    let mut queue: VecDeque<&Table> = VecDeque::new();
    reached.insert((root, None));
    queue.extend(tables(root_package.get("dependencies")));

    let optional = root_package
        .get("optional-dependencies")
        .and_then(Value::as_table);
    for extra in extras.names(&optional) {
        let Some(deps) = optional.and_then(|table| table.get(extra)) else {
            return Err(unknown("extra", extra, &member_name, optional));
        };
        reached.insert((root, Some(extra.to_string())));
        queue.extend(tables(Some(deps)));
    }
    let dev = root_package
        .get("dev-dependencies")
        .and_then(Value::as_table);
    for group in groups.names(&dev) {
        let Some(deps) = dev.and_then(|table| table.get(group)) else {
            return Err(unknown("group", group, &member_name, dev));
        };
        queue.extend(tables(Some(deps)));
    }

    while let Some(dep) = queue.pop_front() {
        let Some(name) = dep.get("name").and_then(Value::as_str) else {
            return Err(LockError::Malformed("a dependency has no name".to_string()));
        };
        // A name alone is unique in the lock; otherwise uv adds the version
        // and source that tell the candidates apart.
        let matches = by_name.get(name).into_iter().flatten().filter(|&&index| {
            let package = &packages[index];
            ["version", "source"].iter().all(|key| {
                dep.get(*key)
                    .is_none_or(|want| package.get(*key) == Some(want))
            })
        });
        let dep_extras: Vec<Option<String>> = std::iter::once(None)
            .chain(
                dep.get("extra")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .map(|extra| Some(extra.to_string())),
            )
            .collect();
        for &index in matches {
            for extra in &dep_extras {
                if !reached.insert((index, extra.clone())) {
                    continue;
                }
                let package = &packages[index];
                match extra {
                    None => queue.extend(tables(package.get("dependencies"))),
                    Some(extra) => queue.extend(tables(
                        package
                            .get("optional-dependencies")
                            .and_then(Value::as_table)
                            .and_then(|table| table.get(extra)),
                    )),
                }
            }
        }
    }

    let included: BTreeSet<usize> = reached.iter().map(|(index, _)| *index).collect();
    let local_projects = included
        .iter()
        .filter_map(|&index| local_dir(&packages[index]).map(normalize_dir))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    // The header (format version, requires-python, resolution markers,
    // options) shapes every resolution; the manifest lists the whole
    // workspace, so it is left out.
    doc.remove("manifest");
    let subset: Vec<Value> = included
        .iter()
        .map(|&index| Value::Table(packages[index].clone()))
        .collect();
    let packages_count = subset.len();
    let versions = unique_versions(included.iter().filter_map(|&index| {
        let package = &packages[index];
        Some((
            package.get("name")?.as_str()?,
            package.get("version")?.as_str()?,
        ))
    }));
    doc.insert("package".to_string(), Value::Array(subset));
    let text = toml::to_string(&doc).map_err(|err| LockError::Malformed(err.to_string()))?;
    Ok(Resolution {
        text,
        packages: packages_count,
        versions,
        local_projects,
    })
}

/// Normalised name → version, without names pinned to several versions.
fn unique_versions<'a>(pins: impl Iterator<Item = (&'a str, &'a str)>) -> BTreeMap<String, String> {
    let mut versions: BTreeMap<String, Option<String>> = BTreeMap::new();
    for (name, version) in pins {
        versions
            .entry(qik_core::hashing::normalize_pydist(name))
            .and_modify(|seen| {
                if seen.as_deref() != Some(version) {
                    *seen = None;
                }
            })
            .or_insert_with(|| Some(version.to_string()));
    }
    versions
        .into_iter()
        .filter_map(|(name, version)| Some((name, version?)))
        .collect()
}

/// The pins (`name==version`) of a lock file that `uv pip compile` wrote.
pub(crate) fn requirements_versions(text: &str) -> BTreeMap<String, String> {
    unique_versions(text.lines().filter_map(|line| {
        let line = line.trim();
        if line.starts_with('#') || line.starts_with('-') {
            return None;
        }
        let (name, rest) = line.split_once("==")?;
        let name = name.split('[').next()?.trim();
        let version = rest
            .split(|c: char| c == ';' || c == '\\' || c == '#' || c.is_whitespace())
            .next()?;
        (!name.is_empty() && !version.is_empty()).then_some((name, version))
    }))
}

fn unknown(kind: &'static str, name: &str, member: &str, defined: Option<&Table>) -> LockError {
    LockError::Unknown {
        kind,
        name: name.to_string(),
        member: member.to_string(),
        defined: defined
            .map(|table| table.keys().cloned().collect())
            .unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A workspace as uv locks it: `api` uses `core` and `tinypkg`, has a
    /// `dev` group and an extra; `core` uses `shared[fast]`; `other` uses
    /// `lonely`; two versions of `split` are told apart by version.
    const LOCK: &str = r#"
version = 1
revision = 3
requires-python = ">=3.9"

[manifest]
members = ["api", "core", "other"]

[[package]]
name = "api"
version = "0.1.0"
source = { editable = "services/api" }
dependencies = [
    { name = "core" },
    { name = "tinypkg" },
    { name = "split", version = "1.0", source = { registry = "https://example.invalid/simple" } },
]

[package.optional-dependencies]
speed = [{ name = "fastlib" }]

[package.dev-dependencies]
dev = [{ name = "iniconfig" }]

[[package]]
name = "core"
version = "0.1.0"
source = { editable = "libs/core" }
dependencies = [{ name = "shared", extra = ["fast"] }]

[[package]]
name = "fastlib"
version = "1.0"
source = { registry = "https://example.invalid/simple" }

[[package]]
name = "iniconfig"
version = "2.0"
source = { registry = "https://example.invalid/simple" }

[[package]]
name = "lonely"
version = "1.0"
source = { registry = "https://example.invalid/simple" }

[[package]]
name = "other"
version = "0.1.0"
source = { editable = "services/other" }
dependencies = [{ name = "lonely" }]

[[package]]
name = "shared"
version = "1.0"
source = { registry = "https://example.invalid/simple" }

[package.optional-dependencies]
fast = [{ name = "speedup" }]
slow = [{ name = "lonely" }]

[[package]]
name = "speedup"
version = "1.0"
source = { registry = "https://example.invalid/simple" }

[[package]]
name = "split"
version = "1.0"
source = { registry = "https://example.invalid/simple" }

[[package]]
name = "split"
version = "2.0"
source = { registry = "https://example.invalid/simple" }

[[package]]
name = "tinypkg"
version = "1.0"
source = { registry = "https://example.invalid/simple" }
"#;

    fn names(resolution: &Resolution) -> Vec<String> {
        let doc: Table = toml::from_str(&resolution.text).unwrap();
        tables(doc.get("package"))
            .map(|p| {
                format!(
                    "{}=={}",
                    p["name"].as_str().unwrap(),
                    p["version"].as_str().unwrap()
                )
            })
            .collect()
    }

    fn none() -> Pick {
        Pick::Only(Vec::new())
    }

    #[test]
    fn follows_dependencies_and_the_extras_they_ask_for() {
        let resolution = member_resolution(LOCK, "services/api", &none(), &none()).unwrap();
        assert_eq!(
            names(&resolution),
            [
                "api==0.1.0",
                "core==0.1.0",
                "shared==1.0",
                "speedup==1.0",
                "split==1.0",
                "tinypkg==1.0"
            ]
        );
        assert_eq!(resolution.local_projects, ["libs/core", "services/api"]);
        assert_eq!(resolution.packages, 6);
    }

    #[test]
    fn groups_and_extras_add_their_packages() {
        let dev = Pick::Only(vec!["dev".to_string()]);
        let with_dev = member_resolution(LOCK, "./services/api/", &dev, &none()).unwrap();
        assert!(names(&with_dev).contains(&"iniconfig==2.0".to_string()));
        let all = member_resolution(LOCK, "services/api", &Pick::All, &Pick::All).unwrap();
        let all = names(&all);
        assert!(all.contains(&"iniconfig==2.0".to_string()));
        assert!(all.contains(&"fastlib==1.0".to_string()));
    }

    #[test]
    fn another_members_change_leaves_the_resolution_alone() {
        let before = member_resolution(LOCK, "services/api", &none(), &none()).unwrap();
        let other_changed = LOCK.replace(
            "name = \"lonely\"\nversion = \"1.0\"",
            "name = \"lonely\"\nversion = \"1.1\"",
        );
        let manifest_changed = LOCK.replace(
            "members = [\"api\", \"core\", \"other\"]",
            "members = [\"api\", \"core\", \"other\", \"new\"]",
        );
        for lock in [other_changed, manifest_changed] {
            assert_ne!(lock, LOCK);
            let after = member_resolution(&lock, "services/api", &none(), &none()).unwrap();
            assert_eq!(before.text, after.text);
        }
        // ... but a package the member reaches, even through an extra, does.
        let speedup_changed = LOCK.replace(
            "name = \"speedup\"\nversion = \"1.0\"",
            "name = \"speedup\"\nversion = \"1.1\"",
        );
        let after = member_resolution(&speedup_changed, "services/api", &none(), &none()).unwrap();
        assert_ne!(before.text, after.text);
        let header_changed = LOCK.replace(">=3.9", ">=3.10");
        let after = member_resolution(&header_changed, "services/api", &none(), &none()).unwrap();
        assert_ne!(before.text, after.text);
    }

    #[test]
    fn versions_of_the_resolution_leave_out_ambiguous_names() {
        let resolution = member_resolution(LOCK, "services/api", &none(), &none()).unwrap();
        assert_eq!(
            resolution.versions.get("tinypkg").map(String::as_str),
            Some("1.0")
        );
        assert_eq!(
            resolution.versions.get("core").map(String::as_str),
            Some("0.1.0")
        );
        // `split` is locked at 1.0 and 2.0; api reaches only 1.0.
        assert_eq!(
            resolution.versions.get("split").map(String::as_str),
            Some("1.0")
        );
        assert!(!resolution.versions.contains_key("lonely"));
    }

    #[test]
    fn pins_of_a_compiled_requirements_file() {
        let text = "# via uv pip compile\nTiny_Pkg[extra]==1.0 ; python_version >= '3.8' \\\n    # via -r requirements.txt\nother==2.1\nsplit==1.0 ; sys_platform == 'linux'\nsplit==2.0 ; sys_platform == 'win32'\n-e ./local\nplain\n";
        let versions = requirements_versions(text);
        assert_eq!(
            versions.into_iter().collect::<Vec<_>>(),
            [
                ("other".to_string(), "2.1".to_string()),
                ("tiny-pkg".to_string(), "1.0".to_string())
            ]
        );
    }

    #[test]
    fn unknown_groups_extras_and_members_are_errors() {
        let missing = Pick::Only(vec!["docs".to_string()]);
        let err = member_resolution(LOCK, "services/api", &missing, &none()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "group `docs` is not in uv.lock for `api` (it has: dev)"
        );
        let err = member_resolution(LOCK, "services/api", &none(), &missing).unwrap_err();
        assert_eq!(
            err.to_string(),
            "extra `docs` is not in uv.lock for `api` (it has: speed)"
        );
        let err = member_resolution(LOCK, "services/nope", &none(), &none()).unwrap_err();
        assert_eq!(err, LockError::NoMember("services/nope".to_string()));
        assert!(matches!(
            member_resolution("not [toml", ".", &none(), &none()),
            Err(LockError::Malformed(_))
        ));
        assert!(matches!(
            member_resolution("version = 1\n", ".", &none(), &none()),
            Err(LockError::Malformed(_))
        ));
    }
}
