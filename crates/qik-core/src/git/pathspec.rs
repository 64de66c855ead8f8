//! Git pathspecs: decides, without running git, which index paths `git ls-files -- <pathspec>` lists.
//!
//! The rules mirror git's `pathspec.c`, `dir.c` (`match_pathspec_item`) and `wildmatch.c`:
//!
//! * A pathspec is first compared literally: equal to the path, or naming one of its leading
//!   directories (`src` and `src/` both match `src/a/b.py`). This holds even when the pathspec has
//!   wildcards, so `a[1].txt` matches a file of that very name.
//! * Otherwise, if it has wildcards, the part before the first wildcard must be a literal prefix of
//!   the path and the rest is matched with wildmatch *without* `WM_PATHNAME`: `*`, `?` and bracket
//!   expressions all match `/` too, so `*.py` matches `a/b/c.py`.
//! * `:(glob)` switches to gitignore-like matching (`*`, `?` and `[...]` stop at `/`; `**/`, `/**/`
//!   and `/**` cross directories), `:(literal)` turns wildcards off, `:(icase)` folds ASCII case,
//!   `:(exclude)` / `:!` / `:^` drop the paths it matches, `:(top)` / `:/` anchors at the repo root.
//! * Patterns are relative to a base directory (the project's, like git's current directory) and
//!   normalised as git does: `./` and `//` vanish and `..` climbs, but never out of the repository.
//!   The base itself is always matched literally, even if its name holds wildcard characters.

use std::fmt;

use thiserror::Error;

/// Why a pathspec could not be compiled. git refuses the same pathspecs.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PathspecError {
    /// git rejects `""`; `.` is the way to say "everything".
    #[error("empty string is not a valid pathspec; use \".\" to match all paths")]
    Empty,
    /// A NUL byte can be in no path, and git could not even be given such an argument.
    #[error("pathspec {pattern:?} contains a NUL byte")]
    Nul {
        /// The pathspec as written, lossily decoded.
        pattern: String,
    },
    /// `..` climbed above the repository root.
    #[error("pathspec {pattern:?} is outside the repository")]
    OutsideRepository {
        /// The pathspec as written, lossily decoded.
        pattern: String,
    },
    /// Absolute paths depend on where the work tree is on disk, which a pathspec does not know.
    #[error("pathspec {pattern:?} is an absolute path; write it relative to the project")]
    Absolute {
        /// The pathspec as written, lossily decoded.
        pattern: String,
    },
    /// Malformed or unknown magic (`:(bogus)x`, `:(glob`, `:#x`), or `literal` with `glob`.
    #[error("invalid pathspec magic in {pattern:?}: {reason}")]
    InvalidMagic {
        /// The pathspec as written, lossily decoded.
        pattern: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Magic that git knows but qik does not implement (`attr:`, `prefix:`).
    #[error("pathspec magic {magic:?} in {pattern:?} is not supported")]
    UnsupportedMagic {
        /// The pathspec as written, lossily decoded.
        pattern: String,
        /// The magic word.
        magic: String,
    },
}

/// How a compiled pathspec decides, chosen once so that matching thousands of paths stays cheap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// An empty match string: the base directory (or the whole repository) itself.
    Everything,
    /// No wildcard: equal to the path or to one of its leading directories.
    Literal,
    /// Literal prefix, then `*`, then a literal suffix: git's `PATHSPEC_ONESTAR` fast path.
    OneStar,
    /// Anything else: the literal prefix, then wildmatch on the rest.
    Wild,
}

/// One compiled pathspec, matched against repo-relative paths as bytes (`/`-separated).
#[derive(Clone, PartialEq, Eq)]
pub struct Pathspec {
    /// The repo-relative match string (base prepended and normalised), as git's `item->match`.
    pattern: Box<[u8]>,
    /// How many leading bytes came from the base directory; compared case-sensitively even with `icase`.
    base_len: usize,
    /// Length of the leading part without wildcards (git's `nowildcard_len`).
    literal_len: usize,
    kind: Kind,
    glob: bool,
    icase: bool,
    exclude: bool,
}

impl fmt::Debug for Pathspec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pathspec")
            .field("pattern", &String::from_utf8_lossy(&self.pattern))
            .field("kind", &self.kind)
            .field("glob", &self.glob)
            .field("icase", &self.icase)
            .field("exclude", &self.exclude)
            .finish()
    }
}

#[derive(Debug, Default, Clone, Copy)]
struct Magic {
    top: bool,
    literal: bool,
    glob: bool,
    icase: bool,
    exclude: bool,
}

impl Pathspec {
    /// Compiles `pattern` as written relative to the repository root.
    pub fn new(pattern: &[u8]) -> Result<Self, PathspecError> {
        Self::with_base(pattern, b"")
    }

    /// Compiles `pattern` as written relative to `base`, a repo-relative directory such as
    /// `sub/proj` (empty for the root): the same as `git -C sub/proj ls-files -- <pattern>`.
    pub fn with_base(pattern: &[u8], base: &[u8]) -> Result<Self, PathspecError> {
        let lossy = || String::from_utf8_lossy(pattern).into_owned();
        if pattern.is_empty() {
            return Err(PathspecError::Empty);
        }
        if pattern.contains(&0) || base.contains(&0) {
            return Err(PathspecError::Nul { pattern: lossy() });
        }
        let (magic, rest) = parse_magic(pattern)?;
        if magic.literal && magic.glob {
            return Err(PathspecError::InvalidMagic {
                pattern: lossy(),
                reason: "'literal' and 'glob' are incompatible".into(),
            });
        }
        let (matched, base_len) = if magic.top {
            // git copies `:(top)` pathspecs verbatim: no base and no normalisation.
            (rest.to_vec(), 0)
        } else {
            if rest.first() == Some(&b'/') {
                return Err(PathspecError::Absolute { pattern: lossy() });
            }
            let base = normalize_base(base)
                .ok_or_else(|| PathspecError::OutsideRepository { pattern: lossy() })?;
            let mut joined = base.clone();
            joined.extend_from_slice(rest);
            let mut base_len = base.len();
            let normalized = normalize(&joined, &mut base_len)
                .ok_or_else(|| PathspecError::OutsideRepository { pattern: lossy() })?;
            (normalized, base_len)
        };
        Ok(Self::compile(matched, base_len, magic))
    }

