//! `[executors.<name>] type = "reapi"`: the server keys it shares with the
//! cache (checked by the same code), and its own.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use qik_core::diagnostic::{Code, Diagnostic};
use qik_core::ext::remote::SettingsFile;
use qik_core::source::Node;
use schemars::JsonSchema;
use serde::Deserialize;
use toml::Spanned;

use crate::config::{Conf, Raw};

/// Remote actions in flight per executor unless `max-in-flight` says.
const DEFAULT_IN_FLIGHT: usize = 8;
const MAX_IN_FLIGHT: usize = 1024;
/// An action may run this long at most (an hour), so a silent server
/// cannot hold a run forever.
const DEFAULT_ACTION_TIMEOUT: f64 = 3600.0;
const MAX_ACTION_TIMEOUT: f64 = 24.0 * 3600.0;

/// Runs commands on a Remote Execution API v2 server (Buildbarn, BuildBuddy,
/// NativeLink, BuildGrid, buildbox-casd, ...): their inputs are uploaded,
/// the command runs there, and its log and artifacts come back. String values
/// of `endpoint`, `instance-name` and `headers` may hold `{ctx...}`
/// placeholders.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct ExecRaw {
    /// The server: `grpc://host:port`, or `grpcs://host[:port]` for TLS.
    #[schemars(with = "String")]
    endpoint: Spanned<String>,
    /// The server's instance name, e.g. `"main"` (default: `""`).
    #[serde(alias = "instance_name")]
    #[schemars(with = "Option<String>", extend("x-aliases" = ["instance_name"]))]
    instance_name: Option<Spanned<String>>,
    /// Request headers such as `authorization = "Bearer {ctx.reapi_token}"`.
    /// Values are never printed.
    #[schemars(with = "Option<BTreeMap<String, String>>")]
    headers: Option<BTreeMap<Spanned<String>, Spanned<String>>>,
    /// A PEM file of certificate authorities to trust for `grpcs://`,
    /// besides the system's (relative to this file's directory).
    #[serde(alias = "ca_file")]
    #[schemars(with = "Option<String>", extend("x-aliases" = ["ca_file"]))]
    ca_file: Option<Spanned<String>>,
    /// Platform properties the server matches workers on, e.g.
    /// `{OSFamily = "linux", container-image = "docker://python:3.12"}`.
    #[schemars(with = "Option<BTreeMap<String, String>>")]
    platform: Option<BTreeMap<Spanned<String>, Spanned<String>>>,
    /// Seconds: to connect, to get an answer, and the base of a transfer's
    /// allowance (default 10, at most 600).
    #[schemars(with = "Option<f64>", range(max = 600.0), extend("exclusiveMinimum" = 0))]
    timeout: Option<Spanned<f64>>,
    /// Seconds an action may run on the server (default 3600).
    #[serde(alias = "action_timeout")]
    #[schemars(
        with = "Option<f64>",
        range(max = 86400.0),
        extend("exclusiveMinimum" = 0, "x-aliases" = ["action_timeout"])
    )]
    action_timeout: Option<Spanned<f64>>,
    /// How many actions this executor keeps in flight at once (default 8).
    /// `-n` bounds it too: each action holds one of qik's workers.
    #[serde(alias = "max_in_flight")]
    #[schemars(
        with = "Option<u32>",
        range(min = 1, max = 1024),
        extend("x-aliases" = ["max_in_flight"])
    )]
    max_in_flight: Option<Spanned<i64>>,
    /// Run the command on this machine, with one warning, when the server
    /// cannot be reached (default `false`: the runnable fails).
    #[serde(alias = "local_fallback")]
    #[schemars(with = "Option<bool>", extend("x-aliases" = ["local_fallback"]))]
    local_fallback: Option<bool>,
}

/// An executor's config, checked.
pub(crate) struct ExecConf {
    pub(crate) server: Conf,
    /// Sorted by name, as REAPI asks.
    pub(crate) platform: Vec<(String, String)>,
    pub(crate) action_timeout: Duration,
    pub(crate) max_in_flight: usize,
    pub(crate) local_fallback: bool,
}

impl ExecConf {
    pub(crate) fn parse(name: &str, node: Node<'_>) -> Result<ExecConf, Diagnostic> {
        let raw: ExecRaw = node.deserialize_without("type")?;
        let file = Arc::clone(node.file());
        let action_timeout = SettingsFile::new(Arc::clone(&file)).seconds(
            "action-timeout",
            raw.action_timeout.as_ref(),
            DEFAULT_ACTION_TIMEOUT,
            MAX_ACTION_TIMEOUT,
        )?;
        let max_in_flight = match &raw.max_in_flight {
            None => DEFAULT_IN_FLIGHT,
            Some(n) => match usize::try_from(*n.get_ref()) {
                Ok(n @ 1..=MAX_IN_FLIGHT) => n,
                _ => {
                    return Err(Diagnostic::error(
                        Code::ConfigParse,
                        format!("max-in-flight must be between 1 and {MAX_IN_FLIGHT}"),
                    )
                    .with_label(&file, n.span(), "here")
                    .with_hint(format!(
                        "the default is {DEFAULT_IN_FLIGHT}; `-n` bounds it too"
                    )));
                }
            },
        };
        let mut platform = Vec::new();
        for (key, value) in raw.platform.into_iter().flatten() {
            if key.get_ref().is_empty() {
                return Err(Diagnostic::error(
                    Code::ConfigParse,
                    "a platform property needs a name",
                )
                .with_label(&file, key.span(), "here")
                .with_hint(
                    "write properties your server's workers declare, e.g. OSFamily = \"linux\"",
                ));
            }
            platform.push((key.into_inner(), value.into_inner()));
        }
        platform.sort();
        let server = Conf::build(
            name,
            file,
            Raw {
                endpoint: raw.endpoint,
                instance_name: raw.instance_name,
                headers: raw.headers,
                ca_file: raw.ca_file,
                upload: None,
                timeout: raw.timeout,
            },
        )?;
        Ok(ExecConf {
            server,
            platform,
            action_timeout,
            max_in_flight,
            local_fallback: raw.local_fallback.unwrap_or(false),
        })
    }
}
