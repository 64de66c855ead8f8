//! Selecting runnables and the DAG between them.
//!
//! The selected commands' runnables (filtered by `-m` and `-s`) seed the graph;
//! their upstream runnables join unless `--isolated` (or the dep's own
//! `isolated`) says otherwise. Tag and cache filters then narrow the view
//! without bringing neighbours back, as in the reference implementation.

use std::collections::{BTreeMap, BTreeSet};

// Membership only, never iterated.
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use std::sync::Arc;

use crate::config::Origin;
use crate::diagnostic::{Code, Diagnostic, choices_hint};
use crate::model::{DEFAULT_SPACE, Project, Runnable, Upstream};

/// What the user asked to run.
#[derive(Clone, Debug, Default)]
pub struct Selection {
    /// Command or runnable names; empty means every visible command.
    pub commands: Vec<String>,
    pub modules: Vec<String>,
    pub spaces: Vec<String>,
    pub tags: Vec<String>,
    pub caches: Vec<String>,
    /// Leave upstream command deps out.
    pub isolated: bool,
}

/// What one name given to `qik` stands for: a command (all its runnables)
/// or one runnable, named as `--ls` prints it (`lint#greet`, `test@api`).
enum Target<'a> {
    Command(&'a str),
    Runnable(Arc<Runnable>),
}

impl<'a> Target<'a> {
    fn of(project: &'a Project, name: &str) -> Result<Target<'a>, Diagnostic> {
        if let Some(command) = project.command_name(name) {
            return Ok(Target::Command(command));
        }
        // A runnable's name is its command's, then `@space`, `#module` and
        // `?arg=value` as they apply.
        let command_part = name.find(['@', '#', '?']).map(|end| &name[..end]);
        let Some(command) = command_part.and_then(|part| project.command_name(part)) else {
            return Err(project.unknown_command(name));
        };
        let runnables = project.runnables_of(command)?;
        if let Some(runnable) = runnables.iter().find(|r| r.name == name) {
            return Ok(Target::Runnable(Arc::clone(runnable)));
        }
        Err(Diagnostic::error(
            Code::CommandNotFound,
            format!("command `{command}` has no runnable `{name}`"),
        )
        .with_hint(choices_hint(
            name,
            runnables.iter().map(|r| r.name.as_str()),
        )))
    }
}

/// The selected runnables and their dependency edges.
#[derive(Clone, Debug, Default)]
pub struct Graph {
    nodes: BTreeMap<String, Arc<Runnable>>,
    /// Direct upstream runnables of each node.
    upstream: BTreeMap<String, BTreeSet<String>>,
    /// Direct downstream runnables through strict deps.
    strict_downstream: BTreeMap<String, BTreeSet<String>>,
}

impl Graph {
    /// Builds the graph for a selection, validating every name in it.
    pub fn select(project: &Project, selection: &Selection) -> Result<Graph, Diagnostic> {
        let mut commands: Vec<&str> = Vec::new();
        let mut named: Vec<Arc<Runnable>> = Vec::new();
        if selection.commands.is_empty() {
            commands.extend(project.visible_commands());
        }
        for name in &selection.commands {
            match Target::of(project, name)? {
                Target::Command(command) => commands.push(command),
                Target::Runnable(runnable) => named.push(runnable),
            }
        }
        let modules = selection
            .modules
            .iter()
            .map(|name| {
                if project.modules().any(|m| m.name == *name) {
                    return Ok(name.as_str());
                }
                let hint = match project.modules().find(|m| m.path == *name) {
                    Some(module) => format!(
                        "the module at `{name}` is named `{}`: use -m {}",
                        module.name, module.name
                    ),
                    None => choices_hint(name, project.modules().map(|m| m.name.as_str())),
                };
                Err(Diagnostic::error(
                    Code::ModuleNotFound,
                    format!("module `{name}` is not configured"),
                )
                .with_hint(hint))
            })
            .collect::<Result<BTreeSet<_>, _>>()?;
        let spaces = selection
            .spaces
            .iter()
            .map(|name| {
                if project.space_names().contains(name.as_str()) {
                    Ok(name.as_str())
                } else {
                    Err(Diagnostic::error(
                        Code::SpaceNotFound,
                        format!("space `{name}` is not configured"),
                    )
                    .with_hint(choices_hint(name, project.space_names())))
                }
            })
            .collect::<Result<BTreeSet<_>, _>>()?;
        for cache in &selection.caches {
            if cache != "none" && !project.config.caches.contains_key(cache) {
                return Err(Diagnostic::error(
                    Code::UnconfiguredCache,
                    format!("cache \"{cache}\" is not configured"),
                )
                .with_hint(choices_hint(cache, project.cache_names())));
            }
        }

        let mut graph = Graph::default();
        let mut seeds = named;
        for command in commands {
            seeds.extend(project.runnables_of(command)?.iter().cloned());
        }
        for runnable in seeds {
            let module_ok = modules.is_empty()
                || runnable
                    .module
                    .as_deref()
                    .is_some_and(|m| modules.contains(m));
            let space_ok = spaces.is_empty() || spaces.contains(runnable.space.as_str());
            if module_ok && space_ok {
                graph.nodes.insert(runnable.name.clone(), runnable);
            }
        }
        graph.add_upstream(project, selection.isolated)?;

        if !selection.tags.is_empty() {
            graph.retain(|r| r.tags.iter().any(|t| selection.tags.contains(t)));
        }
        if !selection.caches.is_empty() {
            graph.retain(|r| {
                selection
                    .caches
                    .iter()
                    .any(|c| c.eq_ignore_ascii_case(r.cache.name()))
            });
        }
        Ok(graph)
    }

