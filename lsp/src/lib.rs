//! `relavium lsp`: a language server for `*.relavium.yaml` and `*.agent.yaml`, for any editor
//! (VS Code through the extension, Neovim, Helix, Zed…). `lsp-types` messages over the
//! tolerant JSON-RPC transport of `relavium-jsonrpc` (decision 0021).
//!
//! [`serve`] is the main loop: one thread, messages in order, answering from the documents'
//! text and outlines (read again only when a feature needs them after an edit). Checking — a
//! whole validation, the slow part — is [`check`]'s worker thread's: the main loop hands it
//! the documents that changed once its queue of messages is empty, the worker keeps only the
//! latest text of each and drops a result a newer text overtook, so a burst of keystrokes or
//! of file-watch events costs one validation per document, and a huge document being checked
//! never stops completion or hover in another. A request cancelled (`$/cancelRequest`) before
//! the loop reached it is answered `-32800` without being computed. Documents over
//! [`features::MAX_DOCUMENT_BYTES`] get one problem saying so. [`text`] holds the documents' text and positions,
//! [`context`] reads where the cursor is from the lines alone (a file being typed rarely
//! parses), [`schema`] walks the published file schemas, [`features`] answers.

pub mod check;
pub mod context;
pub mod features;
pub mod schema;
pub mod text;

use features::{Document, Knowledge};
use lsp_types::notification::{
    DidChangeTextDocument, DidCloseTextDocument, DidOpenTextDocument, DidSaveTextDocument,
    Notification as _, PublishDiagnostics,
};
use lsp_types::request::{
    Completion, DocumentSymbolRequest, GotoDefinition, HoverRequest, Request as _,
};
use lsp_types::{
    CompletionOptions, CompletionParams, CompletionResponse, DidChangeTextDocumentParams,
    DidCloseTextDocumentParams, DidOpenTextDocumentParams, DocumentSymbolParams,
    DocumentSymbolResponse, GotoDefinitionParams, GotoDefinitionResponse, HoverParams,
    HoverProviderCapability, InitializeParams, InitializeResult, OneOf, PositionEncodingKind,
    PublishDiagnosticsParams, ServerCapabilities, ServerInfo, TextDocumentSyncCapability,
    TextDocumentSyncKind, TextDocumentSyncOptions, Uri,
};
use relavium_jsonrpc::{Connection, ErrorCode, Incoming, Peer, Request, RequestId};
use serde_json::Value;
use std::collections::{BTreeSet, HashMap, HashSet};
use text::{Encoding, Text};

/// How the server ended: the process's exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// `shutdown` then `exit` (or the input closed after `shutdown`): exit code 0.
    Clean,
    /// `exit` or the end of input without `shutdown` first: exit code 1 (as LSP asks).
    Abrupt,
}

/// The most messages taken from the queue before the documents that changed are checked.
const MAX_BURST: usize = 256;

/// The server's state between messages.
struct Server {
    peer: Peer,
    checker: check::Checker,
    knowledge: Knowledge,
    encoding: Encoding,
    documents: HashMap<Uri, Document>,
    /// Documents whose diagnostics must be published again.
    dirty: BTreeSet<String>,
    initialized: bool,
    shut_down: bool,
}

/// Serves `connection` until `exit` or the end of input, with `knowledge` (schemas, catalog).
pub fn serve(connection: Connection, knowledge: Knowledge) -> Ending {
    let Connection { peer, mut incoming } = connection;
    let mut server = Server {
        checker: check::Checker::start(peer.clone()),
        peer,
        knowledge,
        encoding: Encoding::Utf16,
        documents: HashMap::new(),
        dirty: BTreeSet::new(),
        initialized: false,
        shut_down: false,
    };
    let ending = 'serving: loop {
        let Some(first) = incoming.blocking_recv() else {
            break server.ending();
        };
        // Everything already queued (a burst of edits) before the documents are checked.
        let mut burst = vec![first];
        while burst.len() < MAX_BURST
            && let Ok(message) = incoming.try_recv()
        {
            burst.push(message);
        }
        let cancelled = cancelled_requests(&burst);
        for message in burst {
            if let Incoming::Request(request) = &message
                && cancelled.contains(&request.id)
            {
                server.peer.respond_error(
                    request.id.clone(),
                    ErrorCode::RequestCanceled as i32,
                    "cancelled before it was answered".into(),
                    None,
                );
                continue;
            }
            if let Some(ending) = server.handle(message) {
                break 'serving ending;
            }
        }
        server.check_changed();
    };
    server.peer.flush(std::time::Duration::from_secs(5));
    ending
}

