//! `{type = "env", name = "PYTHON_TARGET"}`: a runnable depends on the value
//! of an environment variable of the qik process.

use qik_core::diagnostic::{Code, Diagnostic};
use qik_core::ext::{DepCx, DepSet, DepSpec};
use qik_core::source::Node;
use schemars::JsonSchema;
use serde::Deserialize;
use toml::Spanned;

/// The value of an environment variable of the qik process (hashed, never
/// stored).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct EnvDep {
    /// The variable's name; may hold `{module...}` and `{ctx...}`
    /// placeholders.
    #[schemars(with = "String")]
    name: Spanned<String>,
}

/// Registered as the `env` dep type. Only checks the text: the variable is
/// read when a runnable's deps are resolved.
pub(crate) fn parse(node: Node<'_>) -> Result<Box<dyn DepSpec>, Diagnostic> {
    let dep: EnvDep = node.deserialize_without("type")?;
    if let Some(problem) = name_problem(dep.name.get_ref()) {
        return Err(Diagnostic::error(Code::ConfigParse, problem)
            .with_label(node.file(), dep.name.span(), "not a variable name")
            .with_hint("write the variable's name, e.g. name = \"PYTHON_TARGET\""));
    }
    Ok(Box::new(dep))
}

/// Why `name` cannot name an environment variable, if it cannot.
fn name_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        Some("an `env` dep needs a variable name".into())
    } else if name.contains(['=', '\0']) {
        Some(format!("{name:?} is not an environment variable name"))
    } else {
        None
    }
}

impl DepSpec for EnvDep {
    fn resolve(&self, cx: &DepCx<'_>, out: &mut DepSet) -> Result<(), Diagnostic> {
        let name = cx.render(&self.name)?;
        if let Some(problem) = name_problem(&name) {
            return Err(Diagnostic::error(Code::ConfigParse, problem).with_label(
                cx.file,
                self.name.span(),
                "renders to this",
            ));
        }
        // A constant is hashed and also recorded in the cache entry, which a
        // shared cache hands to everyone: keep a digest, never the value.
        let state = match std::env::var_os(&name) {
            Some(value) => blake3::hash(value.as_encoded_bytes()).to_hex().to_string(),
            None => "unset".to_string(),
        };
        out.consts.insert(format!("env:{name}={state}"));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::name_problem;

    #[test]
    fn names_with_equals_or_nothing_are_refused() {
        assert!(name_problem("PYTHON_TARGET").is_none());
        assert!(name_problem("").is_some());
        assert!(name_problem("A=B").is_some());
    }
}
