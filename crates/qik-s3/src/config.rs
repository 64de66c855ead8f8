//! `[caches.<name>] type = "s3"`: the keys, checked where they are written,
//! and rendered with `{ctx...}` on first use.
//!
//! Context variables are resolved after the config is parsed (profiles, the
//! environment), so templated values are kept with their spans and rendered
//! when the cache is first used; literal values are checked at parse time so
//! their mistakes point at the file like any config error.

use std::fmt;
use std::time::Duration;

use qik_core::ctx::Ctx;
use qik_core::diagnostic::Diagnostic;
use qik_core::ext::remote::{Flag, SettingsFile, is_template, unset};
use qik_core::source::Node;
use rusty_s3::Credentials;
use schemars::JsonSchema;
use serde::Deserialize;
use toml::Spanned;
use url::Url;

use crate::creds::{Auth, Aws, Trust};
use crate::keys;
use crate::seal::SigningKey;

const DEFAULT_TIMEOUT: f64 = 10.0;
const MAX_TIMEOUT: f64 = 600.0;
const DEFAULT_REGION: &str = "us-east-1";
/// HMAC keys shorter than this are guessable.
const MIN_SIGNING_KEY: usize = 16;

/// A remote cache in an S3 bucket (or any S3-compatible store), with the
/// local cache as hot storage. String values may hold `{ctx...}`
/// placeholders.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct Raw {
    /// The bucket's name.
    #[schemars(with = "String")]
    bucket: Spanned<String>,
    /// Where entries go in the bucket, e.g. `"qik/main"` (default: the top).
    #[schemars(with = "Option<String>")]
    prefix: Option<Spanned<String>>,
    /// Default: the AWS credential chain (environment, profiles, web
    /// identity, ECS, instance metadata). Give both keys or neither.
    #[serde(alias = "aws_access_key_id")]
    #[schemars(with = "Option<String>", extend("x-aliases" = ["aws_access_key_id"]))]
    aws_access_key_id: Option<Spanned<String>>,
    /// Default: the AWS credential chain. Give both keys or neither.
    #[serde(alias = "aws_secret_access_key")]
    #[schemars(with = "Option<String>", extend("x-aliases" = ["aws_secret_access_key"]))]
    aws_secret_access_key: Option<Spanned<String>>,
    /// For temporary credentials given with the two keys above.
    #[serde(alias = "aws_session_token")]
    #[schemars(with = "Option<String>", extend("x-aliases" = ["aws_session_token"]))]
    aws_session_token: Option<Spanned<String>>,
    /// The bucket's region (default: `AWS_REGION`, `AWS_DEFAULT_REGION`,
    /// the AWS profile's `region`, then `us-east-1`; `auto` for R2).
    #[serde(alias = "region_name")]
    #[schemars(with = "Option<String>", extend("x-aliases" = ["region_name"]))]
    region_name: Option<Spanned<String>>,
    /// The store's URL, e.g. `"http://127.0.0.1:9000"` for MinIO (default:
    /// `AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL`, the AWS profile's
    /// `endpoint_url`, then AWS).
    #[serde(alias = "endpoint_url")]
    #[schemars(with = "Option<String>", extend("x-aliases" = ["endpoint_url"]))]
    endpoint_url: Option<Spanned<String>>,
    /// Signs entries and accepts only signed ones; take it from the
    /// environment: `"{ctx.qik_cache_key}"`.
    #[serde(alias = "signing_key")]
    #[schemars(with = "Option<String>", extend("x-aliases" = ["signing_key"]))]
    signing_key: Option<Spanned<String>>,
    /// `false` makes the cache read-only (default `true`, `false` with
    /// `anonymous`).
    #[schemars(with = "Option<Flag>")]
    upload: Option<Spanned<Flag>>,
    /// `true` reads without credentials (unsigned requests), from a bucket
    /// whose policy allows it; such a cache never uploads. Also a template.
    #[schemars(with = "Option<Flag>")]
    anonymous: Option<Spanned<Flag>>,
    /// A PEM file of certificate authorities to trust besides the system's,
    /// relative to this file (default: `AWS_CA_BUNDLE`, else the AWS
    /// profile's `ca_bundle`).
    #[serde(alias = "ca_file")]
    #[schemars(with = "Option<String>", extend("x-aliases" = ["ca_file"]))]
    ca_file: Option<Spanned<String>>,
    /// Seconds: to connect, to get an answer, and of silence within a
    /// transfer (default 10, at most 600).
    #[schemars(with = "Option<f64>", range(max = 600.0), extend("exclusiveMinimum" = 0))]
    timeout: Option<Spanned<f64>>,
}

