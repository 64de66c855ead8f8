//! The extension API: what plugins implement and what they are given.
//!
//! Extension points are registered in linkme slices ([`PLUGINS`],
//! [`DEP_TYPES`], [`CACHE_TYPES`], [`VENV_TYPES`], [`EXECUTOR_TYPES`]) as plain
//! records of names and functions. The traits they return ([`DepSpec`],
//! [`RemoteCache`], [`VenvSpec`], [`Executor`], [`NativeAction`],
//! [`ReplayCheck`]) receive contexts that hold a [`ProjectView`]: a narrow,
//! read-only view of the project that the model implements. Nothing here
//! depends on the configuration or the model, so plugins keep compiling when
//! those change.

pub(crate) mod cache;
pub(crate) mod deps;
pub(crate) mod depset;
pub(crate) mod executor;
pub(crate) mod factory;
pub(crate) mod registry;
/// What remote caches share: the fault policy, settings rendered on first
/// use, local entries read and placed. Its names are used as `remote::Guard`.
pub mod remote;
pub(crate) mod runnable;
pub(crate) mod view;

pub use cache::{CacheBackend, RemoteCache};
pub use deps::{DepCx, DepSpec, parse_typed};
pub use depset::{CommandDep, DepSet, LoadDep};
pub use executor::{Executor, Job, JobInputs, output_staging, sweep_output_staging};
pub use factory::{CommandFactory, FactoryCx, Instances};
pub use registry::{
    BUILTIN, CACHE_TYPES, CacheType, DEP_TYPES, DepType, EXECUTOR_TYPES, ExecutorType, PLUGINS,
    ParseExecutor, PluginDef, Registry, ReqsShorthand, SchemaFn, VENV_TYPES, VenvFromReqs,
    VenvType, schema_of,
};
pub use runnable::{
    ActionCx, Args, CacheRef, ChangeCheck, InstalledOf, NativeAction, ReplayCheck, Runnable,
    SPACE_ARG, native,
};
pub use view::{
    DEFAULT_SPACE, PluginConfig, ProjectView, SpaceVenv, VenvCx, VenvSpec, downcast_config,
};
