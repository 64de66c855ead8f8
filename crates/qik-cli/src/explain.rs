//! `--explain` in words: why a runnable runs, or which entry it replays.

use qik_core::explain::{Change, Diff, EntryInfo, Reason, Via};

/// The first line says what happens and why; further lines (indented by
/// the caller) list the differences.
pub(crate) fn lines(reason: &Reason) -> Vec<String> {
    match reason {
        Reason::Hit { entry } => vec![format!(
            "replays entry {} (exit code {})",
            entry_name(entry),
            entry.code
        )],
        Reason::Remote { hash, cache } => vec![format!(
            "replays entry {} from cache `{cache}` (not downloaded yet)",
            short(hash)
        )],
        Reason::NotCached => {
            vec!["runs: never cached (cache `none`, or no deps of its own)".to_string()]
        }
        Reason::Forced => vec!["runs: forced (-f)".to_string()],
        Reason::NoEntry => vec!["runs: no earlier entry in its cache".to_string()],
        Reason::ReplayCheck => vec![
            "runs: what its cached run left outside the cache is gone (replay check)".to_string(),
        ],
        Reason::Unreadable { message } => {
            vec![format!("runs: its inputs cannot be read yet: {message}")]
        }
        Reason::NotKept { code, cache_when } => vec![format!(
            "runs: the last run with these inputs exited with code {code}, and cache-when = \"{cache_when}\" did not keep it"
        )],
        Reason::Changed { entry, diff } => {
            let mut out = vec![format!(
                "runs: inputs differ from entry {}",
                entry_name(entry)
            )];
            out.extend(diff_lines(diff));
            out
        }
    }
}

fn entry_name(entry: &EntryInfo) -> String {
    format!(
        "{} of cache `{}`, written {}",
        short(&entry.hash),
        entry.cache,
        utc(entry.created)
    )
}

fn short(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}

fn diff_lines(diff: &Diff) -> Vec<String> {
    let mut out = Vec::new();
    if diff.is_empty() {
        out.push("same inputs: the entry was made by another version of qik".to_string());
    }
    for file in &diff.files {
        let change = match file.change {
            Change::Added => "added",
            Change::Removed => "removed",
            Change::Changed => "changed",
        };
        let mut line = format!("{change:<8} {}", file.path);
        match &file.via {
            Some(Via::Glob { .. }) | None => {}
            Some(Via::Dotenv { .. }) => line.push_str(" (dotenv file of the space)"),
            Some(Via::Venv { .. }) => line.push_str(" (venv file of the space)"),
            Some(Via::Upstream { runnable, .. }) => {
                line.push_str(&format!(" (artifact of {runnable})"))
            }
            Some(Via::Load { file, why: None }) => {
                line.push_str(&format!(" (brought in by {file})"))
            }
            Some(Via::Load {
                file,
                why: Some(why),
            }) => line.push_str(&format!(" (brought in by {file}: {why})")),
        }
        out.push(line);
    }
    match (&diff.consts_removed[..], &diff.consts_added[..]) {
        ([old], [new]) => out.push(format!("const    {old:?} → {new:?}")),
        (removed, added) => {
            out.extend(removed.iter().map(|c| format!("const    {c:?} removed")));
            out.extend(added.iter().map(|c| format!("const    {c:?} added")));
        }
    }
    for pydist in &diff.pydists {
        let version = |v: &Option<String>| v.clone().unwrap_or_else(|| "absent".to_string());
        out.push(format!(
            "pydist   {} {} → {}",
            pydist.name,
            version(&pydist.old),
            version(&pydist.new)
        ));
    }
    if !diff.definition.is_empty() {
        if diff.definition == ["definition"] {
            out.push("definition changed".to_string());
        } else {
            out.push(format!(
                "definition: {} changed",
                diff.definition.join(", ")
            ));
        }
    }
    out
}

/// `YYYY-MM-DD HH:MM:SS UTC` from seconds since the Unix epoch.
pub(crate) fn utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rest = secs % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn several_constants_and_missing_versions_are_spelled_out() {
        use qik_core::explain::PydistChange;
        let diff = Diff {
            consts_added: vec!["b".into(), "c".into()],
            consts_removed: vec!["a".into()],
            pydists: vec![
                PydistChange {
                    name: "new".into(),
                    old: None,
                    new: Some("1.0".into()),
                },
                PydistChange {
                    name: "old".into(),
                    old: Some("2.0".into()),
                    new: None,
                },
            ],
            definition: vec!["definition".into()],
            ..Diff::default()
        };
        assert_eq!(
            diff_lines(&diff),
            [
                "const    \"a\" removed",
                "const    \"b\" added",
                "const    \"c\" added",
                "pydist   new absent → 1.0",
                "pydist   old 2.0 → absent",
                "definition changed",
            ]
        );
        assert_eq!(
            diff_lines(&Diff::default()),
            ["same inputs: the entry was made by another version of qik"]
        );
    }

    #[test]
    fn utc_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(utc(1_795_000_000), "2026-11-18 11:06:40 UTC");
    }
}
