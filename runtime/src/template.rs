//! The sandboxed template and expression engine (minijinja).
//!
//! Templates are deterministic and closed: no loaders (no file access), no clock, no randomness,
//! strict undefined values (a typo is an error, not an empty string), bounded work ("fuel") and
//! bounded recursion. The same [`TemplateEngine`] compiles templates at validation time (so
//! syntax errors and unknown references are reported before a run starts) and renders them
//! during a run.

use minijinja::{Environment, UndefinedBehavior};
use std::collections::BTreeSet;

/// Work a single render may do (minijinja instructions) before it is stopped.
pub const DEFAULT_FUEL: u64 = 200_000;
/// How deep templates may nest.
const RECURSION_LIMIT: usize = 64;

/// A template or expression that failed to compile or render.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct TemplateError {
    /// A lower-case description.
    pub message: String,
    /// Byte range of the offending part of the template text, when known.
    pub range: Option<std::ops::Range<usize>>,
}

impl From<minijinja::Error> for TemplateError {
    fn from(error: minijinja::Error) -> Self {
        let message = match error.detail() {
            Some(detail) => format!("{}: {detail}", error.kind()),
            None => error.kind().to_string(),
        };
        TemplateError {
            message,
            range: error.range(),
        }
    }
}

/// The environment every template of every workflow is compiled and rendered in.
#[derive(Debug)]
pub struct TemplateEngine {
    env: Environment<'static>,
}

impl Default for TemplateEngine {
    fn default() -> Self {
        TemplateEngine::new(DEFAULT_FUEL)
    }
}

impl TemplateEngine {
    /// An engine whose renders may each spend at most `fuel` units of work.
    pub fn new(fuel: u64) -> TemplateEngine {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_fuel(Some(fuel));
        env.set_recursion_limit(RECURSION_LIMIT);
        // Prompts are plain text: never HTML-escape.
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
        TemplateEngine { env }
    }

    /// Compiles `source` and returns the dotted variable paths it reads (`inputs.topic`,
    /// `nodes.draft.output`…), or why it does not compile.
    ///
    /// Most templates are text with `{{ a.b.c }}` in it; those are read directly (minijinja
    /// would parse each twice: to compile it and to list its variables — a third of loading a
    /// large workflow). Anything else goes to minijinja.
    pub fn references(&self, source: &str) -> Result<BTreeSet<String>, TemplateError> {
        if let Some(paths) = plain_references(source) {
            return Ok(paths);
        }
        let template = self.env.template_from_str(source)?;
        Ok(template.undeclared_variables(true).into_iter().collect())
    }

    /// Compiles an expression (`nodes.a.output | length > 3`) and returns the paths it reads.
    pub fn expression_references(&self, source: &str) -> Result<BTreeSet<String>, TemplateError> {
        let expression = self.env.compile_expression(source)?;
        Ok(expression.undeclared_variables(true).into_iter().collect())
    }

    /// Renders `source` with `context` (a JSON object of the variables).
    pub fn render(
        &self,
        source: &str,
        context: &serde_json::Value,
    ) -> Result<String, TemplateError> {
        let template = self.env.template_from_str(source)?;
        Ok(template.render(minijinja::value::Serde(context))?)
    }

    /// Evaluates the expression `source` with `context` into JSON.
    pub fn evaluate(
        &self,
        source: &str,
        context: &serde_json::Value,
    ) -> Result<serde_json::Value, TemplateError> {
        let expression = self.env.compile_expression(source)?;
        let value = expression.eval(minijinja::value::Serde(context))?;
        serde_json::to_value(&value).map_err(|e| TemplateError {
            message: format!("the expression's value cannot be represented as JSON: {e}"),
            range: None,
        })
    }
}

/// The paths read by a template made only of text and `{{ a.b.c }}` (ASCII identifiers, no
/// filter, no whitespace control), or `None` if it holds anything else. Such a template always
/// compiles, and these are exactly the variables minijinja reports for it (tested below).
fn plain_references(source: &str) -> Option<BTreeSet<String>> {
    if source.contains("{%") || source.contains("{#") {
        return None;
    }
    let mut paths = BTreeSet::new();
    let mut rest = source;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let end = after.find("}}")?;
        let path = after[..end].trim_matches(|c: char| c == ' ' || c == '\t');
        if !is_plain_path(path) {
            return None;
        }
        paths.insert(path.to_owned());
        rest = &after[end + 2..];
    }
    Some(paths)
}

