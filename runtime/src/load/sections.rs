//! The schema pass over a workflow's sections: inputs, defaults (retry, timeout, fallback),
//! budget, permissions, MCP servers and outputs.

use super::*;

impl Cx<'_> {
    /// `mcp: { notes: { command: python3, args: [notes_server.py] } }`.
    pub(super) fn mcp_servers(&mut self, node: &YamlNode) -> Vec<McpServer> {
        let Some(entries) = self.map(node, "`mcp`") else {
            return Vec::new();
        };
        let mut servers = Vec::new();
        for (key, value) in entries {
            let Some(name) = self.identifier(key, "MCP server name") else {
                continue;
            };
            let what = format!("MCP server `{}`", name.value);
            let Some(fields) = self.map(value, &what) else {
                continue;
            };
            self.check_keys(fields, &what, &["command", "args"], &[]);
            let command = match Self::get(fields, "command") {
                Some(n) => self.string(n, &format!("the `command` of {what}")),
                None => {
                    self.report(
                        DiagnosticCode::MissingKey,
                        value.head_span(&self.file),
                        format!("{what} has no `command`"),
                    )
                    .hint =
                        Some("the program that serves MCP over stdio, e.g. `command: npx`".into());
                    None
                }
            };
            let args = match Self::get(fields, "args") {
                None => Vec::new(),
                Some(n) => match &n.value {
                    YamlValue::Seq(items) => items
                        .iter()
                        .filter_map(|i| self.string(i, &format!("an argument of {what}")))
                        .map(|s| s.value)
                        .collect(),
                    _ => {
                        self.wrong_type(n, &format!("the `args` of {what}"), "a list of strings");
                        Vec::new()
                    }
                },
            };
            if let Some(command) = command {
                servers.push(McpServer {
                    name: name.value,
                    command: command.value,
                    args,
                });
            }
        }
        servers
    }

    /// Whether an `mcp.SERVER[.TOOL]` reference names a declared server (reports it if not).
    pub(super) fn check_mcp_reference(&mut self, reference: &Spanned<String>) -> bool {
        let Some((server, _)) = mcp_reference(&reference.value) else {
            self.report(
                DiagnosticCode::InvalidValue,
                reference.span,
                format!(
                    "`{}` is not `mcp.SERVER` or `mcp.SERVER.TOOL`",
                    reference.value
                ),
            );
            return false;
        };
        let Some(declared) = &self.mcp_names else {
            return true; // an agent file: checked where a workflow uses it
        };
        if declared.iter().any(|d| d == server) {
            return true;
        }
        let hint = match did_you_mean(server, declared.iter().map(String::as_str)) {
            Some(s) => format!("did you mean `{s}`?"),
            None => format!("declare it under `mcp:` (`mcp: {{ {server}: {{ command: … }} }}`)"),
        };
        self.report(
            DiagnosticCode::InvalidValue,
            reference.span,
            format!("unknown MCP server `{server}`"),
        )
        .hint = Some(hint);
        false
    }

    /// `permissions: { http: [docs.rs, "*.github.com"] }`.
    pub(super) fn permissions(&mut self, node: &YamlNode) -> Permissions {
        let Some(entries) = self.map(node, "`permissions`") else {
            return Permissions::default();
        };
        self.check_keys(entries, "`permissions`", &["http"], &[]);
        let mut http = Vec::new();
        if let Some(list) = Self::get(entries, "http") {
            let YamlValue::Seq(items) = &list.value else {
                self.wrong_type(list, "`permissions.http`", "a list of host names");
                return Permissions::default();
            };
            for item in items {
                let Some(host) = self.string(item, "a host in `permissions.http`") else {
                    continue;
                };
                let bare = host.value.strip_prefix("*.").unwrap_or(&host.value);
                let valid = !bare.is_empty()
                    && bare
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
                    && !bare.starts_with('.')
                    && !bare.ends_with('.');
                if valid {
                    http.push(host.value.to_ascii_lowercase());
                } else {
                    self.report(
                        DiagnosticCode::InvalidValue,
                        host.span,
                        format!("`{}` is not a host name", host.value),
                    )
                    .hint = Some(
                        "write a host such as `docs.rs` or `*.github.com` (no scheme, no path)"
                            .into(),
                    );
                }
            }
        }
        Permissions { http }
    }

    /// `budget: { run: 0.25 USD, node: 0.10 USD }`.
    pub(super) fn budget(&mut self, node: &YamlNode) -> Budget {
        let Some(entries) = self.map(node, "`budget`") else {
            return Budget::default();
        };
        self.check_keys(entries, "`budget`", BUDGET_KEYS, &[]);
        let mut amount = |key: &str| {
            let n = Self::get(entries, key)?;
            let text = match &n.value {
                YamlValue::String(s) => s.clone(),
                YamlValue::Int(i) => i.to_string(),
                YamlValue::Float(_) => self.file.text()[n.span.start..n.span.end].to_owned(),
                _ => String::new(),
            };
            match crate::MicroCents::parse_usd(&text) {
                Ok(value) => Some(value),
                Err(message) => {
                    self.report(DiagnosticCode::InvalidValue, n.span, message)
                        .hint = Some(
                        "write an amount in US dollars, e.g. `0.25 USD` (at most 8 decimals)"
                            .into(),
                    );
                    None
                }
            }
        };
        Budget {
            run: amount("run"),
            node: amount("node"),
        }
    }

    pub(super) fn inputs(&mut self, node: &YamlNode) -> Vec<InputDecl> {
        let Some(entries) = self.map(node, "`inputs`") else {
            return Vec::new();
        };
        let mut inputs = Vec::new();
        for (key, value) in entries {
            let Some(name) = self.identifier(key, "input name") else {
                continue;
            };
            // `topic: string` is shorthand for `topic: { type: string }`.
            let (type_node, default, description) = match &value.value {
                YamlValue::String(_) => (Some(value), None, None),
                YamlValue::Map(fields) => {
                    self.check_keys(fields, &format!("input `{}`", name.value), INPUT_KEYS, &[]);
                    let description = self
                        .optional_string(fields, "description", "`description`")
                        .map(|s| s.value);
                    (
                        Self::get(fields, "type"),
                        Self::get(fields, "default"),
                        description,
                    )
                }
                _ => {
                    self.wrong_type(
                        value,
                        &format!("input `{}`", name.value),
                        "a type name or a mapping",
                    );
                    continue;
                }
            };
            let ty = match type_node {
                None => InputType::String,
                Some(type_node) => {
                    let Some(type_name) = self.string(type_node, "an input's `type`") else {
                        continue;
                    };
                    match InputType::from_name(&type_name) {
                        Some(ty) => ty,
                        None => {
                            let hint = match did_you_mean(&type_name, InputType::ALL) {
                                Some(s) => format!("did you mean `{s}`?"),
                                None => format!("types are `{}`", InputType::ALL.join("`, `")),
                            };
                            self.report(
                                DiagnosticCode::InvalidValue,
                                type_name.span,
                                format!("unknown input type `{}`", type_name.value),
                            )
                            .hint = Some(hint);
                            continue;
                        }
                    }
                }
            };
            let default = match default {
                None => None,
                Some(default_node) => {
                    let value = default_node.to_json();
                    if !ty.accepts(&value) {
                        self.report(
                            DiagnosticCode::WrongType,
                            default_node.head_span(&self.file),
                            format!(
                                "the default of `{}` is not {}",
                                name.value,
                                ty.with_article()
                            ),
                        )
                        .hint = Some(format!(
                            "give {} or change the input's type",
                            ty.with_article()
                        ));
                    }
                    Some(value)
                }
            };
            inputs.push(InputDecl {
                name,
                ty,
                default,
                description,
            });
        }
        inputs
    }

    pub(super) fn defaults(&mut self, node: &YamlNode) -> Defaults {
        let Some(entries) = self.map(node, "`defaults`") else {
            return Defaults::default();
        };
        self.check_keys(entries, "`defaults`", DEFAULTS_KEYS, DEFAULTS_LATER_KEYS);
        Defaults {
            model: self.model(entries, "`defaults`"),
            max_tokens: self.max_tokens(entries, "`defaults`"),
            temperature: self.temperature(entries, "`defaults`"),
            retry: Self::get(entries, "retry").and_then(|n| self.retry(n, "`defaults`")),
            fallback: Self::get(entries, "fallback").and_then(|n| self.fallback(n, "`defaults`")),
            timeout_ms: Self::get(entries, "timeout").and_then(|n| self.timeout(n)),
        }
    }

    /// `timeout: 120s` — the longest one attempt may take.
    pub(super) fn timeout(&mut self, node: &YamlNode) -> Option<u64> {
        match node.as_str().map(humantime::parse_duration) {
            Some(Ok(d)) if !d.is_zero() && d.as_millis() <= 86_400_000 => {
                Some(d.as_millis() as u64)
            }
            _ => {
                let d = Diagnostic::new(
                    DiagnosticCode::InvalidValue,
                    &self.file,
                    node.span,
                    "`timeout` is not a duration",
                )
                .with_hint(
                    "write a duration such as `90s` or `5m` (more than zero, at most a day)",
                );
                self.diags.push(d);
                None
            }
        }
    }

    /// `fallback: [openai/gpt-4.1-mini, gemini/gemini-2.5-flash]`.
    pub(super) fn fallback(&mut self, node: &YamlNode, owner: &str) -> Option<Vec<ModelRef>> {
        let what = format!("`fallback` of {owner}");
        let YamlValue::Seq(items) = &node.value else {
            self.wrong_type(node, &what, "a list of `provider/model` references");
            return None;
        };
        let mut models = Vec::new();
        let mut ok = true;
        for item in items {
            let Some(text) = self.string(item, "a fallback model") else {
                ok = false;
                continue;
            };
            match ModelRef::parse(&text) {
                Ok(model) => models.push(model),
                Err(message) => {
                    self.report(DiagnosticCode::InvalidValue, text.span, message)
                        .hint = Some("write `provider/model`, e.g. `openai/gpt-4.1-mini`".into());
                    ok = false;
                }
            }
        }
        ok.then_some(models)
    }

    /// `retry: { attempts: 3, backoff: exponential, initial: 500ms, max: 8s }` (every key
    /// optional; missing ones take the defaults).
    pub(super) fn retry(&mut self, node: &YamlNode, owner: &str) -> Option<RetryPolicy> {
        let what = format!("`retry` of {owner}");
        let entries = self.map(node, &what)?;
        self.check_keys(entries, &what, RETRY_KEYS, &[]);
        let mut policy = RetryPolicy::default();
        let mut ok = true;
        if let Some(n) = Self::get(entries, "attempts") {
            match n.value {
                YamlValue::Int(i) if (1..=100).contains(&i) => policy.attempts = i as u32,
                _ => {
                    self.report(
                        DiagnosticCode::InvalidValue,
                        n.span,
                        "`attempts` must be a whole number from 1 to 100",
                    )
                    .hint =
                        Some("attempts count the first try: `attempts: 1` means no retry".into());
                    ok = false;
                }
            }
        }
        if let Some(n) = Self::get(entries, "backoff") {
            match n.as_str() {
                Some("exponential") => policy.backoff = Backoff::Exponential,
                Some("fixed") => policy.backoff = Backoff::Fixed,
                _ => {
                    self.report(
                        DiagnosticCode::InvalidValue,
                        n.span,
                        "`backoff` must be `exponential` or `fixed`",
                    );
                    ok = false;
                }
            }
        }
        for (key, slot) in [
            ("initial", &mut policy.initial_ms),
            ("max", &mut policy.max_ms),
        ] {
            if let Some(n) = Self::get(entries, key) {
                match n.as_str().map(humantime::parse_duration) {
                    Some(Ok(d)) if d.as_millis() <= 86_400_000 => *slot = d.as_millis() as u64,
                    _ => {
                        let d = Diagnostic::new(
                            DiagnosticCode::InvalidValue,
                            &self.file,
                            n.span,
                            format!("`{key}` is not a duration"),
                        )
                        .with_hint(
                            "write a duration such as `500ms`, `8s` or `2m` (at most a day)",
                        );
                        self.diags.push(d);
                        ok = false;
                    }
                }
            }
        }
        if ok && policy.max_ms < policy.initial_ms {
            self.report(
                DiagnosticCode::InvalidValue,
                node.head_span(&self.file),
                "`max` is shorter than `initial`",
            );
            ok = false;
        }
        ok.then_some(policy)
    }

    pub(super) fn outputs(&mut self, node: &YamlNode) -> Vec<OutputDecl> {
        let Some(entries) = self.map(node, "`outputs`") else {
            return Vec::new();
        };
        let mut outputs = Vec::new();
        for (key, value) in entries {
            let Some(name) = self.string(key, "an output name") else {
                continue;
            };
            let what = format!("output `{}`", name.value);
            if let Some(template) = self.template(value, &what) {
                outputs.push(OutputDecl { name, template });
            }
        }
        outputs
    }
}
