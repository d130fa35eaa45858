//! The built-in tools a `tool` node calls: `http.fetch` and `file.read`.
//!
//! Both are deny-by-default and bounded:
//! - `http.fetch` GETs a URL only if its host is in the workflow's `permissions.http` (exact, or
//!   `*.example.com` for subdomains); redirects are followed only to allowed hosts; only `http`
//!   and `https`; the body is read up to 1 MiB; 4xx fails the node, 5xx and network errors are
//!   transient (retried by the node's policy).
//! - `file.read` reads a text file inside the workspace (the directory holding the workflow's
//!   `.relavium/` or `.git/`, else the workflow's directory); the path is resolved (symlinks
//!   included) and refused if it leaves the workspace; only a regular file (a FIFO or a device
//!   is refused without blocking), read no further than 1 MiB.
//!
//! Errors come back as [`ErrorInfo`] with `tool.*` kinds, never a panic.

use relavium_runtime::event::ErrorInfo;
use relavium_runtime::state::ToolCall;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The most bytes a tool returns.
pub const MAX_TOOL_BYTES: usize = 1024 * 1024;
const FETCH_TIMEOUT: Duration = Duration::from_secs(30);

/// Where tools run: what they may touch.
#[derive(Debug, Clone, Default)]
pub struct ToolContext {
    /// The workspace `file.read` is confined to (none: `file.read` is refused); MCP servers
    /// run in it.
    pub workspace: Option<PathBuf>,
    /// The engine's MCP servers.
    pub mcp: std::sync::Arc<crate::mcp::McpPool>,
}

/// The workspace of a workflow at `path`: the nearest ancestor holding `.relavium/` or `.git/`,
/// else the workflow's own directory.
pub fn workspace_of(workflow_path: &Path) -> Option<PathBuf> {
    let dir = std::fs::canonicalize(workflow_path)
        .ok()?
        .parent()?
        .to_path_buf();
    let mut current = Some(dir.as_path());
    while let Some(d) = current {
        if d.join(".relavium").is_dir() || d.join(".git").exists() {
            return Some(d.to_path_buf());
        }
        current = d.parent();
    }
    Some(dir)
}

/// Runs one tool call.
pub async fn run(call: &ToolCall, context: &ToolContext) -> Result<Value, ErrorInfo> {
    let arg = |name: &str| {
        call.args.get(name).and_then(Value::as_str).ok_or_else(|| {
            ErrorInfo::new(
                "tool.bad_arguments",
                format!("`{}` needs a string `{name}`", call.tool),
            )
        })
    };
    if let Some((server, tool)) = relavium_runtime::workflow::mcp_reference(&call.tool) {
        let Some(spec) = call.mcp.iter().find(|s| s.name == server) else {
            return Err(ErrorInfo::new(
                "tool.unknown",
                format!("no MCP server `{server}` is declared"),
            ));
        };
        let Some(tool) = tool else {
            return Err(ErrorInfo::new(
                "tool.bad_arguments",
                format!("`{}` names a server, not a tool", call.tool),
            ));
        };
        return context
            .mcp
            .call(spec, tool, call.args.clone(), context.workspace.as_deref())
            .await;
    }
    match call.tool.as_str() {
        "http.fetch" => fetch(arg("url")?, &call.allow_http).await,
        "file.read" => read(arg("path")?, context.workspace.as_deref()).await,
        other => Err(ErrorInfo::new(
            "tool.unknown",
            format!("no built-in tool `{other}`"),
        )),
    }
}

/// Whether `host` matches an allow-list entry (`docs.rs`, `*.github.com`).
pub fn host_allowed(host: &str, allow: &[String]) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    allow.iter().any(|entry| match entry.strip_prefix("*.") {
        Some(domain) => host.ends_with(&format!(".{domain}")),
        None => host == *entry,
    })
}

fn denied(url: &reqwest::Url) -> ErrorInfo {
    ErrorInfo::new(
        "tool.denied",
        format!(
            "`http.fetch` may not reach `{}`: add it to the workflow's `permissions.http`",
            url.host_str().unwrap_or("")
        ),
    )
}

