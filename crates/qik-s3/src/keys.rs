//! Object keys and entry paths, checked before anything is signed or written.
//!
//! A key goes into a URL that rusty-s3 signs; a `..` segment or a leading `/`
//! would let a crafted prefix reach objects outside the cache, and odd bytes
//! are escaped differently by different servers. So every key is built from
//! segments of a small safe set and checked as a whole before use.
//!
//! Paths inside a downloaded entry come from the remote, which may be hostile:
//! [`entry_relative`] accepts only plain relative paths of printable characters.

use std::path::PathBuf;

use qik_core::cache::EntryKey;

/// S3 keys are at most 1024 bytes.
const MAX_KEY: usize = 1024;
/// Longest artifact path accepted from a remote manifest.
const MAX_PATH: usize = 4096;

/// Why a key or prefix was refused.
#[derive(Debug, thiserror::Error)]
pub(crate) enum KeyError {
    #[error("`{0}` starts with `/`")]
    Leading(String),
    #[error("`{0}` has an empty segment (`//`)")]
    Empty(String),
    #[error("`{0}` has a `.` or `..` segment")]
    Dots(String),
    #[error("`{key}` contains {found:?}; use letters, digits and `!-_.*'()` between `/`")]
    Char { key: String, found: char },
    #[error("the object key is longer than {MAX_KEY} bytes")]
    TooLong,
}

/// The characters AWS documents as safe in keys, besides `/`.
fn safe_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!-_.*'()".contains(c)
}

/// Checks a `/`-separated key (or prefix) segment by segment.
pub(crate) fn check_key(key: &str) -> Result<(), KeyError> {
    if key.len() > MAX_KEY {
        return Err(KeyError::TooLong);
    }
    if key.starts_with('/') {
        return Err(KeyError::Leading(key.to_string()));
    }
    for segment in key.split('/') {
        if segment.is_empty() {
            return Err(KeyError::Empty(key.to_string()));
        }
        if segment == "." || segment == ".." {
            return Err(KeyError::Dots(key.to_string()));
        }
        if let Some(found) = segment.chars().find(|&c| !safe_char(c)) {
            return Err(KeyError::Char {
                key: key.to_string(),
                found,
            });
        }
    }
    Ok(())
}

/// Normalises a configured prefix: one trailing `/` is allowed (`"qik/"`), an
/// empty prefix means the bucket's root.
pub(crate) fn normalize_prefix(prefix: &str) -> Result<String, KeyError> {
    let trimmed = prefix.strip_suffix('/').unwrap_or(prefix);
    if trimmed.is_empty() && !prefix.is_empty() {
        return Err(KeyError::Leading(prefix.to_string()));
    }
    if !trimmed.is_empty() {
        check_key(trimmed)?;
    }
    Ok(trimmed.to_string())
}

/// Where one entry lives in the bucket:
/// `<prefix>/<command>-<digest8>/<entry id>/` holding `entry.json` (the seal,
/// written last) and `b/<blob name>` (content-addressed files).
///
/// Keys stay short (about 110 bytes past the prefix) because some
/// S3-compatible stores map keys to file names with a 255-byte limit: the
/// entry id is 128 bits of blake3 over command, runnable and hash (the seal
/// repeats all three in full and is checked against them), and a blob is
/// named by the first 128 bits of its blake3 digest (the seal pins all 256).
#[derive(Clone, Debug)]
pub(crate) struct Layout {
    base: String,
}

/// Hex characters of the entry id and of blob names.
const NAME_HEX: usize = 32;
/// Readable characters of the command kept in its key segment.
const COMMAND_CHARS: usize = 32;

impl Layout {
    pub(crate) fn new(prefix: &str, key: EntryKey<'_>) -> Result<Layout, KeyError> {
        let readable: String = key
            .command
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                    c
                } else {
                    '_'
                }
            })
            .take(COMMAND_CHARS)
            .collect();
        let command_digest = blake3::hash(key.command.as_bytes()).to_hex();
        let mut id = blake3::Hasher::new();
        // Lengths first, so no two triples of strings hash the same input.
        for part in [key.command, key.runnable, key.hash] {
            id.update(&(part.len() as u64).to_le_bytes());
            id.update(part.as_bytes());
        }
        let id = id.finalize().to_hex();
        let mut base = String::new();
        if !prefix.is_empty() {
            base.push_str(prefix);
            base.push('/');
        }
        base.push_str(&format!(
            "{readable}-{}/{}",
            &command_digest[..8],
            &id[..NAME_HEX]
        ));
        // The pieces are safe by construction (a command of only dots would
        // not be); check anyway, since this string is about to be signed.
        check_key(&base)?;
        Ok(Layout { base })
    }

    pub(crate) fn seal(&self) -> String {
        format!("{}/entry.json", self.base)
    }

    /// The prefix of every blob of the entry, for listing.
    pub(crate) fn blobs(&self) -> String {
        format!("{}/b/", self.base)
    }

    /// The key of a blob; `digest` must already be checked ([`is_digest`]).
    pub(crate) fn blob(&self, digest: &str) -> Result<String, KeyError> {
        let name = digest.get(..NAME_HEX).unwrap_or(digest);
        let key = format!("{}/b/{name}", self.base);
        check_key(&key)?;
        Ok(key)
    }
}

