//! Checking documents off the main loop: one worker thread validates the documents the loop
//! hands it and publishes their diagnostics.
//!
//! The worker takes everything queued before it starts, keeps only the latest text of each
//! document (a burst of edits or of file-watch events costs one validation per document), and
//! drops a result whose document was handed over again or closed meanwhile — so what a client
//! is shown last is always its latest text's. The main loop never waits for it: completion
//! and hover in one document go on while another, however big, is checked.

use crate::features::{self, Document};
use crate::text::Encoding;
use lsp_types::PublishDiagnosticsParams;
use lsp_types::notification::{Notification as _, PublishDiagnostics};
use relavium_jsonrpc::Peer;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, mpsc};

/// One document to check, as its text was when handed over.
struct Job {
    document: Document,
    encoding: Encoding,
    /// Which hand-over of this document it is (the latest is the one that counts).
    generation: u64,
}

/// The main loop's side of the worker.
#[derive(Debug)]
pub struct Checker {
    jobs: mpsc::Sender<Job>,
    /// The latest generation handed over for each open document (by URI).
    latest: Arc<Mutex<HashMap<String, u64>>>,
    next: u64,
}

impl Checker {
    /// Starts the worker, which publishes on `peer`; it ends when the checker is dropped.
    pub fn start(peer: Peer) -> Checker {
        let (jobs, queue) = mpsc::channel();
        let latest = Arc::new(Mutex::new(HashMap::new()));
        let shared = Arc::clone(&latest);
        let started = std::thread::Builder::new()
            .name("lsp-checker".into())
            .spawn(move || work(&queue, &shared, &peer));
        if let Err(e) = started {
            tracing::error!("failed to start the checker thread: {e}");
        }
        Checker {
            jobs,
            latest,
            next: 1,
        }
    }

    /// Checks `document` as it is now (a copy), superseding any check of it not yet published.
    pub fn check(&mut self, document: &Document, encoding: Encoding) {
        let generation = self.next;
        self.next += 1;
        lock(&self.latest).insert(document.uri.as_str().to_owned(), generation);
        let mut document = document.clone();
        document.outline = None; // the check reads the text, not the outline
        let _ = self.jobs.send(Job {
            document,
            encoding,
            generation,
        });
    }

    /// The document is closed (or no longer checked): a check still under way is not published.
    pub fn forget(&mut self, uri: &str) {
        lock(&self.latest).remove(uri);
    }
}

fn work(queue: &mpsc::Receiver<Job>, latest: &Mutex<HashMap<String, u64>>, peer: &Peer) {
    while let Ok(first) = queue.recv() {
        // The latest hand-over of each document, in the order they first came.
        let mut order: Vec<String> = Vec::new();
        let mut pending: HashMap<String, Job> = HashMap::new();
        for job in std::iter::once(first).chain(queue.try_iter()) {
            let uri = job.document.uri.as_str().to_owned();
            if pending.insert(uri.clone(), job).is_none() {
                order.push(uri);
            }
        }
        for uri in order {
            let Some(job) = pending.remove(&uri) else {
                continue;
            };
            let current = |generation| lock(latest).get(&uri) == Some(&generation);
            if !current(job.generation) {
                continue; // overtaken before it started
            }
            let checked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                features::diagnostics(&job.document, job.encoding)
            }));
            let Ok(diagnostics) = checked else {
                tracing::error!(uri, "checking a document failed (a bug: please report it)");
                continue;
            };
            if current(job.generation) {
                peer.notify(
                    PublishDiagnostics::METHOD,
                    PublishDiagnosticsParams::new(
                        job.document.uri.clone(),
                        diagnostics,
                        Some(job.document.version),
                    ),
                );
            }
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}
