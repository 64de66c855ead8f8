//! Context variables: `ctx = [...]` in qik.toml, read from the environment.
//!
//! Values are resolved once per invocation. A value that is set but does not
//! cast to its type is an error at once (it is a mistake whatever uses it); a
//! missing required value only when a placeholder uses the variable, since a
//! variable may be needed by some commands only.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::Arc;

use schemars::JsonSchema;
use serde::Deserialize;
use toml::Spanned;

use crate::diagnostic::{Code, Diagnostic, choices_hint};
use crate::source::{Node, SourceFile};

/// The runtime settings of the `qik` namespace (`{ctx.qik.<name>}`, `QIK__<NAME>`,
/// `[ctx.<profile>.qik]`).
pub const QIK_CTX_KEYS: &[&str] = &[
    "arch",
    "cache_status",
    "caches",
    "commands",
    "fail",
    "force",
    "isolated",
    "logger",
    "ls",
    "modules",
    "since",
    "spaces",
    "tags",
    "verbosity",
    "watch",
    "workers",
];

/// The type a variable's value is cast to.
#[derive(Clone, Copy, Debug, Default, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum VarType {
    #[default]
    Str,
    Int,
    Bool,
}

/// A declared context variable.
#[derive(Clone, Debug)]
pub struct CtxVar {
    pub name: String,
    pub ty: VarType,
    pub default: Option<toml::Value>,
    pub required: bool,
    /// Where the variable is declared, for messages about its value.
    pub origin: Option<(Arc<SourceFile>, Range<usize>)>,
}

/// A context variable, read from the environment variable of its name in
/// upper case (`MY_VAR` for `my_var`).
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct RawVar {
    /// Used as `{ctx.<name>}`.
    name: String,
    /// What the value is cast to (default `str`).
    #[serde(rename = "type", default)]
    ty: VarType,
    /// The value when the environment does not set one; of the variable's type.
    #[schemars(with = "Option<VarValue>")]
    default: Option<Spanned<toml::Value>>,
    /// A required variable without a value is an error where a placeholder
    /// uses it (default true).
    #[serde(default = "yes")]
    required: bool,
}

/// The value of a context variable as written in qik.toml.
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)] // Describes a shape for the JSON Schema; parsed as a `toml::Value`.
enum VarValue {
    Str(String),
    Int(i64),
    Bool(bool),
}

fn yes() -> bool {
    true
}

impl CtxVar {
    /// Parses one entry of `ctx = [...]`: a name, or a table.
    pub fn parse(node: Node<'_>) -> Result<CtxVar, Diagnostic> {
        let origin = Some((Arc::clone(node.file()), node.span()));
        if let Some(name) = node.as_str() {
            return Ok(CtxVar {
                name: name.to_string(),
                ty: VarType::Str,
                default: None,
                required: true,
                origin,
            });
        }
        if !node.is_table() {
            return Err(node.type_error("a variable name or a table like {name = \"my_var\"}"));
        }
        let raw: RawVar = node.deserialize()?;
        if let Some(default) = &raw.default {
            let ok = matches!(
                (raw.ty, default.get_ref()),
                (VarType::Str, toml::Value::String(_))
                    | (VarType::Int, toml::Value::Integer(_))
                    | (VarType::Bool, toml::Value::Boolean(_))
            );
            if !ok {
                return Err(Diagnostic::error(
                    Code::ConfigParse,
                    format!("the default of `{}` does not match its type", raw.name),
                )
                .with_label(node.file(), default.span(), "wrong type for this variable")
                .with_hint("set `type` to \"str\", \"int\" or \"bool\" to match the default"));
            }
        }
        Ok(CtxVar {
            name: raw.name,
            ty: raw.ty,
            default: raw.default.map(Spanned::into_inner),
            required: raw.required,
            origin,
        })
    }
}

#[derive(Clone, Debug)]
enum VarState {
    Value(String),
    Error(Code, String, String),
}

/// Resolved context, used to fill `{ctx...}` placeholders.
#[derive(Clone, Debug, Default)]
pub struct Ctx {
    project: BTreeMap<String, VarState>,
    qik: BTreeMap<String, String>,
}