    /// The graph of the given runnables and their upstream runnables.
    pub fn of_runnables(
        project: &Project,
        runnables: impl IntoIterator<Item = Arc<Runnable>>,
    ) -> Result<Graph, Diagnostic> {
        let mut graph = Graph::default();
        for runnable in runnables {
            graph.nodes.insert(runnable.name.clone(), runnable);
        }
        graph.add_upstream(project, false)?;
        Ok(graph)
    }

    /// Walks upstream from the seeded nodes. Whether an upstream runnable
    /// joins depends on the seed set only, so each node is expanded once.
    fn add_upstream(&mut self, project: &Project, isolated: bool) -> Result<(), Diagnostic> {
        let seeds: BTreeSet<String> = self.nodes.keys().cloned().collect();
        let mut done: HashSet<String> = HashSet::default();
        let roots: Vec<Arc<Runnable>> = self.nodes.values().cloned().collect();
        for root in roots {
            self.walk_upstream(project, root, isolated, &seeds, &mut done)?;
        }
        Ok(())
    }

    /// Depth-first from `root`, on a stack of its own rather than the
    /// thread's: a chain of command deps is as deep as the config makes it.
    fn walk_upstream(
        &mut self,
        project: &Project,
        root: Arc<Runnable>,
        isolated: bool,
        seeds: &BTreeSet<String>,
        done: &mut HashSet<String>,
    ) -> Result<(), Diagnostic> {
        struct Frame {
            runnable: Arc<Runnable>,
            upstream: std::vec::IntoIter<Upstream>,
        }
        if done.contains(&root.name) {
            return Ok(());
        }
        // The runnables being expanded, in order, with the dep that led to
        // each (for a cycle's message), and where each stands in that path.
        let mut path: Vec<(String, Option<Origin>)> = vec![(root.name.clone(), None)];
        let mut on_path: HashMap<String, usize> = HashMap::default();
        on_path.insert(root.name.clone(), 0);
        let mut stack = vec![Frame {
            upstream: project.upstream_of(&root)?.into_iter(),
            runnable: root,
        }];
        while let Some(frame) = stack.last_mut() {
            let Some(upstream) = frame.upstream.next() else {
                let name = frame.runnable.name.clone();
                stack.pop();
                path.pop();
                on_path.remove(&name);
                done.insert(name);
                continue;
            };
            let target = upstream.runnable;
            if upstream.isolated.unwrap_or(isolated) && !seeds.contains(&target.name) {
                continue;
            }
            let from = frame.runnable.name.clone();
            if !self.nodes.contains_key(&target.name) {
                self.nodes.insert(target.name.clone(), Arc::clone(&target));
            }
            self.upstream
                .entry(from.clone())
                .or_default()
                .insert(target.name.clone());
            if upstream.strict {
                self.strict_downstream
                    .entry(target.name.clone())
                    .or_default()
                    .insert(from);
            }
            if let Some(&start) = on_path.get(&target.name) {
                return Err(cycle_error(&path[start..], &target.name, upstream.origin));
            }
            if done.contains(&target.name) {
                continue;
            }
            on_path.insert(target.name.clone(), path.len());
            path.push((target.name.clone(), upstream.origin));
            stack.push(Frame {
                upstream: project.upstream_of(&target)?.into_iter(),
                runnable: target,
            });
        }
        Ok(())
    }

