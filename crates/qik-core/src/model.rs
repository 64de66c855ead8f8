//! The project model: spaces, modules, commands and their runnables.
//!
//! A command becomes one runnable, or one per module when its `exec` mentions
//! `{module...}`. Runnable names follow the reference exactly:
//! `<cmd>[@<space> when the project has more than one space][#<module>][?k=v&...]`.

use std::collections::{BTreeMap, BTreeSet};

// Lookups only, never iterated: the order of a hash map reaches no output.
use rustc_hash::FxHashMap as HashMap;
use std::sync::{Arc, Mutex};

use crate::config::{
    CommandConf, Config, FenceConf, FenceEntry, ModuleConf, Origin, SpaceConf, VenvConf,
};
use crate::ctx::Ctx;
use crate::diagnostic::{Code, Diagnostic, choices_hint};
pub use crate::ext::Runnable;
use crate::ext::{
    Args, CacheRef, CommandDep, CommandFactory, DepCx, DepSet, FactoryCx, Instances, PluginConfig,
    ProjectView, SPACE_ARG, SpaceVenv, VenvCx,
};
pub use crate::module::Module;
use crate::template::{self, Scope};

/// A registered factory under the name its plugin has in this project.
#[derive(Clone)]
pub struct FactoryCommand {
    pub name: String,
    /// The `[plugins]` key of the plugin.
    pub plugin: String,
    pub def: &'static CommandFactory,
}

impl std::fmt::Debug for FactoryCommand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FactoryCommand")
            .field("name", &self.name)
            .finish()
    }
}

pub use crate::ext::DEFAULT_SPACE;

/// The inputs a space gives each of its commands.
#[derive(Clone, Debug, Default)]
pub struct SpaceInputs {
    /// Its dotenv files (or `[defaults] dotenv`).
    pub dotenv: Vec<String>,
    /// The files its venv is made from.
    pub venv: Vec<String>,
    /// Runnables its venv needs first (locking, installing).
    pub venv_commands: Vec<CommandDep>,
}

/// A resolved edge to an upstream runnable.
#[derive(Clone, Debug)]
pub struct Upstream {
    pub runnable: Arc<Runnable>,
    pub strict: bool,
    pub isolated: Option<bool>,
    pub origin: Option<Origin>,
}

/// Positions of a command's runnables by module (`None`: no module).
type ModuleIndex = HashMap<Option<String>, Vec<usize>>;

/// Parsed configuration plus everything derived from it.
pub struct Project {
    pub config: Config,
    pub ctx: Ctx,
    /// By (space, name).
    modules: BTreeMap<(String, String), Module>,
    /// Commands that enabled plugins build in code, by full name.
    factories: BTreeMap<String, FactoryCommand>,
    /// Runnables by command, built on first use.
    runnables: Mutex<HashMap<String, Arc<Vec<Arc<Runnable>>>>>,
    /// Instances of parametrized plugin commands, by command and arguments.
    instances: Mutex<HashMap<(String, Args), Arc<Runnable>>>,
    /// Positions of each command's runnables by module.
    module_indexes: Mutex<HashMap<String, Arc<ModuleIndex>>>,
}

impl std::fmt::Debug for Project {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Project")
            .field("root", &self.config.root)
            .finish()
    }
}

impl Project {
    /// Checks the cross references of a configuration and derives modules.
    pub fn new(config: Config, ctx: Ctx) -> Result<Project, Diagnostic> {
        let mut modules = BTreeMap::new();
        let mut owners: BTreeMap<&str, &str> = BTreeMap::new();
        for space in config.spaces.values() {
            for module in &space.modules {
                // Two spaces may use one alias (runnable names carry the space),
                // but a directory belongs to one space.
                if let Some(owner) = owners.insert(&module.path, &space.name) {
                    return Err(module
                        .origin
                        .error(
                            Code::ConfigParse,
                            format!(
                                "module directory `{}` is in spaces `{owner}` and `{}`",
                                module.path, space.name
                            ),
                            "second time",
                        )
                        .with_hint("a module belongs to one space; remove it from one of them"));
                }
                modules.insert(
                    (space.name.clone(), module.name.clone()),
                    Module {
                        name: module.name.clone(),
                        path: module.path.clone(),
                        pyimport: module_pyimport(module, &config.defaults.python_path)?,
                        space: space.name.clone(),
                    },
                );
            }
        }
        let mut factories = BTreeMap::new();
        for plugin in config.plugins.values() {
            for def in plugin.def.factories {
                let name = format!("{}.{}", plugin.name, def.name);
                // A plugin shipping a qik.toml command and a factory of one name
                // is a bug of that plugin.
                if config.commands.contains_key(&name) {
                    return Err(Diagnostic::error(
                        Code::General,
                        format!(
                            "plugin `{}` defines command `{name}` twice: in its commands and in code",
                            plugin.def.id
                        ),
                    )
                    .with_hint("this is a bug in the plugin; remove one of the two definitions"));
                }
                factories.insert(
                    name.clone(),
                    FactoryCommand {
                        name,
                        plugin: plugin.name.clone(),
                        def,
                    },
                );
            }
        }
        let project = Project {
            config,
            ctx,
            modules,
            factories,
            runnables: Mutex::new(HashMap::default()),
            instances: Mutex::new(HashMap::default()),
            module_indexes: Mutex::new(HashMap::default()),
        };
        project.check_roots()?;
        for space in project.config.spaces.values() {
            project.venv_of(&space.name)?;
            project.fence_of(&space.name)?;
        }
        // A default with placeholders is checked once rendered, per runnable.
        if let Some(cache) = project
            .config
            .defaults
            .cache
            .as_ref()
            .filter(|cache| !cache.get_ref().contains('{'))
        {
            project.check_cache(
                cache.get_ref(),
                &Origin {
                    file: project.config.file.clone(),
                    span: cache.span(),
                },
            )?;
        }
        Ok(project)
    }

