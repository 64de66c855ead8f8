//! `{module.dir}` / `{ctx.var}` placeholders in config strings.
//!
//! The syntax is the subset of Python's `str.format` that qik.toml files use:
//! `{a.b}` is replaced, `{{` and `}}` are literal braces.

use std::fmt;

use crate::ctx::Ctx;
use crate::diagnostic::{Code, Diagnostic, choices_hint};
use crate::module::Module;
use crate::source::SourceFile;
use std::ops::Range;
use std::sync::Arc;

/// What placeholders can refer to.
#[derive(Clone, Copy)]
pub struct Scope<'a> {
    pub module: Option<&'a Module>,
    pub ctx: &'a Ctx,
}

/// A placeholder that could not be filled, with its byte range in the template.
#[derive(Debug)]
pub struct TemplateError {
    pub range: Range<usize>,
    pub code: Code,
    pub message: String,
    pub hint: String,
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Whether `text` mentions the module, which makes a command run per module.
/// (`{{module}}` is an escaped literal, not a mention.)
pub fn mentions_module(text: &str) -> bool {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'{' {
            if bytes.get(i + 1) == Some(&b'{') {
                i += 2;
                continue;
            }
            let field = text[i + 1..].trim_start();
            if field.starts_with("module")
                && matches!(field.as_bytes().get(6), None | Some(b'.' | b'}' | b' '))
            {
                return true;
            }
        }
        i += 1;
    }
    false
}

/// Fills every placeholder of `text`.
pub fn render(text: &str, scope: Scope<'_>) -> Result<String, TemplateError> {
    expand(text, |field| lookup(field, scope))
}

/// Checks a template without filling it: its braces, and that every
/// placeholder names something that exists (`{module.<attribute>}` only where
/// `module_allowed`, `{ctx.<var>}` in a valid namespace). Context values are
/// not looked up: a missing one is an error only where it is used.
///
/// Load runs this on every template of the configuration, so a typo is an
/// error even in a command that yields no runnables.
pub fn check(text: &str, module_allowed: bool) -> Result<(), TemplateError> {
    expand(text, |field| {
        check_field(field, module_allowed).map(|()| String::new())
    })
    .map(drop)
}