/// A cache's config as written, kept for rendering on first use.
pub(crate) struct Conf {
    pub(crate) name: String,
    at: SettingsFile,
    bucket: Spanned<String>,
    prefix: Option<Spanned<String>>,
    access_key_id: Option<Spanned<String>>,
    secret_access_key: Option<Spanned<String>>,
    session_token: Option<Spanned<String>>,
    region: Option<Spanned<String>>,
    endpoint: Option<Spanned<String>>,
    signing_key: Option<Spanned<String>>,
    upload: Option<Spanned<Flag>>,
    anonymous: Option<Spanned<Flag>>,
    ca_file: Option<Spanned<String>>,
    timeout: Duration,
}

impl fmt::Debug for Conf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Values may be secrets written inline; show the shape only.
        f.debug_struct("Conf")
            .field("name", &self.name)
            .field("bucket", self.bucket.get_ref())
            .field("signed", &self.signing_key.is_some())
            .finish_non_exhaustive()
    }
}

/// Everything needed to talk to the bucket, rendered and checked.
pub(crate) struct Settings {
    pub(crate) bucket: rusty_s3::Bucket,
    pub(crate) origin: String,
    pub(crate) prefix: String,
    pub(crate) auth: Auth,
    pub(crate) trust: Trust,
    pub(crate) signing_key: Option<SigningKey>,
    pub(crate) upload: bool,
    pub(crate) timeout: Duration,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Credentials and the signing key stay out.
        f.debug_struct("Settings")
            .field("bucket", &self.bucket.name())
            .field("origin", &self.origin)
            .field("prefix", &self.prefix)
            .field("auth", &self.auth)
            .finish_non_exhaustive()
    }
}

/// Where the environment comes from (the process's, or a test's).
pub(crate) type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