    pub fn modules(&self) -> impl Iterator<Item = &Module> {
        self.modules.values()
    }

    /// Names of the configured spaces, with `default` always there.
    pub fn space_names(&self) -> BTreeSet<&str> {
        self.config
            .spaces
            .keys()
            .map(String::as_str)
            .chain([DEFAULT_SPACE])
            .collect()
    }

    pub fn space(&self, name: &str) -> Option<&SpaceConf> {
        self.config.spaces.get(name)
    }

    /// The space whose `root` contains `dir` (relative to the project root).
    pub fn space_at(&self, dir: &str) -> Option<&SpaceConf> {
        let dir = format!("{}/", dir.trim_end_matches('/'));
        self.config.spaces.values().find(|space| {
            space
                .root
                .as_ref()
                .is_some_and(|root| !root.is_empty() && dir.starts_with(&format!("{root}/")))
        })
    }

    fn check_roots(&self) -> Result<(), Diagnostic> {
        let with_roots: Vec<_> = self
            .config
            .spaces
            .values()
            .filter_map(|s| s.root.as_ref().map(|r| (s, r)))
            .collect();
        for (a, root_a) in &with_roots {
            for (b, root_b) in &with_roots {
                if a.name != b.name
                    && (root_a.is_empty()
                        || format!("{root_b}/").starts_with(&format!("{root_a}/")))
                {
                    // `root = "."` is stored as the empty path.
                    let shown = |root: &str| {
                        if root.is_empty() {
                            ".".to_string()
                        } else {
                            root.to_string()
                        }
                    };
                    return Err(b
                        .origin
                        .error(
                            Code::ConfigParse,
                            format!(
                                "the root of space `{}` ({}) is inside the root of space `{}` ({})",
                                b.name,
                                shown(root_b),
                                a.name,
                                shown(root_a)
                            ),
                            "nested root",
                        )
                        .with_label(&a.origin.file, a.origin.span.clone(), "the enclosing space")
                        .with_hint("space roots split the project into separate directories; they may not nest"));
                }
            }
        }
        Ok(())
    }

