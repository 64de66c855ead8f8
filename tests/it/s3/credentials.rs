//! Credentials the way AWS tools find them, each source proven against a
//! server that checks them: a profile with its endpoint, `credential_process`,
//! web identity through STS, ECS container credentials, instance metadata
//! with IMDSv2 tokens; anonymous reads of a bucket opened by its policy; and
//! a private CA through `AWS_CA_BUNDLE`, `ca-file` or the profile's
//! `ca_bundle`. No secret ever shows.

use std::path::Path;

use super::metadata::{ECS_AUTH, ECS_PATH, MetadataServer, SESSION_TOKEN};
use super::moto::Moto;
use super::support::RemoteWarnings as _;
use super::support::{ACCESS_KEY, BUCKET, Project, Run, S3Server, SECRET_KEY, config};
use crate::support::certs::throwaway_ca;

/// The test config with no `endpoint-url`: it must come from elsewhere.
fn config_without_endpoint(extra: &str) -> String {
    let text = config("REMOVED", extra);
    text.replace("endpoint-url = \"REMOVED\"\n", "")
}

fn project(text: &str) -> Project {
    Project::with_files(&[("qik.toml", text), ("src/input.txt", "one\n")])
}

/// Runs `build` in a fresh clone and checks it was replayed from the bucket.
#[track_caller]
fn assert_replayed(a: &Project, env: &[(&str, &str)]) -> Run {
    let b = a.clone_repo();
    let replay = b.qik(".", &["build"], env);
    replay.assert_cached("build");
    replay.assert_quiet();
    assert_eq!(b.read("out/result.txt"), "one\n");
    replay
}

/// Runs the commands that print settings and explanations, and checks none
/// shows `secrets`.
#[track_caller]
fn assert_never_printed(project: &Project, env: &[(&str, &str)], secrets: &[&str]) {
    for args in [
        &["build", "-f", "--explain"][..],
        &["--ls", "--json"],
        &["--ls", "--explain"],
        &["--ls", "--cache-status", "warm"],
    ] {
        let run = project.qik(".", args, env);
        run.assert_ok();
        run.assert_no_secrets(secrets);
    }
    let mut files = Vec::new();
    crate::support::walk(&project.root.join("._qik"), &mut |path| {
        files.push(path.to_path_buf())
    });
    for file in files {
        let text = String::from_utf8_lossy(&std::fs::read(&file).unwrap_or_default()).to_string();
        for secret in secrets.iter().chain(&[SECRET_KEY]) {
            assert!(!text.contains(secret), "{} holds a secret", file.display());
        }
    }
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write");
    path.display().to_string()
}

#[test]
fn a_profile_gives_keys_region_and_endpoint() {
    let server = S3Server::start();
    let aws = tempfile::tempdir().unwrap();
    let config_file = write(
        aws.path(),
        "config",
        &format!(
            "[default]\nregion = eu-west-3\n\n[profile ci]\nregion = us-east-1\nendpoint_url = {}\n",
            server.endpoint()
        ),
    );
    let credentials_file = write(
        aws.path(),
        "credentials",
        &format!(
            "[default]\naws_access_key_id = AKIAWRONGDEFAULT\naws_secret_access_key = wrong\n\n\
             [ci]\naws_access_key_id = {ACCESS_KEY}\naws_secret_access_key = {SECRET_KEY}\n"
        ),
    );
    let env = [
        ("AWS_CONFIG_FILE", config_file.as_str()),
        ("AWS_SHARED_CREDENTIALS_FILE", credentials_file.as_str()),
        ("AWS_PROFILE", "ci"),
    ];
    let a = project(&config_without_endpoint(""));
    let run = a.qik(".", &["build"], &env);
    run.assert_ok();
    run.assert_ran("build");
    run.assert_quiet();
    assert_eq!(server.seals().len(), 1, "uploaded through the profile");
    assert_replayed(&a, &env);
    assert_never_printed(&a, &env, &[]);

    // The default profile's keys are refused by the server: the profile
    // really is what chose them.
    let env = [
        ("AWS_CONFIG_FILE", config_file.as_str()),
        ("AWS_SHARED_CREDENTIALS_FILE", credentials_file.as_str()),
        ("AWS_ENDPOINT_URL", &server.endpoint()),
    ];
    let b = a.clone_repo();
    let run = b.qik(".", &["build"], &env);
    run.assert_ok();
    run.assert_ran("build");
    run.assert_one_warning("credentials were refused");
    run.assert_no_secrets(&["wrong"]);
}

#[test]
fn a_missing_profile_is_named() {
    // A profile that does not exist: a warning that names it.
    let run = project(&config_without_endpoint("")).qik(
        ".",
        &["build"],
        &[("AWS_PROFILE", "missing-profile")],
    );
    run.assert_ok();
    run.assert_ran("build");
    run.assert_one_warning("profile `missing-profile`");
}