impl Conf {
    pub(crate) fn parse(name: &str, node: Node<'_>) -> Result<Conf, Diagnostic> {
        let raw: Raw = node.deserialize_without("type")?;
        let file = SettingsFile::of(&node);
        let at = |value: &Spanned<String>, err: String, hint: &str| {
            file.error_at(value.span(), err, hint)
        };
        // Literal values are checked now, so mistakes point at the file.
        if !is_template(raw.bucket.get_ref()) {
            check_bucket(raw.bucket.get_ref()).map_err(|err| {
                at(
                    &raw.bucket,
                    err,
                    "bucket names are 3-63 lowercase letters, digits, `.`, `-` or `_`",
                )
            })?;
        }
        if let Some(prefix) = raw.prefix.as_ref().filter(|p| !is_template(p.get_ref())) {
            keys::normalize_prefix(prefix.get_ref()).map_err(|err| {
                at(
                    prefix,
                    format!("invalid prefix: {err}"),
                    "write a relative key prefix such as \"qik/cache\"",
                )
            })?;
        }
        if let Some(endpoint) = raw
            .endpoint_url
            .as_ref()
            .filter(|e| !is_template(e.get_ref()))
        {
            if !unset(endpoint.get_ref()) {
                parse_endpoint(endpoint.get_ref()).map_err(|err| {
                    at(
                        endpoint,
                        err,
                        "write a URL such as \"https://minio.example.com:9000\"",
                    )
                })?;
            }
        }
        if let Some(region) = raw
            .region_name
            .as_ref()
            .filter(|r| !is_template(r.get_ref()))
        {
            if !unset(region.get_ref()) {
                check_region(region.get_ref())
                    .map_err(|err| at(region, err, "write a region such as \"eu-west-1\""))?;
            }
        }
        if let Some(key) = raw
            .signing_key
            .as_ref()
            .filter(|k| !is_template(k.get_ref()))
        {
            check_signing_key(key.get_ref()).map_err(|err| {
                at(
                    key,
                    err,
                    "take the key from the environment: signing-key = \"{ctx.qik_cache_key}\"",
                )
            })?;
        }
        if let Some(Flag::Bool(true)) = raw.anonymous.as_ref().map(Spanned::get_ref) {
            if let Some(upload) = raw
                .upload
                .as_ref()
                .filter(|u| matches!(u.get_ref(), Flag::Bool(true)))
            {
                return Err(file.error_at(
                    upload.span(),
                    "an anonymous cache cannot upload: unsigned writes are refused",
                    "remove `upload = true`, or `anonymous` to upload with credentials",
                ));
            }
            if let Some(key) = &raw.aws_access_key_id {
                return Err(file.error_at(
                    key.span(),
                    "`anonymous = true` signs nothing, so aws-access-key-id would be ignored",
                    "keep one of the two",
                ));
            }
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
            bucket: raw.bucket,
            prefix: raw.prefix,
            access_key_id: raw.aws_access_key_id,
            secret_access_key: raw.aws_secret_access_key,
            session_token: raw.aws_session_token,
            region: raw.region_name,
            endpoint: raw.endpoint_url,
            signing_key: raw.signing_key,
            upload: raw.upload,
            anonymous: raw.anonymous,
            ca_file: raw.ca_file,
            timeout,
        })
    }

    /// Whether uploads are configured off without rendering anything.
    pub(crate) fn literal_read_only(&self) -> bool {
        Flag::literal_false(self.upload.as_ref())
    }

    /// Renders and checks every key; what the settings leave open comes from
    /// the AWS environment and config files (see `creds`).
    pub(crate) fn resolve(&self, ctx: &Ctx, env: Env<'_>) -> Result<Settings, String> {
        let env_value = |name: &str| env(name).filter(|v| !v.is_empty());
        let bucket = self.at.render(ctx, "bucket", &self.bucket)?;
        check_bucket(&bucket)
            .map_err(|err| self.at.located("bucket", self.bucket.span(), &err, None))?;
        let prefix = match &self.prefix {
            None => String::new(),
            Some(value) => {
                let text = self.at.render(ctx, "prefix", value)?;
                keys::normalize_prefix(if text == "None" { "" } else { &text }).map_err(|err| {
                    self.at.located(
                        "prefix",
                        value.span(),
                        &format!("invalid prefix: {err}"),
                        None,
                    )
                })?
            }
        };
        let anonymous = match &self.anonymous {
            None => false,
            Some(flag) => self.at.flag(ctx, "anonymous", flag)?,
        };
        let fixed = self.fixed_credentials(ctx)?;
        if anonymous && fixed.is_some() {
            return Err(
                "`anonymous` is true and aws-access-key-id is set; keep one of the two".into(),
            );
        }
        let region = self.at.optional(ctx, "region-name", self.region.as_ref())?;
        if let Some(region) = &region {
            check_region(region).map_err(|err| {
                let value = self.region.as_ref().expect("rendered from a value");
                self.at.located("region-name", value.span(), &err, None)
            })?;
        }
        let endpoint = match self
            .at
            .optional(ctx, "endpoint-url", self.endpoint.as_ref())?
        {
            Some(text) => Some(parse_endpoint(&text).map_err(|err| {
                let value = self.endpoint.as_ref().expect("rendered from a value");
                self.at.located("endpoint-url", value.span(), &err, None)
            })?),
            None => None,
        };
        let trust = match self.at.optional(ctx, "ca-file", self.ca_file.as_ref())? {
            Some(text) => Trust::new(Some((self.at.path(&text), "ca-file")))?,
            None => match env_value("AWS_CA_BUNDLE") {
                Some(path) => Trust::new(Some((path.into(), "AWS_CA_BUNDLE")))?,
                None => Trust::new(
                    crate::creds::profile_ca_bundle(&env_value)?
                        .map(|path| (path, "the AWS profile's ca_bundle")),
                )?,
            },
        };
        // The AWS config is read only for what the settings leave open.
        let needs_chain = !anonymous && fixed.is_none();
        let aws = if needs_chain || region.is_none() || endpoint.is_none() {
            Some(Aws::load(region.as_deref(), &trust, self.timeout)?)
        } else {
            None
        };
        let region = match (region, &aws) {
            (Some(region), _) => region,
            (None, Some(aws)) => {
                let region = aws.region().unwrap_or_else(|| DEFAULT_REGION.to_string());
                check_region(&region).map_err(|err| format!("region: {err}"))?;
                region
            }
            (None, None) => DEFAULT_REGION.to_string(),
        };
        let endpoint = match (endpoint, &aws) {
            (Some(url), _) => Some(url),
            (None, Some(aws)) => match aws.s3_endpoint() {
                Some(text) => Some(parse_endpoint(&text).map_err(|err| {
                    format!(
                        "the endpoint from AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL or the AWS profile's endpoint_url: {err}"
                    )
                })?),
                None => None,
            },
            (None, None) => None,
        };
        let auth = match (anonymous, fixed, aws) {
            (true, _, _) => Auth::Anonymous,
            (false, Some(credentials), _) => Auth::Fixed(credentials),
            (false, None, Some(aws)) => Auth::Chain(aws.into_chain()),
            (false, None, None) => unreachable!("the AWS config is loaded for the chain"),
        };
        let signing_key = match &self.signing_key {
            None => None,
            Some(value) => {
                let text = self.at.render(ctx, "signing-key", value)?;
                // A key that is configured but empty must not silently turn
                // verification off: that would accept anyone's entries.
                if unset(&text) {
                    return Err(self
                        .at
                        .located(
                            "signing-key",
                            value.span(),
                            "the signing key is empty, so entries cannot be verified",
                            Some("set the variable it refers to, or remove `signing-key`"),
                        )
                        .into());
                }
                check_signing_key(&text)
                    .map_err(|err| self.at.located("signing-key", value.span(), &err, None))?;
                Some(SigningKey::new(&text))
            }
        };
        let upload = match self.upload.as_ref() {
            None => !anonymous,
            Some(flag) => {
                let upload = self.at.flag(ctx, "upload", flag)?;
                if upload && anonymous {
                    return Err(self
                        .at
                        .located(
                            "upload",
                            flag.span(),
                            "an anonymous cache cannot upload: unsigned writes are refused",
                            Some("make `upload` false whenever `anonymous` is true"),
                        )
                        .into());
                }
                upload
            }
        };
        let (endpoint, style) = match endpoint {
            // Custom endpoints (MinIO, R2, GCS, ...) all take path-style URLs.
            Some(url) => (url, rusty_s3::UrlStyle::Path),
            None => {
                let url = Url::parse(&format!("https://s3.{region}.amazonaws.com"))
                    .map_err(|_| format!("region {region:?} makes no valid endpoint"))?;
                // Virtual-host style needs a bucket name that is a DNS label.
                let style = if bucket.contains('.') {
                    rusty_s3::UrlStyle::Path
                } else {
                    rusty_s3::UrlStyle::VirtualHost
                };
                (url, style)
            }
        };
        let origin = endpoint.origin().ascii_serialization();
        let bucket = rusty_s3::Bucket::new(endpoint, style, bucket, region)
            .map_err(|_| "the endpoint URL cannot address a bucket".to_string())?;
        Ok(Settings {
            bucket,
            origin,
            prefix,
            auth,
            trust,
            signing_key,
            upload,
            timeout: self.timeout,
        })
    }

    /// Keys written in the settings: both or neither.
    fn fixed_credentials(&self, ctx: &Ctx) -> Result<Option<Credentials>, String> {
        let id = self
            .at
            .optional(ctx, "aws-access-key-id", self.access_key_id.as_ref())?;
        let secret = self.at.optional(
            ctx,
            "aws-secret-access-key",
            self.secret_access_key.as_ref(),
        )?;
        let token = self
            .at
            .optional(ctx, "aws-session-token", self.session_token.as_ref())?;
        match (id, secret) {
            (Some(id), Some(secret)) => Ok(Some(make_credentials(id, secret, token))),
            (Some(_), None) | (None, Some(_)) => Err(
                "only one of aws-access-key-id and aws-secret-access-key is set; set both".into(),
            ),
            (None, None) => Ok(None),
        }
    }
}