    /// The venv a space uses (following `{type = "space"}` inheritance) and the
    /// space that defines it. `None` means the active environment.
    pub fn venv_of<'a>(
        &'a self,
        space: &str,
    ) -> Result<Option<(&'a VenvConf, &'a str)>, Diagnostic> {
        let mut chain: Vec<&str> = Vec::new();
        // Borrowed from the config, so the answer outlives the argument.
        let mut current: &'a str = match self.config.spaces.get_key_value(space) {
            Some((key, _)) => key,
            None if space == DEFAULT_SPACE => DEFAULT_SPACE,
            None => return Ok(None),
        };
        loop {
            if chain.contains(&current) {
                chain.push(current);
                let origin = self
                    .space(space)
                    .and_then(|s| s.venv.as_ref())
                    .map(|v| v.origin.clone());
                let message = format!("circular venv: {}", chain.join(" -> "));
                let diagnostic = match origin {
                    Some(origin) => {
                        origin.error(Code::CircularVenv, message, "inherits in a circle")
                    }
                    None => Diagnostic::error(Code::CircularVenv, message),
                };
                return Err(
                    diagnostic.with_hint("one space in the circle must define its own venv")
                );
            }
            chain.push(current);
            let venv = self.space(current).and_then(|s| s.venv.as_ref()).or(self
                .config
                .defaults
                .venv
                .as_ref());
            let Some(venv) = venv else {
                return Ok(None);
            };
            let Some(target) = venv.spec.inherits() else {
                return Ok(Some((venv, current)));
            };
            if self.space(target.get_ref()).is_none() {
                return Err(Diagnostic::error(
                    Code::SpaceNotFound,
                    format!("venv inherits from unknown space `{}`", target.get_ref()),
                )
                .with_label(&venv.origin.file, target.span(), "unknown space")
                .with_hint(choices_hint(
                    target.get_ref(),
                    self.config.spaces.keys().map(String::as_str),
                )));
            }
            current = self
                .config
                .spaces
                .get_key_value(target.get_ref())
                .map(|(k, _)| k.as_str())
                .expect("checked above");
        }
    }

    /// The directories a space's fence encloses, sorted; empty when it has none.
    pub fn fence_of(&self, space: &str) -> Result<Vec<String>, Diagnostic> {
        let mut paths = BTreeSet::new();
        self.collect_fence(space, &mut Vec::new(), &mut paths)?;
        Ok(paths.into_iter().collect())
    }

    fn collect_fence<'a>(
        &'a self,
        space: &'a str,
        stack: &mut Vec<&'a str>,
        out: &mut BTreeSet<String>,
    ) -> Result<(), Diagnostic> {
        let Some(conf) = self.space(space) else {
            return Ok(());
        };
        let FenceConf::On(entries) = &conf.fence else {
            return Ok(());
        };
        stack.push(space);
        out.extend(conf.modules.iter().map(|m| m.path.clone()));
        for entry in entries {
            match entry {
                FenceEntry::Path(path) => {
                    out.insert(path.clone());
                }
                FenceEntry::Space(name) => {
                    let target = name.get_ref().as_str();
                    if stack.contains(&target) {
                        let mut cycle: Vec<&str> = stack.clone();
                        cycle.push(target);
                        return Err(Diagnostic::error(
                            Code::CircularFence,
                            format!("circular fence: {}", cycle.join(" -> ")),
                        )
                        .with_label(
                            &conf.origin.file,
                            name.span(),
                            "includes a space that includes this one",
                        )
                        .with_hint("remove one of the {type = \"space\"} entries in the circle"));
                    }
                    let Some((target, _)) = self.config.spaces.get_key_value(target) else {
                        return Err(Diagnostic::error(
                            Code::SpaceNotFound,
                            format!("fence names unknown space `{target}`"),
                        )
                        .with_label(&conf.origin.file, name.span(), "unknown space")
                        .with_hint(choices_hint(
                            target,
                            self.config.spaces.keys().map(String::as_str),
                        )));
                    };
                    self.collect_fence(target, stack, out)?;
                }
            }
        }
        stack.pop();
        Ok(())
    }

    /// The canonical name of a command reference (`mod/cmd`, `mod.cmd`, `plugin.cmd`).
    pub fn command_name<'a>(&'a self, reference: &str) -> Option<&'a str> {
        let known = |name: &str| {
            self.config
                .commands
                .get_key_value(name)
                .map(|(key, _)| key.as_str())
                .or_else(|| self.factories.get_key_value(name).map(|(k, _)| k.as_str()))
        };
        if let Some(key) = known(reference) {
            return Some(key);
        }
        // The reference accepts either separator between namespace and name.
        let (namespace, name) = reference
            .rsplit_once('/')
            .or_else(|| reference.rsplit_once('.'))?;
        [format!("{namespace}/{name}"), format!("{namespace}.{name}")]
            .iter()
            .find_map(|candidate| known(candidate))
    }

    /// Every command name with whether it is hidden, sorted.
    fn all_commands(&self) -> impl Iterator<Item = (&str, bool)> {
        let mut all: Vec<(&str, bool)> = self
            .config
            .commands
            .values()
            .map(|c| (c.name.as_str(), c.hidden))
            .chain(
                self.factories
                    .values()
                    .map(|f| (f.name.as_str(), f.def.hidden)),
            )
            .collect();
        all.sort();
        all.into_iter()
    }

    /// Error for an unknown command reference.
    pub fn unknown_command(&self, reference: &str) -> Diagnostic {
        Diagnostic::error(
            Code::CommandNotFound,
            format!("command `{reference}` is not configured"),
        )
        .with_hint(choices_hint(reference, self.visible_commands()))
    }

    /// Names of the commands `qik` runs when none are named.
    pub fn visible_commands(&self) -> impl Iterator<Item = &str> {
        self.all_commands()
            .filter(|(_, hidden)| !hidden)
            .map(|(name, _)| name)
    }

    /// The parsed `[plugins.<name>]` section of an enabled plugin, as the
    /// type its parser returned.
    pub fn plugin_config<T: 'static>(&self, id: &str) -> Option<&T> {
        self.config
            .plugins
            .values()
            .find(|p| p.def.id == id)
            .and_then(|p| p.config.downcast_ref::<T>())
    }

    /// The configured name of an enabled plugin (`uv` for `uv = "qik.uv"`).
    pub fn plugin_name(&self, id: &str) -> Option<&str> {
        self.config
            .plugins
            .values()
            .find(|p| p.def.id == id)
            .map(|p| p.name.as_str())
    }

    fn check_cache(&self, name: &str, origin: &Origin) -> Result<(), Diagnostic> {
        if name == CacheRef::NONE || self.config.caches.contains_key(name) {
            return Ok(());
        }
        Err(origin
            .error(
                Code::UnconfiguredCache,
                format!("cache \"{name}\" is not configured"),
                "unknown cache",
            )
            .with_hint(format!(
                "{}; or configure it under [caches.{name}]",
                choices_hint(name, self.cache_names())
            )))
    }

    /// The executor of a command's runnables in `space`: the command's
    /// `executor`, else the space's, else the built-in `local` (`None`).
    fn executor_of(
        &self,
        conf: &CommandConf,
        space: &str,
    ) -> Result<Option<Arc<dyn crate::ext::Executor>>, Diagnostic> {
        let (chosen, file) = match (&conf.executor, self.space(space)) {
            (Some(name), _) => (name, conf.file()),
            (None, Some(space_conf)) => match &space_conf.executor {
                Some(name) => (name, &space_conf.origin.file),
                None => return Ok(None),
            },
            (None, None) => return Ok(None),
        };
        let name = chosen.get_ref();
        if name == crate::builtin::executor::LOCAL {
            return Ok(None);
        }
        match self.config.executors.get(name) {
            Some(named) => Ok(Some(Arc::clone(&named.executor))),
            None => Err(Diagnostic::error(
                Code::UnconfiguredExecutor,
                format!("executor \"{name}\" is not configured"),
            )
            .with_label(file, chosen.span(), "unknown executor")
            .with_hint(format!(
                "{}; or configure it under [executors.{name}]",
                choices_hint(name, self.config.executors.keys().map(String::as_str))
            ))),
        }
    }

    /// How a runnable's cache stores entries. Runnables only name caches the
    /// project configures (checked when they enter the model).
    pub fn cache_backend(&self, cache: &CacheRef) -> crate::ext::CacheBackend {
        match cache {
            CacheRef::Never => crate::ext::CacheBackend::Never,
            CacheRef::Named(name) => {
                let configured = self.config.caches.get(name);
                debug_assert!(configured.is_some(), "unchecked cache `{name}`");
                configured.map_or(crate::ext::CacheBackend::Never, |c| c.backend.clone())
            }
        }
    }

    /// Names a command's `cache` may take: the configured caches and `none`.
    pub fn cache_names(&self) -> impl Iterator<Item = &str> {
        self.config
            .caches
            .keys()
            .map(String::as_str)
            .chain([CacheRef::NONE])
    }

    fn num_spaces_named(&self) -> bool {
        // More than one of the configured spaces and `default`, without
        // collecting them (asked once per runnable built).
        self.config.spaces.keys().any(|name| name != DEFAULT_SPACE)
    }

    /// `<cmd>[@<space>][#<module>][?k=v&...]`, the reference's runnable names.
    pub fn runnable_name(
        &self,
        command: &str,
        space: &str,
        module: Option<&Module>,
        args: &Args,
    ) -> String {
        let mut name = command.to_string();
        if self.num_spaces_named() {
            name.push('@');
            name.push_str(space);
        }
        if let Some(module) = module {
            name.push('#');
            name.push_str(&module.name);
        }
        for (index, (key, value)) in args.iter().enumerate() {
            name.push(if index == 0 { '?' } else { '&' });
            name.push_str(key);
            name.push('=');
            name.push_str(value);
        }
        name
    }

    /// The runnables of a command (by canonical name), built once.
    pub fn runnables_of(&self, command: &str) -> Result<Arc<Vec<Arc<Runnable>>>, Diagnostic> {
        if let Some(built) = self.runnables.lock().expect("not poisoned").get(command) {
            return Ok(Arc::clone(built));
        }
        let built = match (
            self.config.commands.get(command),
            self.factories.get(command),
        ) {
            (Some(conf), _) => self.build_runnables(conf)?,
            (None, Some(factory)) => self.factory_runnables(factory)?,
            (None, None) => return Err(self.unknown_command(command)),
        };
        let built = Arc::new(built);
        self.runnables
            .lock()
            .expect("not poisoned")
            .insert(command.to_string(), Arc::clone(&built));
        Ok(built)
    }

    fn build_runnables(&self, conf: &CommandConf) -> Result<Vec<Arc<Runnable>>, Diagnostic> {
        let space = match &conf.space {
            Some(space) => {
                let name = space.get_ref().as_str();
                if name != DEFAULT_SPACE && self.space(name).is_none() {
                    return Err(Diagnostic::error(
                        Code::SpaceNotFound,
                        format!("space `{name}` is not configured"),
                    )
                    .with_label(conf.file(), space.span(), "unknown space")
                    .with_hint(choices_hint(name, self.space_names())));
                }
                Some(name)
            }
            None => None,
        };
        if !template::mentions_module(conf.exec.get_ref()) {
            return Ok(vec![Arc::new(self.build_runnable(
                conf,
                space.unwrap_or(DEFAULT_SPACE),
                None,
            )?)]);
        }
        let mut runnables = Vec::new();
        for space_conf in self.config.spaces.values() {
            if space.is_some_and(|s| s != space_conf.name) {
                continue;
            }
            for module in &space_conf.modules {
                let module = &self.modules[&(space_conf.name.clone(), module.name.clone())];
                runnables.push(Arc::new(self.build_runnable(
                    conf,
                    &space_conf.name,
                    Some(module),
                )?));
            }
        }
        Ok(runnables)
    }

    fn build_runnable(
        &self,
        conf: &CommandConf,
        space: &str,
        module: Option<&Module>,
    ) -> Result<Runnable, Diagnostic> {
        let scope = Scope {
            module,
            ctx: &self.ctx,
        };
        let file = conf.file();
        let cx = DepCx {
            project: self,
            scope,
            space,
            file,
        };
        let mut deps = DepSet::default();
        self.resolve_base_deps(scope, space, &mut deps)?;
        for dep in &conf.deps {
            dep.spec.resolve(
                &DepCx {
                    project: self,
                    scope,
                    space,
                    file: &dep.origin.file,
                },
                &mut deps,
            )?;
        }
        // A named cache must exist even where it goes unused.
        let named = match &conf.cache {
            Some(spanned) => {
                let name = template::render_at(spanned.get_ref(), scope, file, spanned.span())?;
                self.check_cache(
                    &name,
                    &Origin {
                        file: file.clone(),
                        span: spanned.span(),
                    },
                )?;
                Some(name)
            }
            None => None,
        };
        // A command without deps of its own is never cached, whatever the base deps.
        let executor = self.executor_of(conf, space)?;
        let cache = if conf.deps.is_empty() {
            CacheRef::Never
        } else if let Some(name) = named {
            CacheRef::from_name(name)
        } else {
            match &self.config.defaults.cache {
                Some(cache) => {
                    // The default is written in the root configuration file.
                    let origin = Origin {
                        file: self.config.file.clone(),
                        span: cache.span(),
                    };
                    let name =
                        template::render_at(cache.get_ref(), scope, &origin.file, cache.span())?;
                    self.check_cache(&name, &origin)?;
                    CacheRef::from_name(name)
                }
                None => CacheRef::Named("local".to_string()),
            }
        };
        self.add_space_inputs(space, &mut deps)?;
        let artifacts = conf
            .artifacts
            .iter()
            .map(|a| template::render_at(a.get_ref(), scope, file, a.span()))
            .collect::<Result<_, _>>()?;
        Ok(Runnable {
            name: self.runnable_name(&conf.name, space, module, &Args::new()),
            command: conf.name.clone(),
            space: space.to_string(),
            module: module.map(|m| m.name.clone()),
            exec: cx.render(&conf.exec)?,
            deps,
            artifacts,
            cache,
            cache_when: conf
                .cache_when
                .or(self.config.defaults.cache_when)
                .unwrap_or_default(),
            tags: conf.tags.clone(),
            hidden: conf.hidden,
            args: Args::new(),
            env: Vec::new(),
            in_space_env: true,
            native: None,
            executor,
            replay_check: None,
            change_check: None,
        })
    }

    fn factory_cx<'a>(&'a self, factory: &'a FactoryCommand) -> FactoryCx<'a> {
        let plugin = &self.config.plugins[&factory.plugin];
        FactoryCx {
            project: self,
            plugin_id: plugin.def.id,
            plugin_config: &plugin.config,
            command: &factory.name,
        }
    }

    /// The runnables of a plugin command named without arguments.
    fn factory_runnables(
        &self,
        factory: &FactoryCommand,
    ) -> Result<Vec<Arc<Runnable>>, Diagnostic> {
        match factory.def.instances {
            Instances::Standalone(build) => Ok(build(&self.factory_cx(factory))?
                .into_iter()
                .map(|r| self.finish_plugin_runnable(r, factory))
                .collect::<Result<Vec<_>, _>>()?
                .into_iter()
                .map(Arc::new)
                .collect()),
            // Every instance that the project's commands depend on.
            Instances::PerArgs(_) => {
                let mut found: BTreeMap<String, Arc<Runnable>> = BTreeMap::new();
                let mut seen: BTreeSet<String> = BTreeSet::new();
                let mut stack: Vec<Arc<Runnable>> = Vec::new();
                for command in self.visible_commands() {
                    if command != factory.name {
                        stack.extend(self.runnables_of(command)?.iter().cloned());
                    }
                }
                while let Some(runnable) = stack.pop() {
                    if !seen.insert(runnable.name.clone()) {
                        continue;
                    }
                    if runnable.command == factory.name {
                        found.insert(runnable.name.clone(), Arc::clone(&runnable));
                    }
                    for upstream in self.upstream_of(&runnable)? {
                        stack.push(upstream.runnable);
                    }
                }
                Ok(found.into_values().collect())
            }
        }
    }

    /// The instance of a parametrized plugin command for `args`, built once.
    pub fn instance(&self, command: &str, args: &Args) -> Result<Arc<Runnable>, Diagnostic> {
        let key = (command.to_string(), args.clone());
        if let Some(built) = self.instances.lock().expect("not poisoned").get(&key) {
            return Ok(Arc::clone(built));
        }
        let factory = self
            .factories
            .get(command)
            .ok_or_else(|| self.unknown_command(command))?;
        let Instances::PerArgs(build) = factory.def.instances else {
            return Err(Diagnostic::error(
                Code::CommandNotFound,
                format!("command `{command}` takes no arguments"),
            ));
        };
        if let Some(space) = args.get(SPACE_ARG) {
            if space != DEFAULT_SPACE && self.space(space).is_none() {
                return Err(Diagnostic::error(
                    Code::SpaceNotFound,
                    format!("space `{space}` is not configured"),
                )
                .with_hint(choices_hint(space, self.space_names())));
            }
        }
        let runnable = build(&self.factory_cx(factory), args)?;
        let built = Arc::new(self.finish_plugin_runnable(runnable, factory)?);
        self.instances
            .lock()
            .expect("not poisoned")
            .insert(key, Arc::clone(&built));
        Ok(built)
    }

    /// Checks what a plugin built and adds its space's inputs.
    fn finish_plugin_runnable(
        &self,
        mut runnable: Runnable,
        factory: &FactoryCommand,
    ) -> Result<Runnable, Diagnostic> {
        debug_assert_eq!(runnable.command, factory.name);
        runnable.hidden = factory.def.hidden;
        if let CacheRef::Named(name) = &runnable.cache {
            if !self.config.caches.contains_key(name) {
                return Err(Diagnostic::error(
                    Code::UnconfiguredCache,
                    format!("cache \"{name}\" of `{}` is not configured", runnable.name),
                )
                .with_hint(format!(
                    "{}; set the `cache` of [plugins.{}]",
                    choices_hint(name, self.cache_names()),
                    factory.plugin
                )));
            }
        }
        if runnable.in_space_env {
            let space = runnable.space.clone();
            self.add_space_inputs(&space, &mut runnable.deps)?;
        }
        if runnable.deps.is_empty() {
            runnable.cache = CacheRef::Never;
        }
        Ok(runnable)
    }

    /// The runnables that install the venvs of all spaces (`qikx --install`),
    /// for the venv types that have an install command.
    pub fn venv_installs(&self) -> Result<Vec<Arc<Runnable>>, Diagnostic> {
        let mut installs: BTreeMap<String, Arc<Runnable>> = BTreeMap::new();
        for space in self.space_names() {
            let Some((venv, owner)) = self.venv_of(space)? else {
                continue;
            };
            let cx = VenvCx {
                project: self,
                space: owner,
            };
            if let Some(dep) = venv.spec.install_command(&cx) {
                let command = self
                    .command_name(&dep.name)
                    .ok_or_else(|| self.command_dep_error(&dep))?;
                let runnable = self.instance(command, &dep.args)?;
                installs.insert(runnable.name.clone(), runnable);
            }
        }
        Ok(installs.into_values().collect())
    }

    /// Adds `[base] deps`, which every runnable has (plugin ones included).
    pub fn add_base_deps(&self, space: &str, deps: &mut DepSet) -> Result<(), Diagnostic> {
        let scope = Scope {
            module: None,
            ctx: &self.ctx,
        };
        self.resolve_base_deps(scope, space, deps)
    }

    fn resolve_base_deps(
        &self,
        scope: Scope<'_>,
        space: &str,
        deps: &mut DepSet,
    ) -> Result<(), Diagnostic> {
        for dep in &self.config.base_deps {
            dep.spec.resolve(
                &DepCx {
                    project: self,
                    scope,
                    space,
                    file: &dep.origin.file,
                },
                deps,
            )?;
        }
        Ok(())
    }

    /// A space's dotenv files and venv files are inputs of its commands, and
    /// its venv may require runnables (locking, installing) to run first.
    fn add_space_inputs(&self, space: &str, deps: &mut DepSet) -> Result<(), Diagnostic> {
        let inputs = self.space_inputs(space)?;
        deps.globs.extend(inputs.dotenv);
        deps.globs.extend(inputs.venv);
        deps.commands.extend(inputs.venv_commands);
        Ok(())
    }

    /// What a space adds to each of its commands' inputs.
    pub fn space_inputs(&self, space: &str) -> Result<SpaceInputs, Diagnostic> {
        let dotenv = self
            .space(space)
            .and_then(|s| s.dotenv.as_ref())
            .or(self.config.defaults.dotenv.as_ref())
            .cloned()
            .unwrap_or_default();
        let mut inputs = SpaceInputs {
            dotenv,
            venv: Vec::new(),
            venv_commands: Vec::new(),
        };
        if let Some((venv, owner)) = self.venv_of(space)? {
            let cx = VenvCx {
                project: self,
                space: owner,
            };
            inputs.venv = venv.spec.inputs(&cx)?;
            inputs.venv_commands = venv.spec.runnable_deps(&cx);
        }
        Ok(inputs)
    }

    /// The upstream runnables of a runnable through its command deps.
    ///
    /// A modular runnable only depends on the runnables of the same module
    /// (or on runnables that have no module).
    pub fn upstream_of(&self, runnable: &Runnable) -> Result<Vec<Upstream>, Diagnostic> {
        let mut upstream = Vec::new();
        for dep in &runnable.deps.commands {
            let command = self
                .command_name(&dep.name)
                .ok_or_else(|| self.command_dep_error(dep))?;
            let targets: Vec<Arc<Runnable>> = if dep.args.is_empty() {
                self.same_module_runnables(command, runnable.module.as_deref())?
            } else {
                vec![self.instance(command, &dep.args)?]
            };
            for target in targets {
                upstream.push(Upstream {
                    runnable: target,
                    strict: dep.strict,
                    isolated: dep.isolated,
                    origin: dep.origin.as_ref().map(|(file, span)| Origin {
                        file: file.clone(),
                        span: span.clone(),
                    }),
                });
            }
        }
        Ok(upstream)
    }

    /// The runnables of `command` that a runnable of `module` depends on:
    /// those of the same module and those without one (all of them for a
    /// runnable without a module), in the command's order. Indexed once per
    /// command, so walking a graph stays linear in its size.
    fn same_module_runnables(
        &self,
        command: &str,
        module: Option<&str>,
    ) -> Result<Vec<Arc<Runnable>>, Diagnostic> {
        let all = self.runnables_of(command)?;
        let Some(module) = module else {
            return Ok(all.to_vec());
        };
        let index = {
            let mut indexes = self.module_indexes.lock().expect("not poisoned");
            // Looked up before a key is allocated: built once per command.
            if let Some(index) = indexes.get(command) {
                Arc::clone(index)
            } else {
                let mut index = ModuleIndex::default();
                for (position, runnable) in all.iter().enumerate() {
                    index
                        .entry(runnable.module.clone())
                        .or_default()
                        .push(position);
                }
                let index = Arc::new(index);
                indexes.insert(command.to_string(), Arc::clone(&index));
                index
            }
        };
        let mut positions: Vec<usize> = index
            .get(&Some(module.to_string()))
            .into_iter()
            .chain(index.get(&None))
            .flatten()
            .copied()
            .collect();
        positions.sort_unstable();
        Ok(positions.into_iter().map(|i| Arc::clone(&all[i])).collect())
    }

    /// The artifact patterns of a runnable's upstream runnables: inputs of its
    /// hash. Taken from the definitions, not from a selection, so a runnable
    /// hashes the same whether or not its upstream is part of this run.
    pub fn upstream_artifacts(&self, runnable: &Runnable) -> Result<Vec<String>, Diagnostic> {
        let mut artifacts: Vec<String> = self
            .upstream_of(runnable)?
            .iter()
            .flat_map(|up| up.runnable.artifacts.iter().cloned())
            .collect();
        artifacts.sort();
        artifacts.dedup();
        Ok(artifacts)
    }

    fn command_dep_error(&self, dep: &CommandDep) -> Diagnostic {
        let mut diagnostic = self.unknown_command(&dep.name);
        if let Some((file, span)) = &dep.origin {
            diagnostic = diagnostic.with_label(file, span.clone(), "unknown command");
        }
        diagnostic
    }
}