/// `a`, `a.b`, `a.b.c`: ASCII identifiers that are not keywords, joined by dots.
fn is_plain_path(text: &str) -> bool {
    const KEYWORDS: &[&str] = &[
        "true",
        "false",
        "none",
        "True",
        "False",
        "None",
        "and",
        "or",
        "not",
        "in",
        "is",
        "if",
        "else",
        "recursive",
    ];
    !text.is_empty()
        && text.split('.').enumerate().all(|(i, part)| {
            let mut chars = part.chars();
            chars
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
                && (i > 0 || !KEYWORDS.contains(&part))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The direct reading agrees with minijinja on every template it accepts, over many
    /// generated ones mixing text, braces, paths, keywords, filters and spacing.
    #[test]
    fn plain_references_agree_with_minijinja() {
        let engine = TemplateEngine::default();
        let pieces = [
            "text ",
            "{{ inputs.topic }}",
            "{{nodes.a.output}}",
            "{{ x }}",
            "{{ a.b.c.d }}",
            "{{ true }}",
            "{{ none }}",
            "{{ not }}",
            "{{ a | upper }}",
            "{{- a -}}",
            "{{ a.1 }}",
            "{{ 1 }}",
            "{{ a . b }}",
            "{{ _x._y }}",
            "}}",
            "{",
            "{{",
            "{{ }}",
            "é",
            "\n",
            "{{ loop }}",
            "{{ a.b }",
            "{{\ta\t}}",
            "{{ inputs }}",
            "{{ a.true }}",
            "{{ a..b }}",
        ];
        let mut seed = 12345u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut accepted = 0;
        for _ in 0..4000 {
            let n = 1 + next() % 6;
            let source: String = (0..n)
                .map(|_| pieces[(next() % pieces.len() as u64) as usize])
                .collect();
            let Some(direct) = plain_references(&source) else {
                continue;
            };
            accepted += 1;
            let template = engine.env.template_from_str(&source).unwrap_or_else(|e| {
                panic!("`{source}` was read directly but does not compile: {e}")
            });
            let expected: BTreeSet<String> =
                template.undeclared_variables(true).into_iter().collect();
            assert_eq!(direct, expected, "`{source}`");
        }
        assert!(
            accepted > 500,
            "the generator exercises the direct path ({accepted})"
        );
    }

    #[test]
    fn references_are_reported_as_dotted_paths() {
        let engine = TemplateEngine::default();
        let refs = engine
            .references("{{ inputs.topic }} and {{ nodes.a.output | upper }}")
            .unwrap();
        assert_eq!(
            refs.into_iter().collect::<Vec<_>>(),
            vec!["inputs.topic", "nodes.a.output"]
        );
    }

    #[test]
    fn syntax_errors_carry_a_range() {
        let engine = TemplateEngine::default();
        let err = engine.references("hello {{ inputs.topic ").unwrap_err();
        assert!(err.message.contains("syntax error"), "{}", err.message);
    }

    #[test]
    fn rendering_is_strict_about_undefined_values() {
        let engine = TemplateEngine::default();
        let ctx = json!({"inputs": {"topic": "actors"}});
        assert_eq!(
            engine.render("About {{ inputs.topic }}", &ctx).unwrap(),
            "About actors"
        );
        assert!(engine.render("About {{ inputs.missing }}", &ctx).is_err());
    }

    #[test]
    fn html_is_never_escaped() {
        let engine = TemplateEngine::default();
        let ctx = json!({"inputs": {"code": "<a href=\"x\">&</a>"}});
        assert_eq!(
            engine.render("{{ inputs.code }}", &ctx).unwrap(),
            "<a href=\"x\">&</a>"
        );
    }

    #[test]
    fn runaway_templates_run_out_of_fuel() {
        let engine = TemplateEngine::new(10_000);
        let err = engine
            .render(
                "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
                &json!({}),
            )
            .unwrap_err();
        assert!(err.message.contains("fuel"), "{}", err.message);
    }

    #[test]
    fn expressions_evaluate_to_json() {
        let engine = TemplateEngine::default();
        let ctx = json!({"nodes": {"a": {"output": "yes"}}});
        assert_eq!(
            engine.evaluate("nodes.a.output == 'yes'", &ctx).unwrap(),
            json!(true)
        );
        assert_eq!(
            engine
                .expression_references("nodes.a.output == 'yes'")
                .unwrap()
                .into_iter()
                .collect::<Vec<_>>(),
            vec!["nodes.a.output"]
        );
    }
}
