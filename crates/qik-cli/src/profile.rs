//! Context profiles: `[ctx.<profile>.qik]` fills in runtime settings that
//! neither a flag nor a `QIK__*` variable set, and `[ctx.<profile>.project]`
//! gives project variables their values (the environment still wins).

use qik_core::config::Profile;
use qik_core::ctx::{CtxVar, VarType};
use qik_core::diagnostic::{Code, Diagnostic};
use toml::{Spanned, Value};

use crate::args::{CacheStatus, Logger, QikArgs};

/// The arguments with the profile's defaults, and its `arch` if it sets one.
pub(crate) fn apply(
    args: &QikArgs,
    profile: &Profile,
) -> Result<(QikArgs, Option<String>), Diagnostic> {
    let mut args = args.clone();
    let mut arch = None;
    for (key, value) in &profile.qik {
        let bad = |expected: &str| {
            profile
                .origin
                .error(
                    Code::ConfigParse,
                    format!("`{key}` in profile `{}` must be {expected}", profile.name),
                    "in this profile",
                )
                .with_label(
                    &profile.origin.file,
                    value.span(),
                    format!("expected {expected}"),
                )
        };
        let flag = |current: &mut bool| -> Result<(), Diagnostic> {
            let on = value
                .get_ref()
                .as_bool()
                .ok_or_else(|| bad("true or false"))?;
            *current = *current || on;
            Ok(())
        };
        match key.as_str() {
            "isolated" => flag(&mut args.isolated)?,
            "force" => flag(&mut args.force)?,
            "ls" => flag(&mut args.ls)?,
            "fail" => flag(&mut args.fail)?,
            "watch" => flag(&mut args.watch)?,
            "workers" if args.workers.is_none() => {
                let n = value
                    .get_ref()
                    .as_integer()
                    .and_then(|n| u16::try_from(n).ok())
                    .filter(|n| *n > 0)
                    .ok_or_else(|| bad("a positive integer"))?;
                args.workers = Some(n);
            }
            "verbosity" if args.verbosity.is_none() && !args.quiet && args.verbose == 0 => {
                let n = value
                    .get_ref()
                    .as_integer()
                    .and_then(|n| u8::try_from(n).ok())
                    .filter(|n| *n <= crate::args::MAX_VERBOSITY)
                    .ok_or_else(|| bad("0, 1, 2 or 3"))?;
                args.verbosity = Some(n);
            }
            "since" if args.since.is_none() => {
                args.since = Some(string(value).ok_or_else(|| bad("a git reference"))?)
            }
            "arch" => arch = Some(string(value).ok_or_else(|| bad("a string"))?),
            "cache_status" if args.cache_status.is_none() => {
                args.cache_status = Some(match string(value).as_deref() {
                    Some("warm") => CacheStatus::Warm,
                    Some("cold") => CacheStatus::Cold,
                    _ => return Err(bad("\"warm\" or \"cold\"")),
                });
            }
            "logger" if args.logger.is_none() => {
                args.logger = Some(match string(value).as_deref() {
                    Some("progress") => Logger::Progress,
                    Some("stdout") => Logger::Stdout,
                    _ => return Err(bad("\"progress\" or \"stdout\"")),
                });
            }
            "caches" | "commands" | "modules" | "spaces" | "tags" => {
                let list = strings(value).ok_or_else(|| bad("a list of strings"))?;
                let target = match key.as_str() {
                    "caches" => &mut args.caches,
                    "commands" => &mut args.commands,
                    "modules" => &mut args.modules,
                    "spaces" => &mut args.spaces,
                    _ => &mut args.tags,
                };
                if target.is_empty() {
                    *target = list;
                }
            }
            // Set on the command line or through QIK__*: that wins.
            _ => {}
        }
    }
    Ok((args, arch))
}

fn string(value: &Spanned<Value>) -> Option<String> {
    value.get_ref().as_str().map(str::to_string)
}

fn strings(value: &Spanned<Value>) -> Option<Vec<String>> {
    match value.get_ref() {
        Value::String(one) => Some(vec![one.clone()]),
        Value::Array(items) => items
            .iter()
            .map(|i| i.as_str().map(str::to_string))
            .collect(),
        _ => None,
    }
}

/// The declared variables with the profile's values as their defaults; a
/// value for an undeclared name declares it, typed by its TOML value.
pub(crate) fn project_vars(declared: &[CtxVar], profile: Option<&Profile>) -> Vec<CtxVar> {
    let mut vars = declared.to_vec();
    let Some(profile) = profile else {
        return vars;
    };
    for (name, value) in &profile.project {
        let origin = Some((profile.origin.file.clone(), value.span()));
        match vars.iter_mut().find(|v| v.name == *name) {
            Some(var) => {
                var.default = Some(value.get_ref().clone());
            }
            None => vars.push(CtxVar {
                name: name.clone(),
                ty: match value.get_ref() {
                    Value::Integer(_) => VarType::Int,
                    Value::Boolean(_) => VarType::Bool,
                    _ => VarType::Str,
                },
                default: Some(value.get_ref().clone()),
                required: true,
                origin,
            }),
        }
    }
    vars
}