/// Renders a value the way the reference implementation prints it.
fn render_value(value: &toml::Value) -> String {
    match value {
        toml::Value::String(s) => s.clone(),
        toml::Value::Boolean(true) => "True".into(),
        toml::Value::Boolean(false) => "False".into(),
        other => other.to_string(),
    }
}

impl Ctx {
    /// A context of string variables with these values, as if each were
    /// declared with `type = "str"` and set in the environment: what a
    /// plugin's tests render its `{ctx...}` settings with.
    pub fn of_strings(vars: &[(&str, &str)]) -> Ctx {
        let project = vars
            .iter()
            .map(|(name, value)| (name.to_string(), VarState::Value(value.to_string())))
            .collect();
        Ctx {
            project,
            qik: BTreeMap::new(),
        }
    }

    /// Resolves declared variables from the environment (`my_var` reads `MY_VAR`).
    ///
    /// A value that is set but does not cast is an error right away; a missing
    /// required value only when a placeholder uses it.
    pub fn resolve(
        vars: &[CtxVar],
        env: impl Fn(&str) -> Option<String>,
        qik: BTreeMap<String, String>,
    ) -> Result<Ctx, Diagnostic> {
        let project = vars
            .iter()
            .map(|var| {
                let key = var.name.to_uppercase();
                let state = match env(&key) {
                    Some(raw) => VarState::Value(cast(var.ty, &key, &raw).map_err(|err| {
                        match &var.origin {
                            Some((file, span)) => err.with_label(
                                file,
                                span.clone(),
                                format!("`{}` is declared here", var.name),
                            ),
                            None => err,
                        }
                    })?),
                    None => match &var.default {
                        Some(value) => VarState::Value(render_value(value)),
                        None if !var.required => VarState::Value("None".into()),
                        None => VarState::Error(
                            Code::CtxValueNotFound,
                            format!("no value supplied for ctx variable `{}`", var.name),
                            format!("set the environment variable `{key}`, or give the variable a `default`"),
                        ),
                    },
                };
                Ok((var.name.clone(), state))
            })
            .collect::<Result<_, Diagnostic>>()?;
        Ok(Ctx { project, qik })
    }

    /// Whether `path` (after `ctx.`) can name a value, without looking it up:
    /// a valid namespace, and a `qik` name that exists.
    pub(crate) fn check_path(path: &str) -> Result<(), (Code, String, String)> {
        match path.split_once('.') {
            Some(("qik", name)) if !QIK_CTX_KEYS.contains(&name) => Err((
                Code::UnconfiguredCtx,
                format!("ctx `qik.{name}` does not exist"),
                choices_hint(name, QIK_CTX_KEYS.iter().copied()),
            )),
            Some(("qik" | "project", _)) | None => Ok(()),
            Some((ns, _)) => Err((
                Code::InvalidCtxNamespace,
                format!("ctx namespace `{ns}` is invalid"),
                "use `{ctx.<var>}`, `{ctx.project.<var>}` or `{ctx.qik.<name>}`".into(),
            )),
        }
    }

    pub(crate) fn lookup(&self, path: &str) -> Result<String, (Code, String, String)> {
        let (namespace, name) = match path.split_once('.') {
            Some((ns @ ("qik" | "project"), name)) => (ns, name),
            Some((ns, _)) => {
                return Err((
                    Code::InvalidCtxNamespace,
                    format!("ctx namespace `{ns}` is invalid"),
                    "use `{ctx.<var>}`, `{ctx.project.<var>}` or `{ctx.qik.<name>}`".into(),
                ));
            }
            None => ("project", path),
        };
        if namespace == "qik" {
            if let Some(value) = self.qik.get(name) {
                return Ok(value.clone());
            }
            // The default worker count costs a look at cgroup limits: only
            // pay for it when a placeholder asks.
            if name == "workers" {
                return Ok(default_workers().to_string());
            }
            return Err((
                Code::UnconfiguredCtx,
                format!("ctx `qik.{name}` does not exist"),
                choices_hint(name, QIK_CTX_KEYS.iter().copied()),
            ));
        }
        match self.project.get(name) {
            Some(VarState::Value(value)) => Ok(value.clone()),
            Some(VarState::Error(code, message, hint)) => {
                Err((*code, message.clone(), hint.clone()))
            }
            None => Err((
                Code::UnconfiguredCtx,
                format!("ctx `{name}` is not configured"),
                format!(
                    "declare it at the top of qik.toml: ctx = [\"{name}\"] ({})",
                    choices_hint(name, self.project.keys().map(String::as_str))
                ),
            )),
        }
    }
}