/// Walks `text`, copying literal text and escaped braces and replacing each
/// placeholder by what `fill` makes of its (trimmed) field.
fn expand(
    text: &str,
    mut fill: impl FnMut(&str) -> Result<String, LookupError>,
) -> Result<String, TemplateError> {
    if !text.contains(['{', '}']) {
        return Ok(text.to_string());
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut offset = 0;
    while let Some(pos) = rest.find(['{', '}']) {
        out.push_str(&rest[..pos]);
        let brace = rest.as_bytes()[pos];
        let after = &rest[pos + 1..];
        if after.as_bytes().first() == Some(&brace) {
            out.push(brace as char);
            rest = &after[1..];
            offset += pos + 2;
            continue;
        }
        let start = offset + pos;
        if brace == b'}' {
            return Err(TemplateError {
                range: start..start + 1,
                code: Code::ConfigParse,
                message: "single `}` in a template".into(),
                hint: "write `}}` for a literal brace".into(),
            });
        }
        let Some(end) = after.find('}') else {
            return Err(TemplateError {
                range: start..offset + rest.len(),
                code: Code::ConfigParse,
                message: "unclosed `{` in a template".into(),
                hint: "close the placeholder with `}`, or write `{{` for a literal brace".into(),
            });
        };
        let field = &after[..end];
        let range = start..start + end + 2;
        out.push_str(
            &fill(field.trim()).map_err(|(code, message, hint)| TemplateError {
                range: range.clone(),
                code,
                message,
                hint,
            })?,
        );
        rest = &after[end + 1..];
        offset = range.end;
    }
    out.push_str(rest);
    Ok(out)
}

type LookupError = (Code, String, String);

fn lookup(field: &str, scope: Scope<'_>) -> Result<String, LookupError> {
    check_field(field, scope.module.is_some())?;
    let (head, tail) = field.split_once('.').unwrap_or((field, ""));
    match (head, scope.module) {
        ("module", Some(module)) => Ok(match tail {
            "name" => module.name.clone(),
            "pyimport" => module.pyimport.clone(),
            _ => module.path.clone(),
        }),
        _ => scope.ctx.lookup(tail),
    }
}

/// Whether a placeholder names something that can exist; context values
/// are looked up later.
fn check_field(field: &str, module_allowed: bool) -> Result<(), LookupError> {
    let (head, tail) = field.split_once('.').unwrap_or((field, ""));
    match head {
        "module" => {
            if !module_allowed {
                return Err((
                    Code::ConfigParse,
                    format!("`{{{field}}}` is used outside a module"),
                    "module placeholders only work in commands parametrized by `{module...}` in `exec`".into(),
                ));
            }
            match tail {
                "name" | "dir" | "path" | "pyimport" => Ok(()),
                _ => Err((
                    Code::ConfigParse,
                    format!("unknown module attribute `{tail}`"),
                    choices_hint(tail, ["name", "dir", "path", "pyimport"]),
                )),
            }
        }
        "ctx" => Ctx::check_path(tail),
        _ => Err((
            Code::ConfigParse,
            format!("unknown placeholder `{{{field}}}`"),
            "placeholders are `{module.dir}`, `{module.pyimport}`, `{module.name}` and `{ctx.<var>}`; write `{{` for a literal brace".into(),
        )),
    }
}

/// Renders a template that came from a config file, pointing errors at it.
pub fn render_at(
    text: &str,
    scope: Scope<'_>,
    file: &Arc<SourceFile>,
    span: Range<usize>,
) -> Result<String, Diagnostic> {
    render(text, scope).map_err(|err| err.at(text, file, span))
}

/// [`check`]s a template that came from a config file, pointing errors at it.
pub fn check_at(
    text: &str,
    module_allowed: bool,
    file: &Arc<SourceFile>,
    span: Range<usize>,
) -> Result<(), Diagnostic> {
    check(text, module_allowed).map_err(|err| err.at(text, file, span))
}

impl TemplateError {
    /// The error as a diagnostic pointing into `file`, where the TOML string
    /// whose value is `text` spans `span` (quotes included).
    pub fn at(self, text: &str, file: &Arc<SourceFile>, span: Range<usize>) -> Diagnostic {
        // When the TOML string has no escapes the placeholder can be pointed at
        // exactly (skipping the opening quote); otherwise mark the whole value.
        let inner = span.start + 1;
        let exact = file
            .text()
            .get(inner..inner + text.len())
            .is_some_and(|raw| raw == text);
        let label_span = if exact {
            inner + self.range.start..inner + self.range.end
        } else {
            span
        };
        Diagnostic::error(self.code, self.message)
            .with_label(file, label_span, "in this placeholder")
            .with_hint(self.hint)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn module() -> Module {
        Module {
            name: "b".into(),
            path: "a/b".into(),
            pyimport: "a.b".into(),
            space: "default".into(),
        }
    }

    #[test]
    fn fills_module_and_escapes() {
        let ctx = Ctx::default();
        let m = module();
        let scope = Scope {
            module: Some(&m),
            ctx: &ctx,
        };
        assert_eq!(
            render("pytest {module.dir} -k '{{x}}' {module.pyimport}", scope).unwrap(),
            "pytest a/b -k '{x}' a.b"
        );
    }

    #[test]
    fn escaped_braces_do_not_parametrize() {
        assert!(mentions_module("pytest {module.dir}"));
        assert!(mentions_module("echo {module}"));
        assert!(!mentions_module("echo {{module}}"));
        assert!(!mentions_module("echo {modules_count}"));
    }

    #[test]
    fn reports_position_of_bad_placeholder() {
        let ctx = Ctx::default();
        let scope = Scope {
            module: None,
            ctx: &ctx,
        };
        let err = render("echo {modul.dir}", scope).unwrap_err();
        assert_eq!(err.range, 5..16);
        let err = render("echo {module.dir}", scope).unwrap_err();
        assert!(err.message.contains("outside a module"));
        assert!(render("echo {", scope).is_err());
        assert!(render("echo }", scope).is_err());
    }
}