/// A lowercase hex blake3 digest.
pub(crate) fn is_digest(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// A path inside an entry as written by a remote: plain `/`-separated
/// segments, none empty, `.` or `..`, no leading `/`, no control characters
/// or backslashes. Stricter than core's `safe_relative`, on purpose.
pub(crate) fn entry_relative(path: &str) -> Option<PathBuf> {
    if path.is_empty() || path.len() > MAX_PATH || path.starts_with('/') {
        return None;
    }
    if path.chars().any(|c| c.is_control() || c == '\\') {
        return None;
    }
    let mut out = PathBuf::new();
    for segment in path.split('/') {
        if segment.is_empty() || segment == "." || segment == ".." {
            return None;
        }
        out.push(segment);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key<'a>(command: &'a str, runnable: &'a str, hash: &'a str) -> EntryKey<'a> {
        EntryKey {
            command,
            runnable,
            hash,
        }
    }

    #[test]
    fn keys_refuse_climbing_and_odd_bytes() {
        assert!(check_key("team/qik-cache").is_ok());
        assert!(check_key("a/b.c/(x)").is_ok());
        for bad in [
            "/abs", "a//b", "a/../b", "..", "a/./b", "a/", "a b", "a?b", "a#b", "a%2e", "é", "a\\b",
        ] {
            assert!(check_key(bad).is_err(), "{bad} must be refused");
        }
        assert!(matches!(
            check_key(&"a".repeat(MAX_KEY + 1)),
            Err(KeyError::TooLong)
        ));
    }

    #[test]
    fn prefixes_allow_one_trailing_slash() {
        assert_eq!(normalize_prefix("").unwrap(), "");
        assert_eq!(normalize_prefix("ci/").unwrap(), "ci");
        assert_eq!(normalize_prefix("ci/main").unwrap(), "ci/main");
        for bad in ["/", "/ci", "ci//", "../ci", "ci/./x", "ci x"] {
            assert!(normalize_prefix(bad).is_err(), "{bad} must be refused");
        }
    }

    #[test]
    fn layouts_are_short_distinct_and_safe() {
        let layout = Layout::new("ci", key("test", "test#app/users?x=1", "abc123")).unwrap();
        let seal = layout.seal();
        assert!(seal.starts_with("ci/test-"), "{seal}");
        assert!(seal.ends_with("/entry.json"), "{seal}");
        check_key(&seal).unwrap();
        let long = "x".repeat(300);
        let digest = "0".repeat(64);
        let blob = Layout::new("", key(&long, &long, &long))
            .unwrap()
            .blob(&digest)
            .unwrap();
        assert!(blob.len() < 120, "{blob}");
        assert!(blob.ends_with(&digest[..32]));
        let other = Layout::new("ci", key("test", "test#app/users?x=1", "abc124")).unwrap();
        assert_ne!(other.seal(), seal);
        // Moving text between the parts gives another entry.
        let a = Layout::new("", key("ab", "c", "h")).unwrap();
        let b = Layout::new("", key("a", "bc", "h")).unwrap();
        assert_ne!(a.blobs().split('/').nth(1), b.blobs().split('/').nth(1));
        assert!(Layout::new("", key("..", "t", "h")).is_ok());
    }

    #[test]
    fn entry_paths_stay_relative_and_printable() {
        assert_eq!(
            entry_relative("out/a.txt"),
            Some(PathBuf::from("out/a.txt"))
        );
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../x",
            "a/./b",
            "a//b",
            "a/",
            "a\u{1}b",
            "a\nb",
            "a\\..\\b",
        ] {
            assert_eq!(entry_relative(bad), None, "{bad:?} must be refused");
        }
    }

    #[test]
    fn digests_are_lowercase_hex() {
        assert!(is_digest(&"ab".repeat(32)));
        assert!(!is_digest(&"AB".repeat(32)));
        assert!(!is_digest("abc"));
        assert!(!is_digest(&format!("{}/", "a".repeat(63))));
    }
}