/// The import path of a module directory, relative to the python path;
/// `None` when the module is not inside it. Paths are compared by whole
/// components: `backend_x/m` is not inside `backend`.
fn pyimport(path: &str, python_path: &str) -> Option<String> {
    let relative = if python_path == "." || python_path.is_empty() {
        path
    } else {
        path.strip_prefix(python_path)?.strip_prefix('/')?
    };
    Some(relative.replace('/', "."))
}

/// A configured module's import path; an error where it is outside the
/// python path (it has none).
fn module_pyimport(module: &ModuleConf, python_path: &str) -> Result<String, Diagnostic> {
    pyimport(&module.path, python_path).ok_or_else(|| {
        module
            .origin
            .error(
                Code::ConfigParse,
                format!(
                    "module `{}` is outside the python path `{python_path}`",
                    module.path
                ),
                "not under the python path",
            )
            .with_hint(format!(
                "`{{module.pyimport}}` is the module's path relative to `[defaults] python-path`; \
                 move the module under `{python_path}/` or change `python-path`"
            ))
    })
}

/// What plugins see of a project.
impl ProjectView for Project {
    fn root(&self) -> &std::path::Path {
        &self.config.root
    }

    fn ctx(&self) -> &Ctx {
        &self.ctx
    }

    fn space_names(&self) -> Vec<&str> {
        Project::space_names(self).into_iter().collect()
    }