    /// The implicit "everything below `base`" that git adds when all pathspecs are exclusions.
    fn everything_below(base: &[u8]) -> Result<Self, PathspecError> {
        Self::with_base(b".", base)
    }

    fn compile(pattern: Vec<u8>, base_len: usize, magic: Magic) -> Self {
        let base_len = base_len.min(pattern.len());
        let literal_len = if magic.literal {
            pattern.len()
        } else {
            // The base is never a wildcard, even if a directory is called `proj[1]`.
            simple_length(&pattern).max(base_len)
        };
        let kind = if pattern.is_empty() {
            Kind::Everything
        } else if literal_len == pattern.len() {
            Kind::Literal
        } else if !magic.glob
            && pattern[literal_len] == b'*'
            && simple_length(&pattern[literal_len + 1..]) == pattern.len() - literal_len - 1
        {
            Kind::OneStar
        } else {
            Kind::Wild
        };
        Self {
            pattern: pattern.into_boxed_slice(),
            base_len,
            literal_len,
            kind,
            glob: magic.glob,
            icase: magic.icase,
            exclude: magic.exclude,
        }
    }

    /// The repo-relative match string after the base was prepended and the path normalised.
    pub fn pattern(&self) -> &[u8] {
        &self.pattern
    }

    /// Whether this is an exclusion (`:!`, `:^`, `:(exclude)`).
    pub fn is_exclude(&self) -> bool {
        self.exclude
    }

    /// Whether the repo-relative `path` of a file matches, ignoring whether this is an exclusion.
    pub fn matches(&self, path: &[u8]) -> bool {
        self.matches_item(path, false)
    }

    /// git's `match_pathspec_item`; `is_dir` lets `sub/` match the gitlink entry `sub`.
    fn matches_item(&self, name: &[u8], is_dir: bool) -> bool {
        let m = &*self.pattern;
        if self.icase && self.base_len > 0 && !name.starts_with(&m[..self.base_len]) {
            return false;
        }
        if self.kind == Kind::Everything {
            return true;
        }
        if m.len() <= name.len() && self.eq(m, &name[..m.len()]) {
            if m.len() == name.len() || m[m.len() - 1] == b'/' || name[m.len()] == b'/' {
                return true;
            }
        } else if is_dir
            && m.last() == Some(&b'/')
            && name.len() == m.len() - 1
            && self.eq(&m[..name.len()], name)
        {
            return true;
        }
        match self.kind {
            Kind::Everything | Kind::Literal => false,
            Kind::OneStar | Kind::Wild => self.fnmatch(name),
        }
    }

    /// Bytes every path this pathspec selects starts with, compared exactly:
    /// callers with sorted paths match only the range that has this prefix.
    pub fn required_prefix(&self) -> &[u8] {
        let len = if self.icase {
            self.base_len
        } else {
            self.literal_len
        };
        &self.pattern[..len.min(self.pattern.len())]
    }

    /// git's `git_fnmatch`: a literal prefix compare, then the one-star suffix or wildmatch.
    fn fnmatch(&self, name: &[u8]) -> bool {
        let prefix = self.literal_len;
        if name.len() < prefix || !self.eq(&self.pattern[..prefix], &name[..prefix]) {
            return false;
        }
        let (pattern, text) = (&self.pattern[prefix..], &name[prefix..]);
        if self.kind == Kind::OneStar {
            let suffix = &pattern[1..];
            return text.len() >= suffix.len()
                && self.eq(suffix, &text[text.len() - suffix.len()..]);
        }
        let flags = WildFlags {
            pathname: self.glob,
            casefold: self.icase,
        };
        wildmatch(pattern, text, flags) == Wild::Match
    }

    fn eq(&self, a: &[u8], b: &[u8]) -> bool {
        if self.icase {
            a.eq_ignore_ascii_case(b)
        } else {
            a == b
        }
    }
}

/// Several pathspecs used together, as on one `git ls-files` command line: a path is selected if
/// any positive pathspec matches it and no exclusion does.
#[derive(Debug, Clone)]
pub struct PathspecSet {
    /// Positive pathspecs with their index among the patterns given.
    includes: Vec<(usize, Pathspec)>,
    excludes: Vec<Pathspec>,
}

impl PathspecSet {
    /// Compiles `patterns`, each relative to `base` (a repo-relative directory, empty for the root).
    ///
    /// As in git, a set made only of exclusions selects everything below `base` except what they
    /// exclude; [`which`](Self::which) reports that implicit pathspec as index `patterns.len()`.
    /// Unlike `git ls-files` without arguments, an empty set selects nothing.
    pub fn new<I>(patterns: I, base: &[u8]) -> Result<Self, PathspecError>
    where
        I: IntoIterator,
        I::Item: AsRef<[u8]>,
    {
        let mut includes = Vec::new();
        let mut excludes = Vec::new();
        let mut count = 0;
        for (i, pattern) in patterns.into_iter().enumerate() {
            let spec = Pathspec::with_base(pattern.as_ref(), base)?;
            if spec.exclude {
                excludes.push(spec);
            } else {
                includes.push((i, spec));
            }
            count = i + 1;
        }
        if includes.is_empty() && !excludes.is_empty() {
            includes.push((count, Pathspec::everything_below(base)?));
        }
        Ok(Self { includes, excludes })
    }

    /// The [`Pathspec::required_prefix`] of each positive pathspec: a selected
    /// path starts with one of them.
    pub fn required_prefixes(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.includes.iter().map(|(_, spec)| spec.required_prefix())
    }

    /// Whether any pathspec of the set is an exclusion.
    pub fn has_excludes(&self) -> bool {
        !self.excludes.is_empty()
    }

    /// Whether the `n`th positive pathspec (in [`required_prefixes`]
    /// order) selects `path` and no exclusion removes it: a set's matches
    /// are the union of these, so a caller that finds candidates by each
    /// pattern's prefix only tests that pattern.
    ///
    /// [`required_prefixes`]: Self::required_prefixes
    pub fn matches_nth(&self, n: usize, path: &[u8]) -> bool {
        self.includes[n].1.matches_item(path, false)
            && !self
                .excludes
                .iter()
                .any(|spec| spec.matches_item(path, false))
    }