    /// Narrows the graph to the runnables `keep` accepts, without bringing
    /// their neighbours back (as the tag and cache filters do).
    pub fn retain(&mut self, keep: impl Fn(&Runnable) -> bool) {
        self.nodes.retain(|_, r| keep(r));
        let nodes = &self.nodes;
        for edges in [&mut self.upstream, &mut self.strict_downstream] {
            edges.retain(|name, _| nodes.contains_key(name));
            for targets in edges.values_mut() {
                targets.retain(|t| nodes.contains_key(t));
            }
        }
    }

    /// Narrows the graph to `seeds` and the runnables they bring along under
    /// `--since`: their upstream runnables (through the edges the selection
    /// kept, so isolated deps stay out) and their downstream runnables through
    /// strict deps, repeated until nothing joins. A runnable thus never runs
    /// without its upstream, even when a strict dep brought it in. Names that
    /// are not in the graph are ignored.
    pub fn retain_affected(&mut self, seeds: &BTreeSet<String>) {
        self.retain_affected_where(seeds, |_| true);
    }

    /// Narrows the graph to `seeds` and their upstream runnables (through the
    /// edges the selection kept), without strict downstream ones: `--shard`
    /// gives each runnable one owner, and an owner needs its inputs.
    pub fn retain_with_upstream(&mut self, seeds: &BTreeSet<String>) {
        self.retain_closure(seeds, false, |_| true);
    }

    /// Like [`Graph::retain_affected`], but an upstream runnable joins only
    /// when `needs_upstream` says so: `--watch` leaves out the upstream
    /// runnables that already ran in the session (nothing changed for them).
    pub fn retain_affected_where(
        &mut self,
        seeds: &BTreeSet<String>,
        needs_upstream: impl Fn(&str) -> bool,
    ) {
        self.retain_closure(seeds, true, needs_upstream);
    }

    /// Keeps `seeds` and what they reach: upstream runnables that
    /// `needs_upstream` accepts and, with `strict_downstream`, downstream
    /// runnables through strict deps, repeated until nothing joins.
    fn retain_closure(
        &mut self,
        seeds: &BTreeSet<String>,
        strict_downstream: bool,
        needs_upstream: impl Fn(&str) -> bool,
    ) {
        let mut keep: BTreeSet<String> = BTreeSet::new();
        let mut todo: Vec<&str> = seeds
            .iter()
            .filter(|name| self.nodes.contains_key(*name))
            .map(String::as_str)
            .collect();
        while let Some(name) = todo.pop() {
            if !keep.insert(name.to_string()) {
                continue;
            }
            if strict_downstream {
                todo.extend(self.strict_downstream(name));
            }
            todo.extend(self.upstream(name).filter(|up| needs_upstream(up)));
        }
        self.retain(|r| keep.contains(&r.name));
    }

