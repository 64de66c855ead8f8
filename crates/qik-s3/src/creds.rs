//! Who requests are signed as, and which servers they trust.
//!
//! Credentials, the region and the endpoint come from the settings first,
//! then from what the AWS SDKs read, through `aws-config` itself: the
//! environment, the shared config and credentials files (`AWS_PROFILE`,
//! `region`, `endpoint_url`, `credential_process`), web identity through
//! STS, ECS container credentials and EC2 instance metadata (IMDSv2). qik
//! parses none of these files. aws-config is async; it runs on a
//! current-thread tokio runtime made on first use of the cache, and only
//! when the settings leave something to find.
//!
//! TLS trusts the system's roots plus one PEM file: `ca-file`, else
//! `AWS_CA_BUNDLE`, else the selected profile's `ca_bundle` (read with
//! aws-config's own profile loader, as the AWS CLI reads it). The same roots
//! serve S3 (ureq) and the credential endpoints (aws-config's hyper client).

use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use aws_config::BehaviorVersion;
use aws_config::SdkConfig;
use aws_config::environment::EnvironmentVariableRegionProvider;
use aws_config::meta::region::RegionProviderChain;
use aws_config::profile::ProfileFileRegionProvider;
use aws_config::timeout::TimeoutConfig;
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_smithy_http_client::tls;
use aws_types::region::Region;
use aws_types::service_config::ServiceConfigKey;
use rusty_s3::Credentials;
use tokio::runtime::Runtime;

/// Temporary credentials are renewed this long before they expire, so that
/// a presigned request never carries credentials that lapse in flight.
const RENEW_BEFORE: Duration = Duration::from_secs(5 * 60);

/// The roots TLS connections trust.
#[derive(Clone)]
pub(crate) struct Trust {
    /// The extra PEM file and its certificates (DER), if any.
    extra: Option<(PathBuf, Arc<Vec<Vec<u8>>>)>,
    pem: Option<Arc<Vec<u8>>>,
}

impl fmt::Debug for Trust {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Trust")
            .field("extra", &self.extra.as_ref().map(|(path, _)| path))
            .finish()
    }
}

impl Trust {
    /// The system's roots plus the certificates in `ca_file` (if any). The
    /// file is read now, so a missing or empty one is reported once, by name.
    pub(crate) fn new(ca_file: Option<(PathBuf, &str)>) -> Result<Trust, String> {
        let Some((path, origin)) = ca_file else {
            return Ok(Trust {
                extra: None,
                pem: None,
            });
        };
        let shown = path.display();
        let pem = std::fs::read(&path)
            .map_err(|err| format!("{origin}: cannot read {shown}: {}", err.kind()))?;
        let mut certs = Vec::new();
        for item in ureq::tls::parse_pem(&pem) {
            match item {
                Ok(ureq::tls::PemItem::Certificate(cert)) => certs.push(cert.der().to_vec()),
                Ok(_) => {}
                Err(_) => return Err(format!("{origin}: {shown} is not valid PEM")),
            }
        }
        if certs.is_empty() {
            return Err(format!("{origin}: {shown} holds no certificate"));
        }
        Ok(Trust {
            extra: Some((path, Arc::new(certs))),
            pem: Some(Arc::new(pem)),
        })
    }

    /// ureq's TLS settings: the system's roots plus the extra ones. Without
    /// any system roots (a minimal container) and no extra file, the roots
    /// bundled with ureq are used, as before this setting existed.
    pub(crate) fn ureq_config(&self) -> ureq::tls::TlsConfig {
        let native = rustls_native_certs::load_native_certs().certs;
        let extra = self.extra.as_ref().map(|(_, certs)| certs.as_slice());
        let roots = if native.is_empty() && extra.is_none() {
            ureq::tls::RootCerts::WebPki
        } else {
            let mut all: Vec<ureq::tls::Certificate<'static>> = native
                .iter()
                .map(|der| ureq::tls::Certificate::from_der(der.as_ref()).to_owned())
                .collect();
            for der in extra.unwrap_or_default() {
                all.push(ureq::tls::Certificate::from_der(der).to_owned());
            }
            ureq::tls::RootCerts::new_with_certs(&all)
        };
        ureq::tls::TlsConfig::builder().root_certs(roots).build()
    }