    /// Whether `git ls-files` would list the file at the repo-relative `path`.
    pub fn matches(&self, path: &[u8]) -> bool {
        self.find(path, false).is_some()
    }

    /// Like [`matches`](Self::matches) for a gitlink (submodule) entry, which git treats as a
    /// directory: `sub/` matches the entry `sub` too.
    pub fn matches_dir(&self, path: &[u8]) -> bool {
        self.find(path, true).is_some()
    }

    /// The index (in the order given) of the first positive pattern that selects the file at `path`,
    /// or `None` if it is not selected.
    pub fn which(&self, path: &[u8]) -> Option<usize> {
        self.find(path, false)
    }

    fn find(&self, path: &[u8], is_dir: bool) -> Option<usize> {
        let (index, _) = self
            .includes
            .iter()
            .find(|(_, spec)| spec.matches_item(path, is_dir))?;
        // Exclusions are only consulted for paths already selected, as in git's do_match_pathspec.
        if self
            .excludes
            .iter()
            .any(|spec| spec.matches_item(path, is_dir))
        {
            return None;
        }
        Some(*index)
    }
}

/// Splits the magic prefix off `elem`, as git's `parse_element_magic`.
fn parse_magic(elem: &[u8]) -> Result<(Magic, &[u8]), PathspecError> {
    let mut magic = Magic::default();
    if elem.first() != Some(&b':') {
        return Ok((magic, elem));
    }
    let invalid = |reason: String| PathspecError::InvalidMagic {
        pattern: String::from_utf8_lossy(elem).into_owned(),
        reason,
    };
    if elem.get(1) == Some(&b'(') {
        let mut pos = 2;
        while pos < elem.len() && elem[pos] != b')' {
            let len = strcspn_escaped(&elem[pos..], b",)");
            let word = &elem[pos..pos + len];
            pos += len;
            if elem.get(pos) == Some(&b',') {
                pos += 1;
            }
            match word {
                b"" => {}
                b"top" => magic.top = true,
                b"literal" => magic.literal = true,
                b"glob" => magic.glob = true,
                b"icase" => magic.icase = true,
                b"exclude" => magic.exclude = true,
                _ if word.starts_with(b"attr:") || word.starts_with(b"prefix:") => {
                    return Err(PathspecError::UnsupportedMagic {
                        pattern: String::from_utf8_lossy(elem).into_owned(),
                        magic: String::from_utf8_lossy(word).into_owned(),
                    });
                }
                _ => {
                    return Err(invalid(format!(
                        "unknown magic '{}'",
                        String::from_utf8_lossy(word)
                    )));
                }
            }
        }
        if elem.get(pos) != Some(&b')') {
            return Err(invalid("missing ')' at the end of the magic".into()));
        }
        return Ok((magic, &elem[pos + 1..]));
    }
    let mut pos = 1;
    while let Some(&ch) = elem.get(pos) {
        match ch {
            b':' => {
                pos += 1;
                break;
            }
            b'/' => magic.top = true,
            b'!' | b'^' => magic.exclude = true,
            _ if is_pathspec_magic(ch) => {
                return Err(invalid(format!("unimplemented magic '{}'", char::from(ch))));
            }
            _ => break,
        }
        pos += 1;
    }
    Ok((magic, &elem[pos..]))
}

/// git's `GIT_PATHSPEC_MAGIC` character class: punctuation that may one day be short magic.
fn is_pathspec_magic(ch: u8) -> bool {
    b"!\"#%&',-/:;<=>@_`~".contains(&ch)
}

/// Length of the prefix of `s` that has no byte in `stop`, skipping backslash-escaped bytes.
fn strcspn_escaped(s: &[u8], stop: &[u8]) -> usize {
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'\\' && i + 1 < s.len() {
            i += 2;
            continue;
        }
        if stop.contains(&s[i]) {
            break;
        }
        i += 1;
    }
    i.min(s.len())
}

fn is_glob_special(c: u8) -> bool {
    matches!(c, b'*' | b'?' | b'[' | b'\\')
}

/// Length of the leading part of `s` without wildcard characters (git's `simple_length`).
fn simple_length(s: &[u8]) -> usize {
    s.iter()
        .position(|&c| is_glob_special(c))
        .unwrap_or(s.len())
}

/// Normalises a base directory to `""` or `"dir/"`; `None` if it climbs out of the repository.
fn normalize_base(base: &[u8]) -> Option<Vec<u8>> {
    let mut unused = 0;
    let mut base = normalize(base, &mut unused)?;
    if !base.is_empty() && base.last() != Some(&b'/') {
        base.push(b'/');
    }
    Some(base)
}

/// git's `normalize_path_copy_len` for relative paths: squashes `//`, drops `.` components and
/// resolves `..`, shortening `*prefix_len` when `..` climbs into the prefix. A trailing `/` is
/// kept. `None` when `..` would leave the root.
fn normalize(src: &[u8], prefix_len: &mut usize) -> Option<Vec<u8>> {
    let mut dst: Vec<u8> = Vec::with_capacity(src.len());
    let at = |i: usize| src.get(i).copied().unwrap_or(0);
    let mut i = 0;
    while at(i) == b'/' {
        i += 1;
    }
    loop {
        if at(i) == b'.' {
            let up = match at(i + 1) {
                0 => {
                    i += 1;
                    false
                }
                b'/' => {
                    i += 2;
                    while at(i) == b'/' {
                        i += 1;
                    }
                    continue;
                }
                b'.' if at(i + 2) == 0 => {
                    i += 2;
                    true
                }
                b'.' if at(i + 2) == b'/' => {
                    i += 3;
                    while at(i) == b'/' {
                        i += 1;
                    }
                    true
                }
                _ => false,
            };
            if up {
                // Drop the trailing '/' and the component before it; with none, `..` left the root.
                dst.pop()?;
                while dst.last().is_some_and(|&c| c != b'/') {
                    dst.pop();
                }
                *prefix_len = (*prefix_len).min(dst.len());
                continue;
            }
        }
        // Copy up to the next '/', then squash a run of slashes into one.
        while i < src.len() && src[i] != b'/' {
            dst.push(src[i]);
            i += 1;
        }
        if i >= src.len() {
            break;
        }
        dst.push(b'/');
        while at(i) == b'/' {
            i += 1;
        }
    }
    Some(dst)
}

