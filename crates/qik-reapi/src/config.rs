//! `[caches.<name>] type = "reapi"`: the keys, checked where they are
//! written, and rendered with `{ctx...}` on first use.
//!
//! Context variables are resolved after the config is parsed, so templated
//! values keep their spans and are rendered when the cache is first used;
//! literal values are checked at parse time, so their mistakes point at the
//! file like any config error. Header values are secrets: no message, `Debug`
//! output or error ever repeats them.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use qik_core::ctx::Ctx;
use qik_core::diagnostic::Diagnostic;
use qik_core::ext::remote::{Flag, SettingsFile, is_template, unset};
use qik_core::source::{Node, SourceFile};
use schemars::JsonSchema;
use serde::Deserialize;
use toml::Spanned;

pub(crate) const DEFAULT_TIMEOUT: f64 = 10.0;
pub(crate) const MAX_TIMEOUT: f64 = 600.0;
/// Segments REAPI gives a meaning inside resource names; an instance name
/// holding one would make ByteStream names ambiguous.
const RESERVED_SEGMENTS: [&str; 7] = [
    "blobs",
    "uploads",
    "actions",
    "actionResults",
    "operations",
    "capabilities",
    "compressed-blobs",
];

/// A remote cache on a server of the Remote Execution API v2 (Buildbarn,
/// BuildBuddy, NativeLink, BuildGrid, bazel-remote, ...), with the local
/// cache as hot storage. String values may hold `{ctx...}` placeholders.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct Raw {
    /// The server: `grpc://host:port`, or `grpcs://host[:port]` for TLS.
    #[schemars(with = "String")]
    pub(crate) endpoint: Spanned<String>,
    /// The server's instance name, e.g. `"main"` (default: `""`).
    #[serde(alias = "instance_name")]
    #[schemars(with = "Option<String>", extend("x-aliases" = ["instance_name"]))]
    pub(crate) instance_name: Option<Spanned<String>>,
    /// Request headers such as `authorization = "Bearer {ctx.reapi_token}"`.
    /// Values are never printed.
    #[schemars(with = "Option<BTreeMap<String, String>>")]
    pub(crate) headers: Option<BTreeMap<Spanned<String>, Spanned<String>>>,
    /// A PEM file of certificate authorities to trust for `grpcs://`,
    /// besides the system's (relative to this file's directory).
    #[serde(alias = "ca_file")]
    #[schemars(with = "Option<String>", extend("x-aliases" = ["ca_file"]))]
    pub(crate) ca_file: Option<Spanned<String>>,
    /// `false` makes the cache read-only (default `true`).
    #[schemars(with = "Option<Flag>")]
    pub(crate) upload: Option<Spanned<Flag>>,
    /// Seconds: to connect, to get an answer, and the base of a transfer's
    /// allowance (default 10, at most 600).
    #[schemars(with = "Option<f64>", range(max = 600.0), extend("exclusiveMinimum" = 0))]
    pub(crate) timeout: Option<Spanned<f64>>,
}

/// Where the server is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Endpoint {
    pub(crate) tls: bool,
    pub(crate) host: String,
    pub(crate) port: u16,
}

impl Endpoint {
    /// The URI tonic connects to.
    pub(crate) fn uri(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}:{}", self.host_for_uri(), self.port)
    }

    fn host_for_uri(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.tls { "grpcs" } else { "grpc" };
        write!(f, "{scheme}://{}:{}", self.host_for_uri(), self.port)
    }
}

/// One header as written: a checked name and its value (maybe a template).
struct Header {
    name: String,
    value: Spanned<String>,
}

/// A cache's config as written, kept for rendering on first use.
pub(crate) struct Conf {
    pub(crate) name: String,
    at: SettingsFile,
    endpoint: Spanned<String>,
    instance: Option<Spanned<String>>,
    headers: Vec<Header>,
    ca_file: Option<Spanned<String>>,
    upload: Option<Spanned<Flag>>,
    timeout: Duration,
}

impl fmt::Debug for Conf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Header values are secrets: names only.
        let headers: Vec<&str> = self.headers.iter().map(|h| h.name.as_str()).collect();
        f.debug_struct("Conf")
            .field("name", &self.name)
            .field("endpoint", self.endpoint.get_ref())
            .field("headers", &headers)
            .finish_non_exhaustive()
    }
}

/// Everything needed to talk to the server, rendered and checked.
pub(crate) struct Settings {
    pub(crate) endpoint: Endpoint,
    pub(crate) instance: String,
    /// Lowercase names and their (secret) values.
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) ca_file: Option<PathBuf>,
    pub(crate) upload: bool,
    pub(crate) timeout: Duration,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers: Vec<&str> = self.headers.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("Settings")
            .field("endpoint", &self.endpoint)
            .field("instance", &self.instance)
            .field("headers", &headers)
            .field("upload", &self.upload)
            .finish_non_exhaustive()
    }
}