#[test]
fn credential_process_is_run_and_its_failure_explained() {
    let server = S3Server::start();
    let aws = tempfile::tempdir().unwrap();
    let script = write(
        aws.path(),
        "issue-creds.sh",
        &format!(
            "#!/bin/sh\necho '{{\"Version\": 1, \"AccessKeyId\": \"{ACCESS_KEY}\", \
             \"SecretAccessKey\": \"{SECRET_KEY}\", \"SessionToken\": \"process-token-77\"}}'\n"
        ),
    );
    let failing = write(
        aws.path(),
        "broken-creds.sh",
        "#!/bin/sh\necho 'the vault is sealed' >&2\nexit 3\n",
    );
    for path in [&script, &failing] {
        let status = std::process::Command::new("chmod")
            .args(["+x", path])
            .status()
            .unwrap();
        assert!(status.success());
    }
    let config_file = write(
        aws.path(),
        "config",
        &format!(
            "[profile proc]\ncredential_process = {script}\n\n\
             [profile broken]\ncredential_process = {failing} --secret-arg hunter2-arg\n"
        ),
    );
    let env = [
        ("AWS_CONFIG_FILE", config_file.as_str()),
        ("AWS_PROFILE", "proc"),
    ];
    let a = project(&config(&server.endpoint(), ""));
    let run = a.qik(".", &["build"], &env);
    run.assert_ok();
    run.assert_quiet();
    assert_eq!(server.seals().len(), 1, "uploaded with the process's keys");
    assert_replayed(&a, &env);
    assert_never_printed(&a, &env, &["process-token-77"]);

    let env = [
        ("AWS_CONFIG_FILE", config_file.as_str()),
        ("AWS_PROFILE", "broken"),
    ];
    let b = a.clone_repo();
    let run = b.qik(".", &["build"], &env);
    run.assert_ok();
    run.assert_ran("build");
    run.assert_one_warning("the vault is sealed");
    let warning = run.remote_warnings()[0];
    assert!(warning.contains("exit status: 3"), "{warning}");
    run.assert_no_secrets(&["hunter2-arg"]);
}