/// wildmatch's result; the two aborts let a failed `*` stop outer `*` loops early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wild {
    Match,
    NoMatch,
    AbortAll,
    AbortToStarStar,
}

#[derive(Debug, Clone, Copy)]
struct WildFlags {
    /// `WM_PATHNAME`: wildcards other than `**` do not match `/`.
    pathname: bool,
    /// `WM_CASEFOLD`: ASCII case-insensitive.
    casefold: bool,
}

/// A port of git's `wildmatch.c` over byte slices; a missing byte plays the C string's NUL.
///
/// Quirks are kept on purpose: the `**` rules look at the start of the slice given, which is the
/// pattern after its literal prefix (so `:(glob)foo**/bar` acts like `foo` + `**/bar`), and with
/// case folding an escaped or bracketed letter is still compared as written.
fn wildmatch(p: &[u8], text: &[u8], flags: WildFlags) -> Wild {
    let pat = |i: usize| p.get(i).copied().unwrap_or(0);
    let txt = |i: usize| text.get(i).copied().unwrap_or(0);
    let fold = |c: u8| {
        if flags.casefold {
            c.to_ascii_lowercase()
        } else {
            c
        }
    };
    let (mut pi, mut ti) = (0usize, 0usize);
    while pat(pi) != 0 {
        let mut t_ch = txt(ti);
        let mut p_ch = pat(pi);
        if t_ch == 0 && p_ch != b'*' {
            return Wild::AbortAll;
        }
        t_ch = fold(t_ch);
        p_ch = fold(p_ch);
        match p_ch {
            b'?' => {
                if flags.pathname && t_ch == b'/' {
                    return Wild::NoMatch;
                }
            }
            b'*' => {
                pi += 1;
                let match_slash;
                if pat(pi) == b'*' {
                    let star_start = pi - 1;
                    while pat(pi) == b'*' {
                        pi += 1;
                    }
                    if !flags.pathname {
                        match_slash = true;
                    } else if (star_start == 0 || p[star_start - 1] == b'/')
                        && (pat(pi) == 0
                            || pat(pi) == b'/'
                            || (pat(pi) == b'\\' && pat(pi + 1) == b'/'))
                    {
                        // `**/` may match no directory at all: try the rest right here.
                        if pat(pi) == b'/'
                            && wildmatch(&p[pi + 1..], &text[ti..], flags) == Wild::Match
                        {
                            return Wild::Match;
                        }
                        match_slash = true;
                    } else {
                        match_slash = false;
                    }
                } else {
                    match_slash = !flags.pathname;
                }
                let rest = &text[ti.min(text.len())..];
                if pat(pi) == 0 {
                    // A trailing `**` matches everything, a trailing `*` only within one component.
                    if !match_slash && rest.contains(&b'/') {
                        return Wild::NoMatch;
                    }
                    return Wild::Match;
                } else if !match_slash && pat(pi) == b'/' {
                    // One `*` then `/` under WM_PATHNAME: skip to the next '/', matched below.
                    match rest.iter().position(|&c| c == b'/') {
                        Some(slash) => ti += slash,
                        None => return Wild::NoMatch,
                    }
                    pi += 1;
                    ti += 1;
                    continue;
                }
                loop {
                    if t_ch == 0 {
                        break;
                    }
                    // A literal after the star must appear in the text: jump to its next occurrence.
                    if !is_glob_special(pat(pi)) {
                        let want = fold(pat(pi));
                        loop {
                            t_ch = txt(ti);
                            if t_ch == 0 || (!match_slash && t_ch == b'/') {
                                break;
                            }
                            t_ch = fold(t_ch);
                            if t_ch == want {
                                break;
                            }
                            ti += 1;
                        }
                        if t_ch != want {
                            return Wild::NoMatch;
                        }
                    }
                    let matched = wildmatch(&p[pi..], &text[ti..], flags);
                    if matched != Wild::NoMatch {
                        if !match_slash || matched != Wild::AbortToStarStar {
                            return matched;
                        }
                    } else if !match_slash && t_ch == b'/' {
                        return Wild::AbortToStarStar;
                    }
                    ti += 1;
                    t_ch = txt(ti);
                }
                return Wild::AbortAll;
            }
            b'[' => {
                pi += 1;
                p_ch = pat(pi);
                if p_ch == b'^' {
                    p_ch = b'!';
                }
                let negated = p_ch == b'!';
                if negated {
                    pi += 1;
                    p_ch = pat(pi);
                }
                let mut prev_ch = 0u8;
                let mut matched = false;
                loop {
                    if p_ch == 0 {
                        return Wild::AbortAll;
                    }
                    if p_ch == b'\\' {
                        pi += 1;
                        p_ch = pat(pi);
                        if p_ch == 0 {
                            return Wild::AbortAll;
                        }
                        if t_ch == p_ch {
                            matched = true;
                        }
                    } else if p_ch == b'-'
                        && prev_ch != 0
                        && pat(pi + 1) != 0
                        && pat(pi + 1) != b']'
                    {
                        pi += 1;
                        p_ch = pat(pi);
                        if p_ch == b'\\' {
                            pi += 1;
                            p_ch = pat(pi);
                            if p_ch == 0 {
                                return Wild::AbortAll;
                            }
                        }
                        if (prev_ch..=p_ch).contains(&t_ch)
                            || (flags.casefold
                                && t_ch.is_ascii_lowercase()
                                && (prev_ch..=p_ch).contains(&t_ch.to_ascii_uppercase()))
                        {
                            matched = true;
                        }
                        p_ch = 0; // so that `prev_ch` becomes 0: a range cannot start a range
                    } else if p_ch == b'[' && pat(pi + 1) == b':' {
                        let start = pi + 2;
                        pi = start;
                        while pat(pi) != 0 && pat(pi) != b']' {
                            pi += 1;
                        }
                        if pat(pi) == 0 {
                            return Wild::AbortAll;
                        }
                        if pi == start || p[pi - 1] != b':' {
                            // No closing ":]": the '[' is an ordinary member of the set.
                            pi = start - 2;
                            p_ch = b'[';
                            if t_ch == p_ch {
                                matched = true;
                            }
                        } else {
                            match char_class(&p[start..pi - 1], t_ch, flags.casefold) {
                                Some(true) => matched = true,
                                Some(false) => {}
                                None => return Wild::AbortAll,
                            }
                            p_ch = 0;
                        }
                    } else if t_ch == p_ch {
                        matched = true;
                    }
                    prev_ch = p_ch;
                    pi += 1;
                    p_ch = pat(pi);
                    if p_ch == b']' {
                        break;
                    }
                }
                if matched == negated || (flags.pathname && t_ch == b'/') {
                    return Wild::NoMatch;
                }
            }
            _ => {
                if p_ch == b'\\' {
                    // An escaped byte is compared as written, even when folding case.
                    pi += 1;
                    p_ch = pat(pi);
                }
                if t_ch != p_ch {
                    return Wild::NoMatch;
                }
            }
        }
        pi += 1;
        ti += 1;
    }
    if ti < text.len() {
        Wild::NoMatch
    } else {
        Wild::Match
    }
}