fn make_credentials(id: String, secret: String, token: Option<String>) -> Credentials {
    match token {
        Some(token) => Credentials::new_with_token(id, secret, token),
        None => Credentials::new(id, secret),
    }
}

/// S3's naming rules, loosened to what compatible stores accept (`_`), and
/// tight enough that the name is a safe URL segment and host label.
fn check_bucket(name: &str) -> Result<(), String> {
    let ok_chars = name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '-' | '_'));
    let ends = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if (3..=63).contains(&name.len())
        && ok_chars
        && ends(name.chars().next())
        && ends(name.chars().last())
        && !name.contains("..")
    {
        Ok(())
    } else {
        Err(format!("{name:?} is not a valid bucket name"))
    }
}

fn check_region(region: &str) -> Result<(), String> {
    if !region.is_empty()
        && region.len() <= 64
        && region
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        Ok(())
    } else {
        Err(format!("{region:?} is not a region name"))
    }
}

fn check_signing_key(key: &str) -> Result<(), String> {
    if key.len() < MIN_SIGNING_KEY {
        // The key itself is never repeated in messages.
        Err(format!(
            "the signing key is shorter than {MIN_SIGNING_KEY} bytes"
        ))
    } else {
        Ok(())
    }
}

/// An endpoint is a scheme, a host and maybe a port and path; credentials or
/// a query in it would end up in signed URLs and messages.
fn parse_endpoint(text: &str) -> Result<Url, String> {
    let url = Url::parse(text).map_err(|_| "endpoint-url is not a URL".to_string())?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err("endpoint-url must be an http:// or https:// URL with a host".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("endpoint-url must not hold credentials; use aws-access-key-id".into());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("endpoint-url must not have a query or fragment".into());
    }
    Ok(url)
}