impl Conf {
    pub(crate) fn parse(name: &str, node: Node<'_>) -> Result<Conf, Diagnostic> {
        let raw: Raw = node.deserialize_without("type")?;
        Conf::build(name, Arc::clone(node.file()), raw)
    }

    /// Checks the keys a cache and an executor share.
    pub(crate) fn build(name: &str, file: Arc<SourceFile>, raw: Raw) -> Result<Conf, Diagnostic> {
        let file = SettingsFile::new(file);
        let at = |span, err: String, hint: &str| file.error_at(span, err, hint);
        // Literal values are checked now, so mistakes point at the file.
        if !is_template(raw.endpoint.get_ref()) {
            parse_endpoint(raw.endpoint.get_ref())
                .map_err(|err| at(raw.endpoint.span(), err, ENDPOINT_HINT))?;
        }
        if let Some(instance) = raw.instance_name.as_ref() {
            if !is_template(instance.get_ref()) {
                check_instance(instance.get_ref()).map_err(|err| {
                    at(
                        instance.span(),
                        err,
                        "write the instance name your server's docs give, e.g. \"main\" (or leave it out for \"\")",
                    )
                })?;
            }
        }
        let mut headers = Vec::new();
        for (key, value) in raw.headers.into_iter().flatten() {
            let name = check_header_name(key.get_ref()).map_err(|err| {
                at(
                    key.span(),
                    err,
                    "write a header name such as `authorization` or `x-buildbuddy-api-key`",
                )
            })?;
            // A literal value is checked without ever being echoed.
            if !is_template(value.get_ref()) && !valid_header_value(value.get_ref()) {
                return Err(at(
                    key.span(),
                    format!("the value of header `{name}` is not valid in a gRPC header"),
                    "use printable ASCII only; take secrets from the environment: \"Bearer {ctx.reapi_token}\"",
                ));
            }
            headers.push(Header { name, value });
        }
        let timeout = file.seconds(
            "timeout",
            raw.timeout.as_ref(),
            DEFAULT_TIMEOUT,
            MAX_TIMEOUT,
        )?;
        Ok(Conf {
            name: name.to_string(),
            at: file,
            endpoint: raw.endpoint,
            instance: raw.instance_name,
            headers,
            ca_file: raw.ca_file,
            upload: raw.upload,
            timeout,
        })
    }

    /// Where `endpoint` is written, for diagnostics.
    pub(crate) fn endpoint_at(&self) -> (&Arc<SourceFile>, std::ops::Range<usize>) {
        (self.at.file(), self.endpoint.span())
    }

    /// Whether uploads are configured off without rendering anything.
    pub(crate) fn literal_read_only(&self) -> bool {
        Flag::literal_false(self.upload.as_ref())
    }

    /// Renders and checks every key.
    pub(crate) fn resolve(&self, ctx: &Ctx) -> Result<Settings, String> {
        let text = self.at.render(ctx, "endpoint", &self.endpoint)?;
        let endpoint = parse_endpoint(&text).map_err(|err| {
            self.at
                .located("endpoint", self.endpoint.span(), &err, None)
        })?;
        let instance = match &self.instance {
            None => String::new(),
            Some(value) => {
                let text = self.at.render(ctx, "instance-name", value)?;
                let text = if unset(&text) { String::new() } else { text };
                check_instance(&text)
                    .map_err(|err| self.at.located("instance-name", value.span(), &err, None))?;
                text
            }
        };
        let mut headers = Vec::new();
        for header in &self.headers {
            let key = format!("headers.{}", header.name);
            let value = self.at.render(ctx, &key, &header.value)?;
            // An unset variable sends no header (a public, read-only cache);
            // a server that needs it says so in the one warning.
            if unset(&value) {
                continue;
            }
            if !valid_header_value(&value) {
                return Err(self
                    .at
                    .located(
                        &key,
                        header.value.span(),
                        "the rendered value is not valid in a gRPC header (printable ASCII only)",
                        None,
                    )
                    .into());
            }
            headers.push((header.name.clone(), value));
        }
        let ca_file = self
            .at
            .optional(ctx, "ca-file", self.ca_file.as_ref())?
            .map(|text| self.at.path(&text));
        let upload = match self.upload.as_ref() {
            None => true,
            Some(flag) => self.at.flag(ctx, "upload", flag)?,
        };
        Ok(Settings {
            endpoint,
            instance,
            headers,
            ca_file,
            upload,
            timeout: self.timeout,
        })
    }
}