async fn fetch(url: &str, allow: &[String]) -> Result<Value, ErrorInfo> {
    let url = reqwest::Url::parse(url)
        .map_err(|e| ErrorInfo::new("tool.bad_arguments", format!("`{url}` is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(ErrorInfo::new(
            "tool.denied",
            format!(
                "`http.fetch` only fetches http and https, not `{}`",
                url.scheme()
            ),
        ));
    }
    if !url.host_str().is_some_and(|h| host_allowed(h, allow)) {
        return Err(denied(&url));
    }
    let allow_redirects = allow.to_vec();
    let client = reqwest::Client::builder()
        .timeout(FETCH_TIMEOUT)
        .redirect(reqwest::redirect::Policy::custom(move |attempt| {
            let allowed = attempt
                .url()
                .host_str()
                .is_some_and(|h| host_allowed(h, &allow_redirects));
            if attempt.previous().len() >= 5 {
                attempt.error("too many redirects")
            } else if allowed {
                attempt.follow()
            } else {
                attempt.stop()
            }
        }))
        .build()
        .map_err(|e| ErrorInfo::new("tool.internal", format!("failed to build a client: {e}")))?;
    let response = client.get(url.clone()).send().await.map_err(|e| {
        ErrorInfo::transient("tool.network", format!("failed to fetch {url}: {e}"), None)
    })?;
    let status = response.status();
    if status.is_redirection() {
        return Err(ErrorInfo::new(
            "tool.denied",
            format!("{url} redirects to a host `permissions.http` does not allow"),
        ));
    }
    if status.is_server_error() {
        return Err(ErrorInfo::transient(
            "tool.http_status",
            format!("{url} answered {status}"),
            None,
        ));
    }
    if !status.is_success() {
        return Err(ErrorInfo::new(
            "tool.http_status",
            format!("{url} answered {status}"),
        ));
    }
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let mut body = Vec::new();
    let mut response = response;
    let mut truncated = false;
    while let Some(chunk) = response.chunk().await.map_err(|e| {
        ErrorInfo::transient("tool.network", format!("failed to read {url}: {e}"), None)
    })? {
        let room = MAX_TOOL_BYTES - body.len();
        if chunk.len() > room {
            body.extend_from_slice(&chunk[..room]);
            truncated = true;
            break;
        }
        body.extend_from_slice(&chunk);
    }
    Ok(json!({
        "status": status.as_u16(),
        "contentType": content_type,
        "body": String::from_utf8_lossy(&body),
        "truncated": truncated,
    }))
}