    /// The TLS settings of the client aws-config reaches STS, ECS and IMDS with.
    fn sdk_tls(&self) -> Result<tls::TlsContext, String> {
        let mut store = tls::TrustStore::default();
        if let Some(pem) = &self.pem {
            store = store.with_pem_certificate(pem.as_slice());
        }
        tls::TlsContext::builder()
            .with_trust_store(store)
            .build()
            .map_err(|_| "the TLS roots cannot be used".to_string())
    }
}

/// `ca_bundle` of the selected profile (`AWS_PROFILE`, else `default`) in
/// the shared config files (`AWS_CONFIG_FILE`, `AWS_SHARED_CREDENTIALS_FILE`
/// or their defaults), through aws-config's loader: qik parses none of them.
/// aws-config's credential chain does not use the key, so it is asked here.
/// `env` gives the variables that choose the files and the profile.
pub(crate) fn profile_ca_bundle(
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<PathBuf>, String> {
    use aws_runtime::env_config::file::EnvConfigFiles;
    use aws_types::os_shim_internal::{Env, Fs};
    let vars: Vec<(&str, String)> = [
        "AWS_PROFILE",
        "AWS_CONFIG_FILE",
        "AWS_SHARED_CREDENTIALS_FILE",
        "HOME",
    ]
    .into_iter()
    .filter_map(|name| Some((name, env(name)?)))
    .collect();
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(|err| format!("cannot start the credential runtime: {}", err.kind()))?;
    let profiles = runtime
        .block_on(aws_config::profile::load(
            &Fs::real(),
            &Env::from_slice(&vars),
            &EnvConfigFiles::default(),
            None,
        ))
        .map_err(|err| {
            // The parse error names the file and line, never a value.
            let cause = std::error::Error::source(&err)
                .map(|cause| format!(": {cause}"))
                .unwrap_or_default();
            format!("the AWS config files: {err}{cause}")
        })?;
    let Some(path) = profiles.get("ca_bundle").map(str::trim) else {
        return Ok(None);
    };
    // `~/` as the AWS CLI expands it.
    let home = env("HOME").filter(|home| !home.is_empty());
    Ok(match (path.strip_prefix("~/"), home) {
        _ if path.is_empty() => None,
        (Some(rest), Some(home)) => Some(PathBuf::from(home).join(rest)),
        _ => Some(PathBuf::from(path)),
    })
}

/// What the AWS config files and variables say, loaded once.
pub(crate) struct Aws {
    runtime: Runtime,
    sdk: SdkConfig,
}

impl Aws {
    /// Reads the environment and the shared config files. Nothing goes over
    /// the network here: the region comes from `AWS_REGION`,
    /// `AWS_DEFAULT_REGION` or the profile, never from instance metadata
    /// (which costs a timeout on every machine that is not on EC2).
    pub(crate) fn load(
        region: Option<&str>,
        trust: &Trust,
        timeout: Duration,
    ) -> Result<Aws, String> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|err| format!("cannot start the credential runtime: {}", err.kind()))?;
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(
                tls::rustls_provider::CryptoMode::Ring,
            ))
            .tls_context(trust.sdk_tls()?)
            .build_https();
        let fixed = region.map(|r| Region::new(r.to_string()));
        let regions = RegionProviderChain::first_try(fixed)
            .or_else(EnvironmentVariableRegionProvider::new())
            .or_else(ProfileFileRegionProvider::new());
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(timeout)
            .read_timeout(timeout)
            .operation_attempt_timeout(timeout * 2)
            .build();
        let sdk = runtime.block_on(
            aws_config::defaults(BehaviorVersion::latest())
                .region(regions)
                .http_client(http)
                .timeout_config(timeouts)
                .load(),
        );
        Ok(Aws { runtime, sdk })
    }

    pub(crate) fn region(&self) -> Option<String> {
        self.sdk.region().map(|r| r.as_ref().to_string())
    }

    /// S3's endpoint: `AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL`, then the
    /// profile's `s3` services section and `endpoint_url`, as the SDK's S3
    /// client takes them (and none with `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS`).
    pub(crate) fn s3_endpoint(&self) -> Option<String> {
        let key = ServiceConfigKey::builder()
            .service_id("s3")
            .profile("endpoint_url")
            .env("AWS_ENDPOINT_URL")
            .build()
            .ok()?;
        self.sdk
            .service_config()
            .and_then(|config| config.load_config(key))
            .or_else(|| self.sdk.endpoint_url().map(str::to_string))
    }

    /// The credential chain, asked on first use and again when temporary
    /// credentials near their expiry.
    pub(crate) fn into_chain(self) -> Chain {
        Chain {
            provider: self.sdk.credentials_provider(),
            runtime: self.runtime,
            current: Mutex::new(None),
        }
    }
}