impl Settings {
    /// The header values, for taking out of any text a server sends back.
    pub(crate) fn secrets(&self) -> Vec<String> {
        self.headers
            .iter()
            .map(|(_, value)| value.clone())
            .collect()
    }
}

const ENDPOINT_HINT: &str =
    "write grpc://host:port, or grpcs://host:port for TLS, e.g. \"grpcs://remote.example.com:443\"";

/// `grpc://host:port` or `grpcs://host[:port]`; nothing else, so a URL
/// never carries credentials or paths into messages.
pub(crate) fn parse_endpoint(text: &str) -> Result<Endpoint, String> {
    let url = url::Url::parse(text).map_err(|_| format!("endpoint {text:?} is not a URL"))?;
    let tls = match url.scheme() {
        "grpc" => false,
        "grpcs" => true,
        "http" | "https" => {
            return Err(format!(
                "endpoint {text:?} is an HTTP URL; qik.reapi speaks gRPC (grpc:// or grpcs://)"
            ));
        }
        other => return Err(format!("endpoint scheme `{other}` is not grpc or grpcs")),
    };
    if !url.username().is_empty() || url.password().is_some() {
        return Err("the endpoint must not hold credentials; send them in `headers`".into());
    }
    if !matches!(url.path(), "" | "/") || url.query().is_some() || url.fragment().is_some() {
        return Err(
            "the endpoint is a host and port only; put the instance in `instance-name`".into(),
        );
    }
    let host = match url.host() {
        Some(url::Host::Domain(domain)) if !domain.is_empty() => domain.to_string(),
        Some(url::Host::Ipv4(ip)) => ip.to_string(),
        Some(url::Host::Ipv6(ip)) => ip.to_string(),
        _ => return Err(format!("endpoint {text:?} has no host")),
    };
    let port = match (url.port(), tls) {
        (Some(port), _) => port,
        (None, true) => 443,
        (None, false) => {
            return Err(format!("endpoint {text:?} has no port"));
        }
    };
    Ok(Endpoint { tls, host, port })
}

/// Slash-separated segments of safe characters, none of REAPI's own words.
fn check_instance(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Ok(());
    }
    let ok = name.split('/').all(|segment| {
        !segment.is_empty()
            && segment != "."
            && segment != ".."
            && segment
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            && !RESERVED_SEGMENTS.contains(&segment)
    });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not a valid instance name (slash-separated names of letters, digits, `-_.`, none of {})",
            RESERVED_SEGMENTS.join(", ")
        ))
    }
}

/// gRPC metadata names: lowercase ASCII; names gRPC or HTTP/2 own are refused.
fn check_header_name(name: &str) -> Result<String, String> {
    let lower = name.to_ascii_lowercase();
    let chars_ok = !lower.is_empty()
        && lower
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'));
    if !chars_ok {
        return Err(format!("{name:?} is not a valid header name"));
    }
    if lower.starts_with("grpc-")
        || lower.ends_with("-bin")
        || matches!(
            lower.as_str(),
            "content-type" | "te" | "user-agent" | "host"
        )
    {
        return Err(format!("header `{lower}` is set by gRPC itself"));
    }
    Ok(lower)
}