async fn read(path: &str, workspace: Option<&Path>) -> Result<Value, ErrorInfo> {
    let Some(workspace) = workspace else {
        return Err(ErrorInfo::new(
            "tool.denied",
            "`file.read` needs a workspace: run the workflow from a file",
        ));
    };
    let workspace = workspace.to_path_buf();
    let requested = path.to_owned();
    tokio::task::spawn_blocking(move || {
        let root = std::fs::canonicalize(&workspace).unwrap_or(workspace);
        // Refuse escapes by the path's own `..` first, so the answer never tells whether a
        // file outside the workspace exists; then resolve symlinks and check again.
        let mut candidate = root.clone();
        for part in Path::new(&requested).components() {
            match part {
                std::path::Component::Normal(p) => candidate.push(p),
                std::path::Component::ParentDir => {
                    candidate.pop();
                }
                std::path::Component::CurDir => {}
                std::path::Component::RootDir | std::path::Component::Prefix(_) => {
                    candidate = PathBuf::from(part.as_os_str());
                }
            }
        }
        if !candidate.starts_with(&root) {
            return Err(ErrorInfo::new(
                "tool.denied",
                format!("`{requested}` is outside the workspace"),
            ));
        }
        let resolved = std::fs::canonicalize(&candidate).map_err(|e| {
            ErrorInfo::new(
                "tool.not_found",
                format!("cannot read `{requested}` in the workspace: {e}"),
            )
        })?;
        if !resolved.starts_with(&root) {
            return Err(ErrorInfo::new(
                "tool.denied",
                format!("`{requested}` is outside the workspace"),
            ));
        }
        // Never more than the limit in memory, and only a regular file: a FIFO or a device
        // would block or never end (crate::files).
        crate::files::read_regular_text(&resolved, MAX_TOOL_BYTES as u64)
            .map(Value::String)
            .map_err(|e| {
                use crate::files::ReadFileError;
                let kind = match e {
                    ReadFileError::TooLarge { .. } => "tool.too_large",
                    ReadFileError::NotText => "tool.not_text",
                    ReadFileError::NotRegular(_) => "tool.not_a_file",
                    ReadFileError::Io(_) => "tool.not_found",
                };
                let hint = match e {
                    ReadFileError::TooLarge { .. } => {
                        format!("; `file.read` returns at most {MAX_TOOL_BYTES} bytes")
                    }
                    _ => String::new(),
                };
                ErrorInfo::new(kind, format!("cannot read `{requested}`: {e}{hint}"))
            })
    })
    .await
    .map_err(|e| ErrorInfo::new("tool.internal", format!("the read failed: {e}")))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_match_exactly_or_as_subdomains() {
        let allow = vec!["docs.rs".to_owned(), "*.github.com".to_owned()];
        assert!(host_allowed("docs.rs", &allow));
        assert!(host_allowed("DOCS.RS.", &allow));
        assert!(host_allowed("api.github.com", &allow));
        assert!(!host_allowed("github.com", &allow));
        assert!(!host_allowed("evilgithub.com", &allow));
        assert!(!host_allowed("docs.rs.evil.com", &allow));
        assert!(!host_allowed("example.com", &[]));
    }

    #[tokio::test]
    async fn file_read_stays_inside_the_workspace() {
        let dir = tempfile::tempdir().unwrap();
        let workspace = dir.path().join("ws");
        std::fs::create_dir_all(&workspace).unwrap();
        std::fs::write(workspace.join("notes.md"), "hello").unwrap();
        std::fs::write(dir.path().join("secret.txt"), "no").unwrap();
        let call = |path: &str| ToolCall {
            tool: "file.read".into(),
            args: serde_json::Map::from_iter([("path".to_string(), json!(path))]),
            allow_http: vec![],
            mcp: vec![],
        };
        let context = ToolContext {
            workspace: Some(workspace.clone()),
            ..ToolContext::default()
        };
        assert_eq!(
            run(&call("notes.md"), &context).await.unwrap(),
            json!("hello")
        );
        let escape = run(&call("../secret.txt"), &context).await.unwrap_err();
        assert_eq!(escape.kind, "tool.denied");
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(dir.path().join("secret.txt"), workspace.join("link"))
                .unwrap();
            let linked = run(&call("link"), &context).await.unwrap_err();
            assert_eq!(linked.kind, "tool.denied");
        }
        let missing = run(&call("nope.md"), &context).await.unwrap_err();
        assert_eq!(missing.kind, "tool.not_found");
    }

    #[tokio::test]
    async fn http_fetch_is_denied_without_permission_before_any_request() {
        let call = ToolCall {
            tool: "http.fetch".into(),
            args: serde_json::Map::from_iter([("url".to_string(), json!("http://127.0.0.1:9/x"))]),
            allow_http: vec!["example.com".into()],
            mcp: vec![],
        };
        let error = run(&call, &ToolContext::default()).await.unwrap_err();
        assert_eq!(error.kind, "tool.denied");
        assert!(!error.retryable);
        let file = ToolCall {
            tool: "http.fetch".into(),
            args: serde_json::Map::from_iter([("url".to_string(), json!("file:///etc/passwd"))]),
            allow_http: vec!["*".into()],
            mcp: vec![],
        };
        assert_eq!(
            run(&file, &ToolContext::default()).await.unwrap_err().kind,
            "tool.denied"
        );
    }
}