/// The ids a burst's `$/cancelRequest` notifications name.
fn cancelled_requests(burst: &[Incoming]) -> HashSet<RequestId> {
    burst
        .iter()
        .filter_map(|message| match message {
            Incoming::Notification(n) if n.method == "$/cancelRequest" => {
                match n.params.get("id")? {
                    Value::String(id) => Some(RequestId::from(id.clone())),
                    Value::Number(id) => Some(RequestId::from(i32::try_from(id.as_i64()?).ok()?)),
                    _ => None,
                }
            }
            _ => None,
        })
        .collect()
}

impl Server {
    fn ending(&self) -> Ending {
        if self.shut_down {
            Ending::Clean
        } else {
            Ending::Abrupt
        }
    }

    /// Handles one message; `Some` when the server must stop.
    fn handle(&mut self, message: Incoming) -> Option<Ending> {
        match message {
            Incoming::Notification(n) if n.method == "exit" => Some(self.ending()),
            Incoming::Notification(n) => {
                if self.initialized && !self.shut_down {
                    self.notification(&n.method, n.params);
                }
                None
            }
            Incoming::Request(request) => {
                let id = request.id.clone();
                let answer = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    self.request(request)
                }))
                .unwrap_or_else(|_| {
                    Err((
                        ErrorCode::InternalError as i32,
                        "the language server failed on this request (a bug: please report it); it goes on".into(),
                    ))
                });
                self.answer(id, answer);
                None
            }
        }
    }

    fn answer(&self, id: RequestId, answer: Result<Value, (i32, String)>) {
        match answer {
            Ok(result) => self.peer.respond_ok(id, result),
            Err((code, message)) => self.peer.respond_error(id, code, message, None),
        };
    }

    fn request(&mut self, request: Request) -> Result<Value, (i32, String)> {
        let method = request.method.as_str();
        if method == "initialize" {
            if self.initialized {
                return Err((
                    ErrorCode::InvalidRequest as i32,
                    "`initialize` was already answered".into(),
                ));
            }
            let params: InitializeParams = relavium_jsonrpc::params(request.params)?;
            return Ok(to_value(self.initialize(&params)));
        }
        if !self.initialized {
            return Err((
                ErrorCode::ServerNotInitialized as i32,
                format!("`{method}` before `initialize`"),
            ));
        }
        if self.shut_down {
            return Err((
                ErrorCode::InvalidRequest as i32,
                format!("`{method}` after `shutdown`"),
            ));
        }
        let params = request.params;
        match method {
            "shutdown" => {
                self.shut_down = true;
                Ok(Value::Null)
            }
            Completion::METHOD => {
                let p: CompletionParams = relavium_jsonrpc::params(params)?;
                let position = p.text_document_position;
                let Some(document) =
                    open_document(&mut self.documents, &position.text_document.uri)
                else {
                    return Ok(Value::Null);
                };
                let offset = document.text.offset(position.position, self.encoding);
                let items = features::completion(document, offset, &self.knowledge, self.encoding);
                Ok(to_value(CompletionResponse::Array(items)))
            }
            HoverRequest::METHOD => {
                let p: HoverParams = relavium_jsonrpc::params(params)?;
                let position = p.text_document_position_params;
                let Some(document) =
                    open_document(&mut self.documents, &position.text_document.uri)
                else {
                    return Ok(Value::Null);
                };
                let offset = document.text.offset(position.position, self.encoding);
                Ok(to_value(features::hover(document, offset, &self.knowledge)))
            }
            GotoDefinition::METHOD => {
                let p: GotoDefinitionParams = relavium_jsonrpc::params(params)?;
                let position = p.text_document_position_params;
                let Some(document) =
                    open_document(&mut self.documents, &position.text_document.uri)
                else {
                    return Ok(Value::Null);
                };
                let offset = document.text.offset(position.position, self.encoding);
                let location = features::definition(document, offset, self.encoding);
                Ok(to_value(location.map(GotoDefinitionResponse::Scalar)))
            }
            DocumentSymbolRequest::METHOD => {
                let p: DocumentSymbolParams = relavium_jsonrpc::params(params)?;
                let Some(document) = open_document(&mut self.documents, &p.text_document.uri)
                else {
                    return Ok(Value::Null);
                };
                let symbols = features::symbols(document, self.encoding);
                Ok(to_value(DocumentSymbolResponse::Nested(symbols)))
            }
            other => Err((
                ErrorCode::MethodNotFound as i32,
                format!("`{other}` is not supported"),
            )),
        }
    }

    fn initialize(&mut self, params: &InitializeParams) -> InitializeResult {
        let offered = params
            .capabilities
            .general
            .as_ref()
            .and_then(|g| g.position_encodings.as_ref());
        self.encoding = match offered {
            Some(kinds) if kinds.contains(&PositionEncodingKind::UTF8) => Encoding::Utf8,
            _ => Encoding::Utf16,
        };
        self.initialized = true;
        InitializeResult {
            capabilities: ServerCapabilities {
                position_encoding: Some(match self.encoding {
                    Encoding::Utf8 => PositionEncodingKind::UTF8,
                    Encoding::Utf16 => PositionEncodingKind::UTF16,
                }),
                text_document_sync: Some(TextDocumentSyncCapability::Options(
                    TextDocumentSyncOptions {
                        open_close: Some(true),
                        change: Some(TextDocumentSyncKind::INCREMENTAL),
                        ..TextDocumentSyncOptions::default()
                    },
                )),
                completion_provider: Some(CompletionOptions {
                    trigger_characters: Some(
                        [" ", ".", "[", ",", "-", "/", "{"]
                            .map(str::to_owned)
                            .to_vec(),
                    ),
                    ..CompletionOptions::default()
                }),
                hover_provider: Some(HoverProviderCapability::Simple(true)),
                definition_provider: Some(OneOf::Left(true)),
                document_symbol_provider: Some(OneOf::Left(true)),
                ..ServerCapabilities::default()
            },
            server_info: Some(ServerInfo {
                name: "relavium".into(),
                version: Some(env!("CARGO_PKG_VERSION").into()),
            }),
        }
    }

    fn notification(&mut self, method: &str, params: Value) {
        let result =
            match method {
                DidOpenTextDocument::METHOD => relavium_jsonrpc::params(params)
                    .map(|p: DidOpenTextDocumentParams| self.open(p)),
                DidChangeTextDocument::METHOD => relavium_jsonrpc::params(params)
                    .map(|p: DidChangeTextDocumentParams| self.change(p)),
                DidCloseTextDocument::METHOD => relavium_jsonrpc::params(params)
                    .map(|p: DidCloseTextDocumentParams| self.close(p)),
                // A file on disk changed (an agent, a sub-workflow — saved here or elsewhere): the
                // workflows open here read them, so their problems may have changed.
                DidSaveTextDocument::METHOD | "workspace/didChangeWatchedFiles" => {
                    self.recheck_workflows();
                    Ok(())
                }
                _ => Ok(()), // `initialized`, `$/…` and the rest: nothing to do
            };
        if let Err((_, why)) = result {
            tracing::warn!(method, "a notification was ignored: {why}");
        }
    }

    /// Every open workflow is validated again (with the files beside it as they are now).
    fn recheck_workflows(&mut self) {
        for document in self.documents.values().filter(|d| !d.is_agent()) {
            self.dirty.insert(document.uri.as_str().to_owned());
        }
    }

    fn open(&mut self, p: DidOpenTextDocumentParams) {
        let item = p.text_document;
        let Some(path) = features::uri_path(&item.uri) else {
            tracing::info!(uri = item.uri.as_str(), "not a file: no diagnostics");
            return;
        };
        let document = Document::new(item.uri.clone(), path, item.version, Text::new(item.text));
        self.dirty.insert(item.uri.as_str().to_owned());
        self.documents.insert(item.uri, document);
    }

    fn change(&mut self, p: DidChangeTextDocumentParams) {
        let Some(document) = self.documents.get_mut(&p.text_document.uri) else {
            return;
        };
        for change in p.content_changes {
            document.text = document
                .text
                .edited(change.range, &change.text, self.encoding);
        }
        document.version = p.text_document.version;
        document.outline_stale = true;
        self.dirty.insert(p.text_document.uri.as_str().to_owned());
    }

    fn close(&mut self, p: DidCloseTextDocumentParams) {
        if self.documents.remove(&p.text_document.uri).is_some() {
            self.dirty.remove(p.text_document.uri.as_str());
            self.checker.forget(p.text_document.uri.as_str());
            self.peer.notify(
                PublishDiagnostics::METHOD,
                PublishDiagnosticsParams::new(p.text_document.uri, Vec::new(), None),
            );
        }
    }

    /// Hands the documents that changed to the checker (a document too large to read gets
    /// its one problem here).
    fn check_changed(&mut self) {
        for uri in std::mem::take(&mut self.dirty) {
            let Some(document) = self.documents.values().find(|d| d.uri.as_str() == uri) else {
                continue;
            };
            if document.too_large() {
                let size = document.text.as_str().len();
                self.checker.forget(&uri);
                self.peer.notify(
                    PublishDiagnostics::METHOD,
                    PublishDiagnosticsParams::new(
                        document.uri.clone(),
                        vec![features::too_large(size)],
                        Some(document.version),
                    ),
                );
                continue;
            }
            self.checker.check(document, self.encoding);
        }
    }
}

/// An open document, outlined as its text is now; `None` when it is not open or too large to
/// read.
#[allow(clippy::mutable_key_type)] // `Uri` caches its parse inside; its hash never changes
fn open_document<'d>(documents: &'d mut HashMap<Uri, Document>, uri: &Uri) -> Option<&'d Document> {
    let document = documents.get_mut(uri)?;
    if document.too_large() {
        return None;
    }
    document.ensure_outline();
    Some(document)
}

fn to_value(value: impl serde::Serialize) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}