#[cfg(test)]
mod tests {

    use super::*;

    fn conf(text: &str) -> Result<Conf, Diagnostic> {
        let file =
            qik_core::source::SourceFile::parse("qik.toml".into(), "qik.toml".into(), text.into())
                .unwrap();
        let node = file.root();
        let table = node.get("caches").unwrap().get("remote").unwrap();
        Conf::parse("remote", table)
    }

    fn ctx(vars: &[(&str, &str)]) -> Ctx {
        Ctx::of_strings(vars)
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn literal_mistakes_point_at_the_file() {
        for (text, expect) in [
            ("bucket = \"A\"", "not a valid bucket name"),
            ("bucket = \"b-1\"\nprefix = \"../x\"", "invalid prefix"),
            ("bucket = \"b-1\"\nendpoint-url = \"ftp://x\"", "http://"),
            (
                "bucket = \"b-1\"\nendpoint-url = \"http://u:p@x\"",
                "credentials",
            ),
            ("bucket = \"b-1\"\nsigning-key = \"short\"", "shorter than"),
            ("bucket = \"b-1\"\ntimeout = 0", "timeout"),
            ("bucket = \"b-1\"\nregion = \"x\"", "unknown key `region`"),
        ] {
            let err = conf(&format!("[caches.remote]\ntype = \"s3\"\n{text}\n")).unwrap_err();
            assert!(err.message.contains(expect), "{text}: {}", err.message);
            assert!(err.location().is_some(), "{text}: no location");
            assert!(
                !err.render(false).contains("short\" is"),
                "never echo a key"
            );
        }
    }

    /// Every key given, so nothing is read from the AWS environment.
    #[test]
    fn renders_ctx() {
        let conf = conf(
            "[caches.remote]\ntype = \"s3\"\nbucket = \"{ctx.bucket}\"\nprefix = \"ci/\"\n\
             endpoint-url = \"{ctx.endpoint}\"\nupload = \"{ctx.upload}\"\n\
             region-name = \"eu-west-1\"\naws-access-key-id = \"id\"\n\
             aws-secret-access-key = \"secret\"\n",
        )
        .unwrap();
        let settings = conf
            .resolve(
                &ctx(&[
                    ("bucket", "my-bucket"),
                    ("endpoint", "http://127.0.0.1:9000"),
                    ("upload", "False"),
                ]),
                &no_env,
            )
            .unwrap();
        assert_eq!(settings.bucket.name(), "my-bucket");
        assert_eq!(settings.bucket.region(), "eu-west-1");
        assert_eq!(settings.prefix, "ci");
        assert_eq!(settings.origin, "http://127.0.0.1:9000");
        assert!(!settings.upload);
        assert!(matches!(&settings.auth, Auth::Fixed(c) if c.key() == "id"));

        let err = conf
            .resolve(
                &ctx(&[
                    ("bucket", "Bad_Bucket"),
                    ("endpoint", "http://127.0.0.1:9000"),
                    ("upload", "1"),
                ]),
                &no_env,
            )
            .unwrap_err();
        assert!(err.contains("qik.toml:3:10"), "{err}");
    }

    #[test]
    fn anonymous_reads_only() {
        let base = "[caches.remote]\ntype = \"s3\"\nbucket = \"b-1\"\nregion-name = \"eu-west-1\"\n\
                    endpoint-url = \"http://127.0.0.1:9\"\n";
        let settings = conf(&format!("{base}anonymous = true\n"))
            .unwrap()
            .resolve(&Ctx::default(), &no_env)
            .unwrap();
        assert!(matches!(settings.auth, Auth::Anonymous));
        assert!(!settings.upload, "anonymous caches do not upload");

        for (extra, expect) in [
            ("anonymous = true\nupload = true", "cannot upload"),
            (
                "anonymous = true\naws-access-key-id = \"i\"\naws-secret-access-key = \"s\"",
                "would be ignored",
            ),
        ] {
            let err = conf(&format!("{base}{extra}\n")).unwrap_err();
            assert!(err.message.contains(expect), "{extra}: {}", err.message);
            assert!(err.location().is_some(), "{extra}");
        }

        // The same mistake through templates shows once rendered.
        let conf = conf(&format!(
            "{base}anonymous = \"{{ctx.anon}}\"\nupload = \"{{ctx.up}}\"\n"
        ))
        .unwrap();
        let err = conf
            .resolve(&ctx(&[("anon", "true"), ("up", "true")]), &no_env)
            .unwrap_err();
        assert!(
            err.contains("cannot upload") && err.contains("qik.toml:7"),
            "{err}"
        );
        let settings = conf
            .resolve(&ctx(&[("anon", "true"), ("up", "false")]), &no_env)
            .unwrap();
        assert!(matches!(settings.auth, Auth::Anonymous));
    }

    #[test]
    fn ca_files_are_checked_by_name() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("empty.pem"), "no certificate here\n").unwrap();
        let text = "[caches.remote]\ntype = \"s3\"\nbucket = \"b-1\"\nanonymous = true\n\
                    region-name = \"eu-west-1\"\nendpoint-url = \"https://127.0.0.1:9\"\n";
        let conf = conf(text).unwrap();
        let missing = dir.path().join("missing.pem").display().to_string();
        let env = |k: &str| (k == "AWS_CA_BUNDLE").then(|| missing.clone());
        let err = conf.resolve(&Ctx::default(), &env).unwrap_err();
        assert!(
            err.contains("AWS_CA_BUNDLE") && err.contains("missing.pem"),
            "{err}"
        );
        let empty = dir.path().join("empty.pem").display().to_string();
        let env = |k: &str| (k == "AWS_CA_BUNDLE").then(|| empty.clone());
        let err = conf.resolve(&Ctx::default(), &env).unwrap_err();
        assert!(err.contains("holds no certificate"), "{err}");