    /// Runnables sorted by name.
    pub fn runnables(&self) -> impl Iterator<Item = &Arc<Runnable>> {
        self.nodes.values()
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    pub fn get(&self, name: &str) -> Option<&Arc<Runnable>> {
        self.nodes.get(name)
    }

    /// Direct upstream runnables of a node.
    pub fn upstream(&self, name: &str) -> impl Iterator<Item = &str> {
        self.upstream
            .get(name)
            .into_iter()
            .flatten()
            .map(String::as_str)
    }

    /// Direct downstream runnables through strict deps.
    pub fn strict_downstream(&self, name: &str) -> impl Iterator<Item = &str> {
        self.strict_downstream
            .get(name)
            .into_iter()
            .flatten()
            .map(String::as_str)
    }
}

fn cycle_error(
    path: &[(String, Option<Origin>)],
    back_to: &str,
    origin: Option<Origin>,
) -> Diagnostic {
    let mut names: Vec<&str> = path.iter().map(|(name, _)| name.as_str()).collect();
    names.push(back_to);
    // A long cycle is named by its ends: the closing dep is labelled below.
    const SHOWN: usize = 8;
    let cycle = if names.len() > SHOWN {
        let hidden = names.len() - SHOWN;
        format!(
            "{} -> ({hidden} more) -> {}",
            names[..SHOWN / 2].join(" -> "),
            names[names.len() - SHOWN / 2..].join(" -> ")
        )
    } else {
        names.join(" -> ")
    };
    let mut diagnostic = Diagnostic::error(Code::GraphCycle, format!("dependency cycle: {cycle}"))
        .with_hint("remove one of the command deps in the cycle");
    if let Some(origin) = origin {
        diagnostic = diagnostic.with_label(&origin.file, origin.span, "closes the cycle");
    }
    diagnostic
}

/// The space selected by running qik from `dir` (relative to the project root).
pub fn working_space(project: &Project, dir: &str) -> Option<String> {
    if dir.is_empty() {
        return None;
    }
    project
        .space_at(dir)
        .map(|s| s.name.clone())
        .filter(|name| name != DEFAULT_SPACE || project.space(DEFAULT_SPACE).is_some())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ctx::Ctx;

    /// `up <- mid <- strict` (strict dep), `mid <- loose` (plain dep),
    /// `solo` alone.
    const CHAIN: &str = r#"
[commands.up]
exec = "true"
deps = ["up"]
[commands.mid]
exec = "true"
deps = ["mid", {type = "command", name = "up"}]
[commands.strict]
exec = "true"
deps = ["strict", {type = "command", name = "mid", strict = true}]
[commands.loose]
exec = "true"
deps = ["loose", {type = "command", name = "mid"}]
[commands.solo]
exec = "true"
deps = ["solo"]
"#;

    fn graph(selection: &Selection) -> Graph {
        let dir = tempfile::tempdir().unwrap();
        let config = crate::config::parse_str(dir.path(), CHAIN).unwrap();
        let ctx = Ctx::resolve(&config.ctx_vars, |_| None, Default::default()).unwrap();
        let project = Project::new(config, ctx).unwrap();
        Graph::select(&project, selection).unwrap()
    }

    fn names(graph: &Graph) -> Vec<&str> {
        graph.runnables().map(|r| r.name.as_str()).collect()
    }

    fn seeds(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn affected_runnables_bring_upstream_and_strict_downstream() {
        let all = Selection::default();
        let cases: &[(&[&str], &[&str])] = &[
            (&[], &[]),
            (&["solo"], &["solo"]),
            (&["up"], &["up"]),
            (&["mid"], &["mid", "strict", "up"]),
            // Upstream `mid` joins, and with it what is strict on it.
            (&["loose"], &["loose", "mid", "strict", "up"]),
            (&["strict"], &["mid", "strict", "up"]),
            (&["unknown"], &[]),
        ];
        for (changed, expected) in cases {
            let mut g = graph(&all);
            g.retain_affected(&seeds(changed));
            assert_eq!(names(&g), *expected, "{changed:?}");
        }
    }

    #[test]
    fn neighbours_come_from_the_selection_only() {
        // `strict` is not selected, so `mid` cannot bring it.
        let mut g = graph(&Selection {
            commands: vec!["mid".into()],
            ..Selection::default()
        });
        g.retain_affected(&seeds(&["mid"]));
        assert_eq!(names(&g), ["mid", "up"]);
        // Isolated: no edges to upstream runnables that were not selected...
        let mut g = graph(&Selection {
            commands: vec!["strict".into()],
            isolated: true,
            ..Selection::default()
        });
        g.retain_affected(&seeds(&["strict"]));
        assert_eq!(names(&g), ["strict"]);
        // ...but edges between selected ones stay, as in the reference.
        let mut g = graph(&Selection {
            commands: vec!["mid".into(), "strict".into()],
            isolated: true,
            ..Selection::default()
        });
        g.retain_affected(&seeds(&["strict"]));
        assert_eq!(names(&g), ["mid", "strict"]);
    }

    #[test]
    fn upstream_can_be_left_out() {
        let mut g = graph(&Selection::default());
        g.retain_affected_where(&seeds(&["loose", "mid"]), |_| false);
        assert_eq!(names(&g), ["loose", "mid", "strict"]);
        // The order between the kept runnables stays.
        assert_eq!(g.upstream("loose").collect::<Vec<_>>(), ["mid"]);
        let mut g = graph(&Selection::default());
        g.retain_affected_where(&seeds(&["loose"]), |name| name != "up");
        assert_eq!(names(&g), ["loose", "mid", "strict"]);
    }
}