fn cast(ty: VarType, key: &str, raw: &str) -> Result<String, Diagnostic> {
    match ty {
        VarType::Str => Ok(raw.to_string()),
        VarType::Int => raw
            .trim()
            .parse::<i64>()
            .map(|v| v.to_string())
            .map_err(|_| {
                Diagnostic::error(
                    Code::EnvCast,
                    format!("environment variable `{key}` = {raw:?} is not an integer"),
                )
                .with_hint("set it to a whole number, or unset it")
            }),
        VarType::Bool => match raw.trim().to_lowercase().as_str() {
            "yes" | "true" | "1" => Ok("True".into()),
            "no" | "false" | "0" => Ok("False".into()),
            _ => Err(Diagnostic::error(
                Code::EnvCast,
                format!("environment variable `{key}` = {raw:?} is not a boolean"),
            )
            .with_hint("use one of yes, true, 1, no, false, 0")),
        },
    }
}

/// Workers when `-n` is not given: the cores this process may use.
pub fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The machine architecture in the reference's spelling (`linux-64`, `osx-arm64`, ...).
pub fn arch() -> &'static str {
    match (std::env::consts::OS, std::env::consts::ARCH) {
        ("linux", "x86_64") => "linux-64",
        ("linux", "aarch64") => "linux-aarch64",
        ("linux", "powerpc64") => "linux-ppc64le",
        ("linux", "x86") => "linux-32",
        ("macos", "aarch64") => "osx-arm64",
        ("macos", _) => "osx-64",
        ("windows", "x86") => "win-32",
        ("windows", _) => "win-64",
        (os, arch) => {
            // Unknown platforms still get a stable, descriptive value.
            Box::leak(format!("{os}-{arch}").into_boxed_str())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn var(name: &str, ty: VarType, default: Option<toml::Value>, required: bool) -> CtxVar {
        CtxVar {
            name: name.into(),
            ty,
            default,
            required,
            origin: None,
        }
    }

    #[test]
    fn reads_environment_and_defaults() {
        let vars = [
            var("my_var", VarType::Str, None, true),
            var("n", VarType::Int, Some(toml::Value::Integer(100)), true),
            var("flag", VarType::Bool, None, false),
            var("missing", VarType::Str, None, true),
            var("bad", VarType::Int, None, true),
        ];
        let env = |key: &str| (key == "BAD").then(|| "x".to_string());
        let err = Ctx::resolve(&vars, env, BTreeMap::new()).unwrap_err();
        assert_eq!(err.code, Some(Code::EnvCast));
        let env = |key: &str| (key == "MY_VAR").then(|| "hello world".to_string());
        let ctx = Ctx::resolve(
            &vars[..4],
            env,
            BTreeMap::from([("arch".into(), "linux-64".into())]),
        )
        .unwrap();
        assert_eq!(ctx.lookup("my_var").unwrap(), "hello world");
        assert_eq!(ctx.lookup("project.n").unwrap(), "100");
        assert_eq!(ctx.lookup("flag").unwrap(), "None");
        assert_eq!(ctx.lookup("qik.arch").unwrap(), "linux-64");
        assert_eq!(ctx.lookup("missing").unwrap_err().0, Code::CtxValueNotFound);
        assert_eq!(ctx.lookup("nope").unwrap_err().0, Code::UnconfiguredCtx);
        assert_eq!(
            ctx.lookup("modules.x").unwrap_err().0,
            Code::InvalidCtxNamespace
        );
    }
}