        // The selected profile's `ca_bundle`, named as where it came from.
        let aws_config = dir.path().join("config");
        std::fs::write(
            &aws_config,
            format!("[default]\nca_bundle = {missing}\n\n[profile other]\nregion = eu-west-1\n"),
        )
        .unwrap();
        let aws_config = aws_config.display().to_string();
        let env = |k: &str| (k == "AWS_CONFIG_FILE").then(|| aws_config.clone());
        let err = conf.resolve(&Ctx::default(), &env).unwrap_err();
        assert!(
            err.contains("profile's ca_bundle") && err.contains("missing.pem"),
            "{err}"
        );
        let env = |k: &str| match k {
            "AWS_CONFIG_FILE" => Some(aws_config.clone()),
            "AWS_PROFILE" => Some("other".to_string()),
            _ => None,
        };
        assert!(conf.resolve(&Ctx::default(), &env).is_ok(), "not other's");
        // A config file that does not parse is named, not skipped.
        std::fs::write(dir.path().join("config"), "[default]\nno equals sign\n").unwrap();
        let env = |k: &str| (k == "AWS_CONFIG_FILE").then(|| aws_config.clone());
        let err = conf.resolve(&Ctx::default(), &env).unwrap_err();
        assert!(err.contains("AWS config files"), "{err}");
    }

    #[test]
    fn an_empty_signing_key_is_an_error_not_a_disabled_check() {
        let conf = conf(
            "[caches.remote]\ntype = \"s3\"\nbucket = \"b-1\"\naws-access-key-id = \"i\"\n\
             aws-secret-access-key = \"s\"\nsigning-key = \"{ctx.key}\"\n\
             region-name = \"eu-west-1\"\nendpoint-url = \"http://127.0.0.1:9\"\n",
        )
        .unwrap();
        let err = conf.resolve(&ctx(&[("key", "")]), &no_env).unwrap_err();
        assert!(err.contains("signing key is empty"), "{err}");
        let settings = conf
            .resolve(&ctx(&[("key", "0123456789abcdef-long")]), &no_env)
            .unwrap();
        assert!(settings.signing_key.is_some());
        let err = conf.resolve(&ctx(&[("key", "tiny")]), &no_env).unwrap_err();
        assert!(err.contains("shorter") && !err.contains("tiny"), "{err}");
    }

    #[test]
    fn half_configured_credentials_are_refused() {
        let conf =
            conf("[caches.remote]\ntype = \"s3\"\nbucket = \"b-1\"\naws-access-key-id = \"i\"\n")
                .unwrap();
        let err = conf.resolve(&Ctx::default(), &no_env).unwrap_err();
        assert!(err.contains("set both"), "{err}");
    }

    #[test]
    fn debug_output_hides_values() {
        let conf = conf(
            "[caches.remote]\ntype = \"s3\"\nbucket = \"b-1\"\naws-access-key-id = \"AKIDSECRET\"\n\
             aws-secret-access-key = \"hunter2hunter2\"\n",
        )
        .unwrap();
        let text = format!("{conf:?}");
        assert!(
            !text.contains("hunter2") && !text.contains("AKIDSECRET"),
            "{text}"
        );
    }
}