fn valid_header_value(value: &str) -> bool {
    value.bytes().all(|b| (0x20..0x7f).contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conf(text: &str) -> Result<Conf, Diagnostic> {
        let file = SourceFile::parse("qik.toml".into(), "qik.toml".into(), text.into()).unwrap();
        let node = file.root();
        let table = node.get("caches").unwrap().get("remote").unwrap();
        Conf::parse("remote", table)
    }

    fn table(extra: &str) -> String {
        format!("[caches.remote]\ntype = \"reapi\"\n{extra}\n")
    }

    fn ctx(vars: &[(&str, &str)]) -> Ctx {
        Ctx::of_strings(vars)
    }

    #[test]
    fn endpoints() {
        let ep = parse_endpoint("grpc://127.0.0.1:8980").unwrap();
        assert_eq!(ep.uri(), "http://127.0.0.1:8980");
        assert_eq!(ep.to_string(), "grpc://127.0.0.1:8980");
        let ep = parse_endpoint("grpcs://remote.buildbuddy.io").unwrap();
        assert!(ep.tls);
        assert_eq!(ep.port, 443);
        assert_eq!(ep.uri(), "https://remote.buildbuddy.io:443");
        assert_eq!(
            parse_endpoint("grpc://[::1]:9092").unwrap().uri(),
            "http://[::1]:9092"
        );
        for (bad, expect) in [
            ("http://cache:8080", "HTTP URL"),
            ("unix:///tmp/sock", "not grpc"),
            ("grpc://cache", "no port"),
            ("grpc://user:pw@cache:1", "credentials"),
            ("grpcs://cache:1/main", "instance-name"),
            ("cache:1", "not grpc"),
            ("not a url", "not a URL"),
        ] {
            let err = parse_endpoint(bad).unwrap_err();
            assert!(err.contains(expect), "{bad}: {err}");
        }
    }

    #[test]
    fn literal_mistakes_point_at_the_file() {
        for (text, expect) in [
            ("endpoint = \"http://x:1\"", "HTTP URL"),
            ("endpoint = \"grpc://x\"", "no port"),
            (
                "endpoint = \"grpc://x:1\"\ninstance-name = \"a//b\"",
                "instance name",
            ),
            (
                "endpoint = \"grpc://x:1\"\ninstance-name = \"a/blobs\"",
                "instance name",
            ),
            ("endpoint = \"grpc://x:1\"\ntimeout = 0", "timeout"),
            ("endpoint = \"grpc://x:1\"\ntimeout = 601", "timeout"),
            (
                "endpoint = \"grpc://x:1\"\nendpint = 1",
                "unknown key `endpint`",
            ),
            ("instance-name = \"x\"", "missing key `endpoint`"),
            (
                "endpoint = \"grpc://x:1\"\nheaders = {\"bad name\" = \"v\"}",
                "not a valid header name",
            ),
            (
                "endpoint = \"grpc://x:1\"\nheaders = {grpc-timeout = \"v\"}",
                "set by gRPC",
            ),
            (
                "endpoint = \"grpc://x:1\"\nheaders = {authorization = \"tok\\nen-SECRET\"}",
                "not valid in a gRPC header",
            ),
        ] {
            let err = conf(&table(text)).unwrap_err();
            assert!(err.message.contains(expect), "{text}: {}", err.message);
            assert!(err.location().is_some(), "{text}: no location");
            assert!(err.hint.is_some(), "{text}: no hint");
            assert!(!err.message.contains("SECRET"), "never echo a header value");
        }
    }

    #[test]
    fn renders_ctx_values() {
        let conf = conf(&table(
            "endpoint = \"{ctx.ep}\"\ninstance-name = \"{ctx.inst}\"\n\
             headers = {Authorization = \"Bearer {ctx.token}\", x-empty = \"{ctx.none}\"}\n\
             upload = \"{ctx.up}\"\nca-file = \"certs/ca.pem\"\ntimeout = 2.5",
        ))
        .unwrap();
        let settings = conf
            .resolve(&ctx(&[
                ("ep", "grpcs://cache.example.com:8443"),
                ("inst", "ci/main"),
                ("token", "s3cr3t"),
                ("none", ""),
                ("up", "false"),
            ]))
            .unwrap();
        assert_eq!(
            settings.endpoint.to_string(),
            "grpcs://cache.example.com:8443"
        );
        assert_eq!(settings.instance, "ci/main");
        assert_eq!(
            settings.headers,
            [("authorization".to_string(), "Bearer s3cr3t".to_string())]
        );
        assert!(!settings.upload);
        assert_eq!(settings.timeout, Duration::from_millis(2500));
        assert!(settings.ca_file.as_ref().unwrap().ends_with("certs/ca.pem"));
        let shown = format!("{settings:?} {conf:?}");
        assert!(!shown.contains("s3cr3t"), "{shown}");

        let err = conf
            .resolve(&ctx(&[
                ("ep", "http://x:1"),
                ("inst", ""),
                ("token", "t"),
                ("none", ""),
                ("up", "1"),
            ]))
            .unwrap_err();
        assert!(err.contains("`endpoint` (qik.toml:3:"), "{err}");
        let err = conf
            .resolve(&ctx(&[
                ("ep", "grpc://x:1"),
                ("inst", ""),
                ("token", "bad\u{7}s3cr3t"),
                ("none", ""),
                ("up", "1"),
            ]))
            .unwrap_err();
        assert!(err.contains("headers.authorization"), "{err}");
        assert!(!err.contains("s3cr3t"), "{err}");
    }

    #[test]
    fn literal_read_only() {
        let ro = conf(&table("endpoint = \"grpc://x:1\"\nupload = false")).unwrap();
        assert!(ro.literal_read_only());
        let rw = conf(&table("endpoint = \"grpc://x:1\"")).unwrap();
        assert!(!rw.literal_read_only());
        assert!(rw.resolve(&Ctx::default()).unwrap().upload);
    }
}
