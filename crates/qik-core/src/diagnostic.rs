//! User-facing errors that point at the text that caused them.
//!
//! Every configuration error carries the file, the byte span, a `hint:` and the
//! troubleshooting code of the reference documentation (`conf1`, `ctx2`, ...),
//! so that users can fix their `qik.toml` without guessing.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use crate::source_file::SourceFile;

/// The troubleshooting codes users know from the reference documentation;
/// each has an entry in docs/errors.md (`tests/error_docs.rs` keeps them in
/// step). Two of the reference's codes have no case in this qik.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Code {
    /// No configuration found.
    ConfigNotFound,
    /// The configuration does not parse or has the wrong shape.
    ConfigParse,
    ModuleNotFound,
    PluginNotFound,
    CommandNotFound,
    /// A plugin listed in `[plugins]` is not compiled into this binary.
    PluginImport,
    GraphCycle,
    SpaceNotFound,
    UnconfiguredCache,
    InvalidCacheType,
    InvalidDepType,
    InvalidVenvType,
    /// An `[executors.<name>]` table with an unknown or unusable `type`.
    InvalidExecutorType,
    /// A command or space names an executor that `[executors]` lacks.
    UnconfiguredExecutor,
    CircularVenv,
    CircularFence,
    CtxProfileNotFound,
    EnvCast,
    CtxValueNotFound,
    UnconfiguredCtx,
    InvalidCtxNamespace,
    /// A `pydist` dep names a distribution that is not installed.
    DistributionNotFound,
    /// The machine failed us: a file or process could not be used.
    General,
    /// A space's dotenv file is missing or does not parse.
    DotenvNotFound,
    /// `--since` names a git reference the repository does not know.
    UnknownReference,
}

impl Code {
    /// Every code, for the docs' test.
    pub const ALL: [Code; 25] = [
        Code::ConfigNotFound,
        Code::ConfigParse,
        Code::ModuleNotFound,
        Code::PluginNotFound,
        Code::CommandNotFound,
        Code::PluginImport,
        Code::GraphCycle,
        Code::SpaceNotFound,
        Code::UnconfiguredCache,
        Code::InvalidCacheType,
        Code::InvalidDepType,
        Code::InvalidVenvType,
        Code::InvalidExecutorType,
        Code::UnconfiguredExecutor,
        Code::CircularVenv,
        Code::CircularFence,
        Code::CtxProfileNotFound,
        Code::EnvCast,
        Code::CtxValueNotFound,
        Code::UnconfiguredCtx,
        Code::InvalidCtxNamespace,
        Code::DistributionNotFound,
        Code::General,
        Code::DotenvNotFound,
        Code::UnknownReference,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Code::ConfigNotFound => "conf0",
            Code::ConfigParse => "conf1",
            Code::ModuleNotFound => "conf2",
            Code::PluginNotFound => "conf3",
            Code::CommandNotFound => "conf5",
            Code::PluginImport => "conf6",
            Code::GraphCycle => "conf7",
            Code::SpaceNotFound => "conf8",
            Code::UnconfiguredCache => "conf9",
            Code::InvalidCacheType => "conf10",
            Code::InvalidDepType => "conf11",
            Code::InvalidVenvType => "conf12",
            Code::InvalidExecutorType => "exec0",
            Code::UnconfiguredExecutor => "exec1",
            Code::CircularVenv => "conf13",
            Code::CircularFence => "conf14",
            Code::CtxProfileNotFound => "ctx0",
            Code::EnvCast => "ctx1",
            Code::CtxValueNotFound => "ctx2",
            Code::UnconfiguredCtx => "ctx3",
            Code::InvalidCtxNamespace => "ctx4",
            Code::DistributionNotFound => "dep0",
            Code::General => "general",
            Code::DotenvNotFound => "space2",
            Code::UnknownReference => "since0",
        }
    }
}

/// Where in a source file a diagnostic points.
#[derive(Clone, Debug)]
pub struct Label {
    pub file: Arc<SourceFile>,
    pub span: Range<usize>,
    pub text: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

/// An error (or warning) for a user, with everything needed to act on it.
#[derive(Clone, Debug)]
pub struct Diagnostic {
    pub severity: Severity,
    pub code: Option<Code>,
    pub message: String,
    pub labels: Vec<Label>,
    pub hint: Option<String>,
}

impl Diagnostic {
    pub fn error(code: Code, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Error,
            code: Some(code),
            message: message.into(),
            labels: Vec::new(),
            hint: None,
        }
    }