/// `[:name:]` classes with git's ASCII-only ctype; `None` for an unknown class name.
fn char_class(name: &[u8], c: u8, casefold: bool) -> Option<bool> {
    Some(match name {
        b"alnum" => c.is_ascii_alphanumeric(),
        b"alpha" => c.is_ascii_alphabetic(),
        b"blank" => c == b' ' || c == b'\t',
        b"cntrl" => c.is_ascii_control(),
        b"digit" => c.is_ascii_digit(),
        b"graph" => c.is_ascii_graphic(),
        b"lower" => c.is_ascii_lowercase(),
        b"print" => c.is_ascii_graphic() || c == b' ',
        b"punct" => c.is_ascii_punctuation(),
        // git's own isspace() leaves out \v and \f.
        b"space" => matches!(c, b' ' | b'\t' | b'\n' | b'\r'),
        b"upper" => c.is_ascii_uppercase() || (casefold && c.is_ascii_lowercase()),
        b"xdigit" => c.is_ascii_hexdigit(),
        _ => return None,
    })
}

#[cfg(all(test, unix))]
mod tests {
    use std::collections::BTreeSet;
    use std::path::Path;

    use super::*;
    use crate::git::testutil::{self, Fixture};

    /// Single pathspecs checked from the repository root. Every entry is compared with git.
    const ROOT_PATTERNS: &[&str] = &[
        // Plain paths, directory prefixes and normalisation.
        "a.py",
        "a",
        "a/",
        "b.py",
        "src",
        "src/",
        "./src",
        "src/.",
        "src/./util",
        "src//util",
        "src/util/..",
        "src/../a.py",
        "deep/a/../x.py",
        "src/util",
        "src/util/",
        "srcfile",
        "Docs",
        "docs",
        "docs/",
        ".",
        "./",
        ".hidden",
        ".config",
        "link",
        "link/",
        "run.sh",
        "deleted.py",
        "src/util/gone.py",
        "ita.py",
        "nonexistent",
        "nothing/*",
        "*.nothing",
        "UPPER.PY",
        "..",
        "../x",
        "sub/../..",
        "",
        "/abs",
        // `*` crosses '/' and `**` is just `*`.
        "*.py",
        "**.py",
        "*.pyc",
        "*.PY",
        "a*",
        "*",
        "**",
        "*/",
        "*/*",
        "*/*/*/*/*",
        "**/*.py",
        "**/",
        "src/*",
        "src/**",
        "src/*.py",
        "src*",
        "deep/**/d.py",
        "deep/**/c",
        "deep/**/a/b/**/d.py",
        "deep/*/b",
        "deep/*/c/*",
        "**/c/*",
        "*/c/*",
        "deep/a/**",
        "*.md",
        "*/*.md",
        "*.MD",
        "docs/*",
        "src/ita*",
        ".*",
        "*/.*",
        ".github/**/*.yml",
        "readme*",
        "README*",
        "R*",
        // `?` and bracket expressions, which cross '/' too.
        "src?",
        "src?main.py",
        "src?util/*",
        "?.py",
        "??.py",
        "???",
        "[ab].py",
        "[a-b].py",
        "[!a].py",
        "[^a].py",
        "[]]*",
        "[a-]*",
        "*[[:upper:]]*",
        "[[:digit:]]*",
        "*[[:space:]]*",
        "*[[:punct:]]name.txt",
        "[[:bogus:]]*",
        "src[/]main.py",
        "src[!a]main.py",
        "brackets/[abc].txt",
        "brackets/[[]abc].txt",
        "brackets/\\[abc\\].txt",
        "brackets/[!x].txt",
        "brackets/[",
        "brackets/[ab",
        "brackets/]*",
        "[[]*",
        // Escapes.
        "star*name.txt",
        "star\\*name.txt",
        "star\\*",
        "q?mark.txt",
        "q\\?mark.txt",
        "back\\slash.txt",
        "back\\\\slash.txt",
        "back\\",
        "\\",
        "*\\",
        "\\a.py",
        // Awkward names.
        "with space",
        "with space/",
        "with space/file name.txt",
        "with*name*",
        "* *",
        "quote\"d.txt",
        "single'quote.txt",
        "*'*",
        "ünïcödé",
        "ünïcödé/文件.py",
        "*文件*",
        "emoji*",
        "*😀*",
        "?moji😀.md",
        "-dash.txt",
        "colon:name.txt",
        "paren(1).txt",
        "paren(*",
        "hash#name.txt",
        "comma,name.txt",
        "tab\there.txt",
        "new\nline.txt",
        "*\n*",
        "*\t*",
        ":leading-colon.txt",
        "::leading-colon.txt",
        ":(top):leading-colon.txt",
        "sub",
        "sub/proj",
        "sub/proj[1]",
        "sub/proj[1]/*",
        "sub/proj?1?/*",
        "sub/proj*",
        "sub/*/lib",
        "sub/**/x.py",
        // :(glob): gitignore-like stars.
        ":(glob)*.py",
        ":(glob)**.py",
        ":(glob)**/*.py",
        ":(glob)*",
        ":(glob)*/",
        ":(glob)**",
        ":(glob)**/",
        ":(glob)src/*",
        ":(glob)src/**",
        ":(glob)src/**/",
        ":(glob)src/**/*.py",
        ":(glob)**/util/**",
        ":(glob)deep/**/d.py",
        ":(glob)deep/**/c",
        ":(glob)deep/**/**/d.py",
        ":(glob)deep**/x.py",
        ":(glob)de**/x.py",
        ":(glob)?.py",
        ":(glob)src?main.py",
        ":(glob)[a-b].py",
        ":(glob)src[/]main.py",
        ":(glob)src*/*.py",
        ":(glob)*/*.py",
        ":(glob)sub/proj[1]/*",
        ":(glob)sub/proj\\[1\\]/*",
        ":(glob)\\**",
        ":(glob)src",
        ":(glob)src/",
        ":(glob)*/**/e.txt",
        ":(glob)deep/a/**/",
        ":(glob)**/*\\/**",
        // :(literal), :(icase) and combinations.
        ":(literal)*",
        ":(literal)star*name.txt",
        ":(literal)brackets/[abc].txt",
        ":(literal)src",
        ":(literal)src/",
        ":(literal)q?mark.txt",
        ":(literal)back\\slash.txt",
        ":(literal)./src/../a.py",
        ":(icase)docs",
        ":(icase)*.md",
        ":(icase)readme*",
        ":(icase)upper.py",
        ":(icase)SRC/*.PY",
        ":(icase)[A-Z]*",
        ":(icase)[a]*",
        ":(icase)\\a.py",
        ":(glob,icase)DOCS/**",
        ":(literal,icase)README.MD",
        ":(icase)[[:upper:]]*",
        ":(icase)*[[:upper:]].md",
        // Exclusions alone (git adds an implicit "."), top, and malformed magic.
        ":!*.py",
        ":^src",
        ":(exclude)*.md",
        ":!",
        ":/src",
        ":/a.py",
        ":(top)a.py",
        ":/./a.py",
        ":/src/../a.py",
        "::a.py",
        ":",
        ":(glob)",
        ":(literal)",
        ":( glob)x",
        ":(glob,literal)x",
        ":(bogus)x",
        ":(glob",
        ":#x",
        ":-x",
        ":(,glob,,)*.py",
        ":(glob)(x)",
        ":/!*.py",
        ":!/*.md",
    ];