    fn has_space(&self, name: &str) -> bool {
        name == DEFAULT_SPACE || self.space(name).is_some()
    }

    fn fence_of(&self, space: &str) -> Result<Option<Vec<String>>, Diagnostic> {
        match self.space(space).map(|s| &s.fence) {
            None | Some(FenceConf::Off) => Ok(None),
            Some(FenceConf::On(_)) => Project::fence_of(self, space).map(Some),
        }
    }

    fn venv_of(&self, space: &str) -> Result<Option<SpaceVenv<'_>>, Diagnostic> {
        Ok(
            Project::venv_of(self, space)?.map(|(venv, owner)| SpaceVenv {
                tag: venv.tag,
                spec: venv.spec.as_ref(),
                owner,
                written_at: Some((&venv.origin.file, &venv.origin.span)),
            }),
        )
    }

    fn plugin_name(&self, id: &str) -> Option<&str> {
        Project::plugin_name(self, id)
    }

    fn plugin_config(&self, id: &str) -> Option<&PluginConfig> {
        self.config
            .plugins
            .values()
            .find(|p| p.def.id == id)
            .map(|p| &p.config)
    }

    fn remote_caches(&self) -> Vec<(&str, &dyn crate::ext::RemoteCache)> {
        self.config
            .caches
            .iter()
            .filter_map(|(name, cache)| match &cache.backend {
                crate::ext::CacheBackend::Remote(remote) => Some((name.as_str(), remote.as_ref())),
                _ => None,
            })
            .collect()
    }

    fn runnable_name(
        &self,
        command: &str,
        space: &str,
        module: Option<&Module>,
        args: &Args,
    ) -> String {
        Project::runnable_name(self, command, space, module, args)
    }

    fn default_cache(&self) -> Result<Option<String>, Diagnostic> {
        self.config
            .defaults
            .cache
            .as_ref()
            .map(|cache| {
                template::render_at(
                    cache.get_ref(),
                    Scope {
                        module: None,
                        ctx: &self.ctx,
                    },
                    &self.config.file,
                    cache.span(),
                )
            })
            .transpose()
    }

    fn python_path(&self) -> &str {
        &self.config.defaults.python_path
    }

    fn pydist_modules(&self) -> &BTreeMap<String, String> {
        &self.config.pydist.modules
    }

    fn ignore_missing_modules(&self) -> bool {
        self.config.pydist.ignore_missing_modules
    }

    fn base_deps(&self, space: &str) -> Result<DepSet, Diagnostic> {
        let mut deps = DepSet::default();
        self.add_base_deps(space, &mut deps)?;
        Ok(deps)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pyimport_is_relative_to_python_path() {
        assert_eq!(pyimport("a/b/c", ".").as_deref(), Some("a.b.c"));
        assert_eq!(
            pyimport("backend/my/module", "backend").as_deref(),
            Some("my.module")
        );
    }

    #[test]
    fn pyimport_respects_directory_boundaries() {
        // A sibling directory sharing the python path's name as a prefix.
        assert_eq!(pyimport("backend_x/m", "backend"), None);
        assert_eq!(pyimport("backendx", "backend"), None);
        assert_eq!(pyimport("other/m", "backend"), None);
        // The python path itself is not a module inside it.
        assert_eq!(pyimport("backend", "backend"), None);
    }

    fn project(toml: &str) -> Result<Project, Diagnostic> {
        let dir = tempfile::tempdir().expect("a temp dir");
        let config = crate::config::parse_str(dir.path(), toml)?;
        let ctx = Ctx::resolve(&config.ctx_vars, |_| None, Default::default())?;
        Project::new(config, ctx)
    }

    fn executor_of(project: &Project, command: &str) -> Option<String> {
        let runnables = project.runnables_of(command).expect("runnables");
        runnables[0].executor.as_ref().map(|e| format!("{e:?}"))
    }

    #[test]
    fn commands_run_on_their_own_executor_else_their_spaces_else_locally() {
        let project = project(
            r#"
[executors.near]
type = "local"

[spaces.remote]
executor = "near"

[commands]
plain = "echo plain"
own = {exec = "echo own", executor = "near"}
spaced = {exec = "echo spaced", space = "remote"}
back-home = {exec = "echo home", space = "remote", executor = "local"}
"#,
        )
        .expect("a valid project");
        assert_eq!(executor_of(&project, "plain"), None);
        assert_eq!(executor_of(&project, "own").as_deref(), Some("Local"));
        assert_eq!(executor_of(&project, "spaced").as_deref(), Some("Local"));
        assert_eq!(executor_of(&project, "back-home"), None);
    }

    #[test]
    fn an_unknown_executor_is_an_error_at_the_name() {
        let project = project("[commands]\nx = {exec = \"true\", executor = \"farm\"}\n")
            .expect("config loads; the name is checked per runnable");
        let err = project.runnables_of("x").expect_err("unknown executor");
        let text = err.render(false);
        assert!(text.contains("[exec1]"), "{text}");
        assert!(
            text.contains("executor \"farm\" is not configured"),
            "{text}"
        );
        assert!(text.contains("qik.toml:2:"), "{text}");
        assert!(text.contains("[executors.farm]"), "{text}");
    }

    #[test]
    fn an_executor_of_an_unknown_type_is_an_error() {
        let err = project("[executors.farm]\ntype = \"nope\"\n").expect_err("unknown type");
        let text = err.render(false);
        assert!(text.contains("[exec0]"), "{text}");
        assert!(text.contains("qik.toml:2:"), "{text}");
        assert!(text.contains("local"), "{text}");
    }
}