/// The AWS credential chain with the credentials it last gave.
pub(crate) struct Chain {
    runtime: Runtime,
    provider: Option<SharedCredentialsProvider>,
    current: Mutex<Option<(Credentials, Option<SystemTime>)>>,
}

impl Chain {
    fn credentials(&self) -> Result<Credentials, String> {
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((credentials, expiry)) = current.as_ref() {
            let fresh = expiry.is_none_or(|at| {
                at.duration_since(SystemTime::now())
                    .is_ok_and(|left| left > RENEW_BEFORE)
            });
            if fresh {
                return Ok(credentials.clone());
            }
        }
        let provider = self.provider.as_ref().ok_or_else(no_credentials)?;
        let found = self
            .runtime
            .block_on(provider.provide_credentials())
            .map_err(|err| describe(&err))?;
        let credentials = match found.session_token() {
            Some(token) => {
                Credentials::new_with_token(found.access_key_id(), found.secret_access_key(), token)
            }
            None => Credentials::new(found.access_key_id(), found.secret_access_key()),
        };
        *current = Some((credentials.clone(), found.expiry()));
        Ok(credentials)
    }
}

/// How requests are signed.
pub(crate) enum Auth {
    /// Not at all: a bucket (or prefix) opened for reading by its policy.
    Anonymous,
    /// With keys from the settings.
    Fixed(Credentials),
    /// With whatever the AWS credential chain finds.
    Chain(Chain),
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Which kind only: the keys stay out.
        f.write_str(match self {
            Auth::Anonymous => "Anonymous",
            Auth::Fixed(_) => "Fixed",
            Auth::Chain(_) => "Chain",
        })
    }
}

impl Auth {
    /// The credentials to sign the next request with (`None`: unsigned).
    pub(crate) fn current(&self) -> Result<Option<Credentials>, String> {
        match self {
            Auth::Anonymous => Ok(None),
            Auth::Fixed(credentials) => Ok(Some(credentials.clone())),
            Auth::Chain(chain) => chain.credentials().map(Some),
        }
    }
}

fn no_credentials() -> String {
    let profile = match std::env::var("AWS_PROFILE") {
        Ok(name) if !name.is_empty() => format!("profile `{name}` of AWS_PROFILE"),
        _ => "AWS_PROFILE".to_string(),
    };
    format!(
        "no credentials: tried aws-access-key-id in the settings, then the AWS chain: \
     the environment (AWS_ACCESS_KEY_ID), the shared config files ({profile}, \
     ~/.aws/config, ~/.aws/credentials, credential_process), web identity \
     (AWS_WEB_IDENTITY_TOKEN_FILE with AWS_ROLE_ARN), ECS container credentials \
     (AWS_CONTAINER_CREDENTIALS_*) and EC2 instance metadata; hint: set \
     AWS_PROFILE or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or \
     `anonymous = true` to read a public bucket"
    )
}

/// A chain error in words. Only the provider's own message is kept: the
/// SDK's messages name sources and settings, never key material (a failing
/// `credential_process` reports its exit status and its stderr).
fn describe(err: &CredentialsError) -> String {
    match err {
        CredentialsError::CredentialsNotLoaded(_) => no_credentials(),
        CredentialsError::ProviderTimedOut(_) => {
            "the AWS credential chain did not answer in time".to_string()
        }
        other => {
            let mut text = format!("cannot get credentials from the AWS chain: {other}");
            let mut source = std::error::Error::source(other);
            while let Some(inner) = source {
                text.push_str(": ");
                text.push_str(&inner.to_string());
                source = inner.source();
            }
            // Stderr of a credential process may run long; one paragraph.
            let text = text.trim_end().replace('\n', " ");
            if text.len() > 600 {
                let cut = (0..=600).rev().find(|&i| text.is_char_boundary(i));
                format!("{}...", &text[..cut.unwrap_or(0)])
            } else {
                text
            }
        }
    }
}