    /// Single pathspecs checked from subdirectories, as if the project lived there.
    const SUBDIR_PATTERNS: &[(&str, &[&str])] = &[
        (
            "sub/proj",
            &[
                "*.py",
                "*",
                ".",
                "./",
                "..",
                "../",
                "../*.py",
                "../other.py",
                "../proj2",
                "../proj2/*",
                "../proj[1]/*",
                "../../a.py",
                "../../*.md",
                "../../..",
                "../../../x",
                "lib",
                "lib/",
                "lib/*",
                "main.py",
                ":/a.py",
                ":(top)src",
                ":/*.md",
                ":!*.csv",
                ":!lib",
                ":(glob)*",
                ":(glob)**/*.py",
                ":(icase)MAIN.PY",
                ":(literal)*",
                "*.csv",
                ".env",
                ".*",
                "../**/x.py",
                "x.py",
                "../proj/lib/../main.py",
                "?ib/x.py",
            ],
        ),
        (
            "sub/proj[1]",
            &[
                "*",
                "*.py",
                "w.py",
                "[w].py",
                "..",
                "../proj[1]/*",
                ":(glob)*",
                ":(icase)W.PY",
                ":!*.txt",
                ".",
                ":(icase)*",
            ],
        ),
        ("with space", &["*", "file name.txt", "../*.py", "*e*"]),
        ("ünïcödé", &["*", "文件.py", "../ünïcödé/*"]),
    ];

    /// Several pathspecs on one command line.
    const SETS: &[(&str, &[&str])] = &[
        ("", &["*.py", ":!src/**"]),
        ("", &["src", "docs", ":!*.md"]),
        ("", &["*.py", ":!*"]),
        ("", &["a.py", "a.py"]),
        ("", &["src/util/*", ":!*.json"]),
        ("", &["src/util/*", ":!*.pyc"]),
        ("", &[":!*.py", ":!*.md"]),
        ("", &["*.txt", "*.md", ":(exclude,glob)*/*"]),
        ("", &["deep", ":!deep/a/b"]),
        ("", &["deep", ":(exclude)deep/a/b/"]),
        ("", &["*", ":(exclude,icase)*.PY"]),
        ("", &[":(glob)*", ":(glob)*/*.py"]),
        ("", &["brackets", ":!brackets/[abc].txt"]),
        ("", &["src", ":(exclude,literal)src/util"]),
        ("sub/proj", &["*", ":!*.py"]),
        ("sub/proj", &[":!lib"]),
        ("sub/proj", &["..", ":!../proj2", ":(exclude)*.csv"]),
        ("sub/proj", &["../..", ":/!src"]),
    ];

    /// A positive pathspec that matches nothing and has no literal prefix. git's `ls-files`
    /// compares exclusions only after the directory prefix all positive pathspecs share, which
    /// drops everything when an exclusion does not start with that prefix (`src/util/*` with
    /// `:!*.pyc` lists nothing). Adding this empties the shared prefix, so git then shows what
    /// the pathspecs mean.
    const NO_COMMON_PREFIX: &[u8] = b":/*qik-no-such-path*";

    /// xorshift64*: deterministic, so a failure names a reproducible pattern.
    struct Rng(u64);

    impl Rng {
        fn below(&mut self, n: usize) -> usize {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % n
        }
    }