    pub fn warning(message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Warning,
            code: None,
            message: message.into(),
            labels: Vec::new(),
            hint: None,
        }
    }

    pub fn with_label(
        mut self,
        file: &Arc<SourceFile>,
        span: Range<usize>,
        text: impl Into<String>,
    ) -> Self {
        self.labels.push(Label {
            file: Arc::clone(file),
            span,
            text: text.into(),
        });
        self
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Adds a hint only when none is set yet.
    pub fn or_hint(self, hint: impl Into<String>) -> Self {
        if self.hint.is_some() {
            self
        } else {
            self.with_hint(hint)
        }
    }

    /// Renders the diagnostic the way a compiler would: header, `--> file:line:col`,
    /// the source snippet with the span underlined, then the hint and the code.
    pub fn render(&self, styled: bool) -> String {
        use annotate_snippets::{AnnotationKind, Group, Level, Renderer, Snippet};

        let level = match self.severity {
            Severity::Error => Level::ERROR,
            Severity::Warning => Level::WARNING,
        };
        let mut title = level.primary_title(self.message.as_str());
        if let Some(code) = self.code {
            title = title.id(code.as_str());
        }
        let mut group = Group::with_title(title);
        for label in &self.labels {
            let text = label.file.text();
            // annotate-snippets wants a non-empty span inside the text.
            let start = label.span.start.min(text.len());
            let end = label.span.end.clamp(start, text.len());
            group = group.element(
                Snippet::source(text)
                    .path(label.file.display_path())
                    .fold(true)
                    .annotation(AnnotationKind::Primary.span(start..end).label(&label.text)),
            );
        }
        if let Some(hint) = &self.hint {
            group = group.element(Level::HELP.no_name().message(format!("hint: {hint}")));
        }
        if let Some(code) = self.code {
            group = group.element(Level::NOTE.no_name().message(format!(
                "see the troubleshooting entry `{}` in docs/errors.md",
                code.as_str()
            )));
        }
        let renderer = if styled {
            Renderer::styled()
        } else {
            Renderer::plain()
        };
        renderer.render(&[group])
    }

    /// `file:line:col` of the first label, if any.
    pub fn location(&self) -> Option<String> {
        let label = self.labels.first()?;
        let (line, col) = label.file.line_col(label.span.start);
        Some(format!("{}:{line}:{col}", label.file.display_path()))
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(false))
    }
}

impl std::error::Error for Diagnostic {}

/// Suggests the closest candidate for a misspelt name, if one is close enough.
///
/// As rustc does, a third of the letters (at least one) may be wrong, counting
/// a swap of two neighbours as one edit; ties go to the most similar prefix.
/// A shared prefix alone (`qik.nope` and `qik.uv`) is not close enough.
pub fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let lowered = name.to_lowercase();
    let max_distance = name.chars().count().max(3) / 3;
    candidates
        .into_iter()
        .filter_map(|candidate| {
            let distance = strsim::osa_distance(&lowered, &candidate.to_lowercase());
            let similarity = strsim::jaro_winkler(name, candidate);
            (distance <= max_distance).then_some((distance, similarity, candidate))
        })
        .min_by(|a, b| a.0.cmp(&b.0).then(b.1.total_cmp(&a.1)))
        .map(|(_, _, candidate)| candidate)
}

/// A hint naming the valid choices, with a guess at what was meant.
pub fn choices_hint<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    let mut all: Vec<&str> = candidates.into_iter().collect();
    all.sort_unstable();
    all.dedup();
    let listed = if all.is_empty() {
        "none are configured".to_string()
    } else {
        format!(
            "valid ones: {}",
            all.iter()
                .map(|c| format!("`{c}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    match did_you_mean(name, all.iter().copied()) {
        Some(guess) => format!("did you mean `{guess}`? ({listed})"),
        None => listed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn did_you_mean_needs_a_close_name() {
        assert_eq!(
            did_you_mean("comands", ["commands", "caches"]),
            Some("commands")
        );
        assert_eq!(did_you_mean("dep", ["deps", "exec"]), Some("deps"));
        assert_eq!(did_you_mean("dri", ["dir", "name"]), Some("dir"));
        assert_eq!(did_you_mean("pygraf", ["pygraph", "glob"]), Some("pygraph"));
        assert_eq!(did_you_mean("remot", ["remote", "repo"]), Some("remote"));
        assert_eq!(did_you_mean("remot", ["local", "repo"]), None);
        assert_eq!(did_you_mean("qik.nope", ["qik.uv", "qik.s3"]), None);
    }
}