#[test]
fn web_identity_goes_through_sts() {
    // moto serves STS and S3; its S3 takes any keys STS issued.
    let moto = Moto::start();
    moto.create_bucket(BUCKET);
    let dir = tempfile::tempdir().unwrap();
    let token = "eyJ.web-identity-token.from-the-ci-provider";
    let token_file = write(dir.path(), "token", token);
    let env = [
        ("AWS_WEB_IDENTITY_TOKEN_FILE", token_file.as_str()),
        ("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/qik-ci"),
        ("AWS_ROLE_SESSION_NAME", "qik-test"),
        ("AWS_ENDPOINT_URL", &moto.endpoint()),
        ("AWS_REGION", "us-east-1"),
    ];
    let a = project(&config_without_endpoint(""));
    let run = a.qik(".", &["build"], &env);
    run.assert_ok();
    run.assert_quiet();
    assert!(
        moto.keys(BUCKET).iter().any(|k| k.ends_with("entry.json")),
        "uploaded with STS's keys: {:?}",
        moto.keys(BUCKET)
    );
    assert_replayed(&a, &env);
    assert_never_printed(&a, &env, &[token]);

    // Without the token there is nothing to sign with: the warning says
    // where qik looked.
    let env = [
        ("AWS_ENDPOINT_URL", moto.endpoint()),
        ("AWS_REGION", "us-east-1".to_string()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let run = a.clone_repo().qik(".", &["build"], &env);
    run.assert_ok();
    run.assert_ran("build");
    run.assert_one_warning("no credentials");
    let warning = run.remote_warnings()[0];
    for source in [
        "AWS_ACCESS_KEY_ID",
        "AWS_PROFILE",
        "credential_process",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "ECS",
        "instance metadata",
        "anonymous = true",
    ] {
        assert!(warning.contains(source), "{source} not named: {warning}");
    }
}

#[test]
fn instance_metadata_with_imdsv2_tokens() {
    let server = S3Server::start();
    let metadata = MetadataServer::start();
    let env = [
        ("AWS_EC2_METADATA_DISABLED", "false"),
        ("AWS_EC2_METADATA_SERVICE_ENDPOINT", &metadata.endpoint()),
    ];
    let a = project(&config(&server.endpoint(), ""));
    let run = a.qik(".", &["build"], &env);
    run.assert_ok();
    run.assert_quiet();
    assert_eq!(server.seals().len(), 1, "uploaded with the instance's keys");
    {
        let seen = metadata.seen();
        assert!(seen.token_puts >= 1, "an IMDSv2 session token: {seen:?}");
        assert!(seen.credential_gets >= 1, "{seen:?}");
        assert_eq!(seen.refused, 0, "every read carried the token: {seen:?}");
    }
    assert_replayed(&a, &env);
    assert_never_printed(&a, &env, &[SESSION_TOKEN]);
}

#[test]
fn ecs_container_credentials() {
    let server = S3Server::start();
    let metadata = MetadataServer::start();
    let uri = format!("{}{ECS_PATH}", metadata.endpoint());
    let env = [
        ("AWS_CONTAINER_CREDENTIALS_FULL_URI", uri.as_str()),
        ("AWS_CONTAINER_AUTHORIZATION_TOKEN", ECS_AUTH),
    ];
    let a = project(&config(&server.endpoint(), ""));
    let run = a.qik(".", &["build"], &env);
    run.assert_ok();
    run.assert_quiet();
    assert_eq!(server.seals().len(), 1, "uploaded with the task's keys");
    assert_eq!(metadata.seen().refused, 0);
    assert_never_printed(&a, &env, &[ECS_AUTH, SESSION_TOKEN]);
}

#[test]
fn anonymous_reads_a_bucket_opened_by_its_policy() {
    let moto = Moto::start();
    moto.create_bucket(BUCKET);
    // A trusted build uploads with credentials.
    let env = [
        ("AWS_ACCESS_KEY_ID", ACCESS_KEY),
        ("AWS_SECRET_ACCESS_KEY", SECRET_KEY),
    ];
    let a = project(&config(&moto.endpoint(), ""));
    let run = a.qik(".", &["build"], &env);
    run.assert_ok();
    run.assert_quiet();
    let uploaded = moto.keys(BUCKET);
    assert!(
        uploaded.iter().any(|k| k.ends_with("entry.json")),
        "{uploaded:?}"
    );

    // An untrusted build has no credentials at all.
    let b = a.clone_repo();
    b.write("qik.toml", &config(&moto.endpoint(), "anonymous = true"));
    b.git_add();
    // Objects are private until the policy opens them.
    let denied = b.qik(".", &["build"], &[]);
    denied.assert_ok();
    denied.assert_ran("build");
    denied.assert_one_warning("access denied");

    let policy = format!(
        "{{\"Version\":\"2012-10-17\",\"Statement\":[{{\"Effect\":\"Allow\",\
         \"Principal\":\"*\",\"Action\":\"s3:GetObject\",\"Resource\":\"arn:aws:s3:::{BUCKET}/*\"}}]}}"
    );
    let (status, body) = moto.request("PUT", &format!("/{BUCKET}?policy"), &policy);
    assert!(status == 200 || status == 204, "{status} {body}");
    let c = b.clone_repo();
    let replay = c.qik(".", &["build"], &[]);
    replay.assert_cached("build");
    replay.assert_quiet();
    assert_eq!(c.read("out/result.txt"), "one\n");

    // A miss runs, and nothing is written to the bucket.
    c.write("src/input.txt", "two\n");
    let miss = c.qik(".", &["build"], &[]);
    miss.assert_ran("build");
    miss.assert_quiet();
    assert_eq!(
        moto.keys(BUCKET),
        uploaded,
        "an anonymous cache never writes"
    );
}

#[test]
fn a_private_ca_is_trusted_through_aws_ca_bundle_or_ca_file() {
    let dir = tempfile::tempdir().unwrap();
    let certs = throwaway_ca(dir.path());
    let moto = Moto::start_tls(&certs.cert, &certs.key);
    let ca = certs.ca.display().to_string();
    let env = [
        ("AWS_ACCESS_KEY_ID", ACCESS_KEY),
        ("AWS_SECRET_ACCESS_KEY", SECRET_KEY),
    ];
    // qik never creates buckets; curl makes this one, over TLS.
    let status = std::process::Command::new("curl")
        .args(["-sS", "-f", "-X", "PUT", "--cacert", &ca])
        .arg(format!("{}/{BUCKET}", moto.endpoint()))
        .status()
        .expect("curl runs");
    assert!(status.success(), "bucket over TLS");

    // Without the CA the server is not trusted: one warning, still green.
    let a = project(&config(&moto.endpoint(), ""));
    let untrusted = a.qik(".", &["build"], &env);
    untrusted.assert_ok();
    untrusted.assert_ran("build");
    untrusted.assert_one_warning("certificate is not trusted");

    let mut with_bundle = env.to_vec();
    with_bundle.push(("AWS_CA_BUNDLE", &ca));
    let run = a.qik(".", &["build", "-f"], &with_bundle);
    run.assert_ok();
    run.assert_quiet();

    // The selected profile's `ca_bundle` in the AWS config file does too;
    // another profile's is not the selected one's.
    let aws = tempfile::tempdir().unwrap();
    let config_file = write(
        aws.path(),
        "config",
        &format!("[default]\nregion = us-east-1\n\n[profile tls]\nca_bundle = {ca}\n"),
    );
    let mut with_profile = env.to_vec();
    with_profile.extend([
        ("AWS_CONFIG_FILE", config_file.as_str()),
        ("AWS_PROFILE", "tls"),
    ]);
    let run = a.qik(".", &["build", "-f"], &with_profile);
    run.assert_ok();
    run.assert_quiet();
    with_profile.pop();
    let untrusted = a.qik(".", &["build", "-f"], &with_profile);
    untrusted.assert_ok();
    untrusted.assert_one_warning("certificate is not trusted");

    // `ca-file`, relative to qik.toml, does the same.
    let b = a.clone_repo();
    b.write("certs/ca.pem", &std::fs::read_to_string(&ca).unwrap());
    b.write(
        "qik.toml",
        &config(&moto.endpoint(), "ca-file = \"certs/ca.pem\""),
    );
    b.git_add();
    let replay = b.qik(".", &["build"], &env);
    replay.assert_cached("build");
    replay.assert_quiet();
}