    fn as_bytes<'a>(patterns: &[&'a str]) -> Vec<&'a [u8]> {
        patterns.iter().map(|p| p.as_bytes()).collect()
    }

    /// What git lists for `patterns` run from `cwd`, working around the exclusion prefix bug.
    fn git_lists(root: &Path, cwd: &str, patterns: &[&[u8]]) -> Option<BTreeSet<Vec<u8>>> {
        let mut args = patterns.to_vec();
        let has_exclude = patterns
            .iter()
            .any(|p| Pathspec::with_base(p, cwd.as_bytes()).is_ok_and(|s| s.is_exclude()));
        if has_exclude {
            if args
                .iter()
                .all(|p| Pathspec::with_base(p, cwd.as_bytes()).is_ok_and(|s| s.is_exclude()))
            {
                // What git adds implicitly, made explicit so that the workaround does not replace it.
                args.push(b".");
            }
            args.push(NO_COMMON_PREFIX);
        }
        testutil::ls_files(&root.join(cwd), &args)
    }

    fn all_paths(root: &Path) -> Vec<Vec<u8>> {
        testutil::nul_set(&testutil::run(root, &["ls-files", "-z"]))
            .into_iter()
            .collect()
    }

    fn show(set: &BTreeSet<Vec<u8>>) -> Vec<String> {
        set.iter()
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .collect()
    }

    /// Compares our selection with git's; returns a description of any difference.
    fn compare(
        root: &Path,
        paths: &[Vec<u8>],
        cwd: &str,
        patterns: &[&[u8]],
        git: Option<BTreeSet<Vec<u8>>>,
    ) -> Option<String> {
        let shown: Vec<_> = patterns
            .iter()
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .collect();
        let ours = PathspecSet::new(patterns, cwd.as_bytes()).map(|set| {
            paths
                .iter()
                .filter(|p| set.matches(p))
                .cloned()
                .collect::<BTreeSet<_>>()
        });
        let _ = root;
        match (git, ours) {
            (Some(git), Ok(ours)) if git == ours => None,
            (Some(git), Ok(ours)) => Some(format!(
                "{shown:?} from {cwd:?}: only git: {:?}, only qik: {:?}",
                show(&git.difference(&ours).cloned().collect()),
                show(&ours.difference(&git).cloned().collect()),
            )),
            (None, Err(_)) => None,
            (Some(git), Err(err)) => Some(format!(
                "{shown:?} from {cwd:?}: qik refused ({err}) but git lists {:?}",
                show(&git)
            )),
            (None, Ok(ours)) => Some(format!(
                "{shown:?} from {cwd:?}: git refused but qik lists {:?}",
                show(&ours)
            )),
        }
    }

    fn assert_no_mismatch(mismatches: Vec<String>) {
        assert!(
            mismatches.is_empty(),
            "{} mismatches with git:\n{}",
            mismatches.len(),
            mismatches.join("\n")
        );
    }

    #[test]
    fn single_patterns_from_root_match_git() {
        let fixture = Fixture::new();
        let root = fixture.root();
        let paths = all_paths(root);
        assert!(
            paths.len() >= 60,
            "fixture has only {} entries",
            paths.len()
        );
        let mut mismatches = Vec::new();
        for pattern in ROOT_PATTERNS {
            let patterns = [pattern.as_bytes()];
            let git = testutil::ls_files(root, &patterns);
            mismatches.extend(compare(root, &paths, "", &patterns, git));
        }
        assert_no_mismatch(mismatches);
    }

    #[test]
    fn single_patterns_from_subdirectories_match_git() {
        let fixture = Fixture::new();
        let root = fixture.root();
        let paths = all_paths(root);
        let mut mismatches = Vec::new();
        for (cwd, patterns) in SUBDIR_PATTERNS {
            for pattern in *patterns {
                let patterns = [pattern.as_bytes()];
                let git = git_lists(root, cwd, &patterns);
                mismatches.extend(compare(root, &paths, cwd, &patterns, git));
            }
        }
        assert_no_mismatch(mismatches);
    }

    #[test]
    fn pattern_sets_match_git() {
        let fixture = Fixture::new();
        let root = fixture.root();
        let paths = all_paths(root);
        let mut mismatches = Vec::new();
        for (cwd, patterns) in SETS {
            let patterns = as_bytes(patterns);
            let git = git_lists(root, cwd, &patterns);
            mismatches.extend(compare(root, &paths, cwd, &patterns, git));
        }
        assert_no_mismatch(mismatches);
    }

    /// Random pathspecs built from wildcard and name fragments, each compared with git.
    #[test]
    fn random_patterns_match_git() {
        const MAGIC: &[&str] = &[
            "",
            "",
            "",
            "",
            ":(glob)",
            ":(glob)",
            ":(icase)",
            ":(literal)",
            ":!",
            ":(glob,icase)",
            ":/",
        ];
        const TOKENS: &[&str] = &[
            "*",
            "*",
            "**",
            "?",
            "/",
            "/",
            "[a-c]",
            "[!a]",
            "[]a]",
            "[[:alpha:]]",
            "\\*",
            "\\",
            ".",
            "..",
            "a",
            "b",
            "c",
            "py",
            ".py",
            "src",
            "deep",
            "sub",
            "proj",
            "[",
            "x",
            " ",
            "util",
            "d",
            "e",
            "txt",
            "md",
            "**/",
            "/**",
            "[1]",
            "S",
            "\\[",
            "ü",
        ];
        let fixture = Fixture::new();
        let root = fixture.root();
        let paths = all_paths(root);
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut next = |n: usize| rng.below(n);
        let mut mismatches = Vec::new();
        for round in 0..400 {
            let mut pattern = MAGIC[next(MAGIC.len())].to_owned();
            for _ in 0..1 + next(6) {
                pattern.push_str(TOKENS[next(TOKENS.len())]);
            }
            let cwd = if round % 3 == 0 { "sub/proj" } else { "" };
            let patterns = [pattern.as_bytes()];
            let git = git_lists(root, cwd, &patterns);
            mismatches.extend(compare(root, &paths, cwd, &patterns, git));
        }
        assert_no_mismatch(mismatches);
    }

    /// Random pathspecs made by mutating real paths, so that many of them match something.
    #[test]
    fn mutated_paths_match_git() {
        const MAGIC: &[&str] = &["", "", "", ":(glob)", ":(icase)", ":(literal)", ":!", ":/"];
        let fixture = Fixture::new();
        let root = fixture.root();
        let paths = all_paths(root);
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        let mut mismatches = Vec::new();
        let (mut matched, mut total) = (0, 0);
        for round in 0..400 {
            let path = String::from_utf8_lossy(&paths[rng.below(paths.len())]).into_owned();
            let mut chars: Vec<String> = path.chars().map(String::from).collect();
            for _ in 0..1 + rng.below(3) {
                let len = chars.len();
                let at = rng.below(len);
                match rng.below(8) {
                    0 => chars[at] = "?".into(),
                    1 => chars[at] = format!("[{}]", chars[at]),
                    2 => chars[at] = format!("[!{}]", chars[at]),
                    3 => chars[at] = "[a-z]".into(),
                    4 => chars[at] = format!("\\{}", chars[at]),
                    5 => {
                        let end = (at + rng.below(6)).min(len);
                        let star = if rng.below(2) == 0 { "*" } else { "**" };
                        chars.splice(at..end, [star.to_owned()]);
                    }
                    6 => {
                        // Keep only the leading directories, with or without a trailing '/'.
                        if let Some(slash) = chars[..at].iter().rposition(|c| c == "/") {
                            chars.truncate(slash + rng.below(2));
                        }
                    }
                    _ => {
                        let lead = if rng.below(2) == 0 { "*" } else { "**/" };
                        chars.splice(..at, [lead.to_owned()]);
                    }
                }
                if chars.is_empty() {
                    chars.push("*".into());
                }
            }
            let magic = MAGIC[rng.below(MAGIC.len())];
            let cwd = if round % 4 == 0 { "sub/proj" } else { "" };
            let up = if cwd.is_empty() || magic == ":/" {
                ""
            } else {
                "../../"
            };
            let pattern = format!("{magic}{up}{}", chars.concat());
            let patterns = [pattern.as_bytes()];
            let git = git_lists(root, cwd, &patterns);
            total += 1;
            matched += usize::from(git.as_ref().is_some_and(|g| !g.is_empty()));
            mismatches.extend(compare(root, &paths, cwd, &patterns, git));
        }
        assert_no_mismatch(mismatches);
        // Guards the generator itself: most of its patterns should select something.
        assert!(
            matched * 2 > total,
            "only {matched} of {total} patterns matched"
        );
    }

    /// Without the workaround: an exclusion-only set selects everything else below the base.
    #[test]
    fn exclusions_alone_match_git() {
        let fixture = Fixture::new();
        let root = fixture.root();
        let paths = all_paths(root);
        let mut mismatches = Vec::new();
        for (cwd, patterns) in [
            ("", &[":!*.py"][..]),
            ("", &[":!src", ":^docs/"]),
            ("sub/proj", &[":!*.py"]),
            ("sub/proj", &[":(exclude)lib/*"]),
        ] {
            let patterns = as_bytes(patterns);
            let git = testutil::ls_files(&root.join(cwd), &patterns);
            mismatches.extend(compare(root, &paths, cwd, &patterns, git));
        }
        assert_no_mismatch(mismatches);
    }

    /// Prints the cost of matching; run with
    /// `cargo test --release -p qik-core pathspec_speed -- --ignored --nocapture`.
    #[test]
    #[ignore = "a benchmark, not a check"]
    fn pathspec_speed() {
        let paths: Vec<Vec<u8>> = (0..50_000)
            .map(|i| {
                let ext = ["py", "txt", "json", "md"][i % 4];
                format!("pkg{}/src/mod{}/sub{}/file_{i}.{ext}", i % 50, i % 7, i % 3).into_bytes()
            })
            .collect();
        let cases: &[&[&str]] = &[
            &["pkg3/src"],
            &["pkg3/src/mod1/sub2/file_2000.json"],
            &["*.py"],
            &["pkg1*/*.txt"],
            &["pkg[1-3]/src/*/sub?/*.json"],
            &[":(glob)**/mod3/*.py"],
            &[":(icase)PKG7/**"],
            &[
                "pkg1",
                "pkg2/src",
                "*.md",
                "pkg4*/*.json",
                ":!*/mod6/*",
                ":!pkg2/src/mod0",
            ],
        ];
        for patterns in cases {
            let set = PathspecSet::new(*patterns, b"").unwrap();
            let start = std::time::Instant::now();
            let mut hits = 0;
            for _ in 0..10 {
                hits += paths.iter().filter(|p| set.matches(p)).count();
            }
            let per = start.elapsed().as_nanos() as f64 / (10.0 * paths.len() as f64);
            eprintln!("{per:7.1} ns/path  {:6} hits  {patterns:?}", hits / 10);
        }
    }

    #[test]
    fn which_names_the_first_matching_pattern() {
        let set = PathspecSet::new(["src/*", "*.py", ":!*.pyc"], b"").unwrap();
        assert_eq!(set.which(b"src/main.py"), Some(0));
        assert_eq!(set.which(b"a/b.py"), Some(1));
        assert_eq!(set.which(b"src/x.pyc"), None);
        assert_eq!(set.which(b"README.md"), None);
        // The implicit "everything" that exclusions alone bring is numbered after the patterns.
        let set = PathspecSet::new([":!*.py", ":!*.md"], b"sub").unwrap();
        assert_eq!(set.which(b"sub/x.txt"), Some(2));
        assert_eq!(set.which(b"sub/x.py"), None);
        assert_eq!(set.which(b"x.txt"), None);
        assert!(
            !PathspecSet::new(Vec::<&str>::new(), b"")
                .unwrap()
                .matches(b"a")
        );
    }

    #[test]
    fn directory_pathspec_matches_gitlink() {
        let set = PathspecSet::new(["vendor/lib/"], b"").unwrap();
        assert!(set.matches_dir(b"vendor/lib"));
        assert!(!set.matches(b"vendor/lib"));
        assert!(set.matches(b"vendor/lib/x"));
    }

    #[test]
    fn compiles_fast_paths() {
        let kind = |p: &str| Pathspec::new(p.as_bytes()).unwrap().kind;
        assert_eq!(kind("src/a.py"), Kind::Literal);
        assert_eq!(kind("src/*.py"), Kind::OneStar);
        assert_eq!(kind("*"), Kind::OneStar);
        assert_eq!(kind("src/**/*.py"), Kind::Wild);
        assert_eq!(kind(":(glob)*.py"), Kind::Wild);
        assert_eq!(kind(":(literal)*"), Kind::Literal);
        assert_eq!(kind("."), Kind::Everything);
        let spec = Pathspec::with_base(b"*.py", b"sub/proj[1]").unwrap();
        assert_eq!(spec.pattern(), b"sub/proj[1]/*.py");
        assert_eq!(spec.kind, Kind::OneStar);
    }

    #[test]
    fn refuses_what_qik_does_not_implement() {
        assert!(matches!(
            Pathspec::new(b":(attr:text)*"),
            Err(PathspecError::UnsupportedMagic { .. })
        ));
        assert!(matches!(
            Pathspec::new(b"a\0b"),
            Err(PathspecError::Nul { .. })
        ));
    }
}
