//! `relavium lsp [--stdio]`: the language server of `relavium-lsp` on stdin/stdout, for any
//! editor. Prices come from the embedded catalog with the user's (`config.yaml`); a broken
//! configuration only loses those. Logs go to stderr.

use super::Context;
use crate::exit;
use crate::failure::Failure;
use relavium_actors::clock::SystemClock;
use relavium_host::Host;
use relavium_jsonrpc::Connection;
use relavium_llm::pricing::Catalog;
use relavium_lsp::Ending;
use relavium_lsp::features::Knowledge;
use relavium_runtime::Clock;

pub(crate) fn lsp(context: &Context) -> Result<u8, Failure> {
    let catalog = match Host::open(context.home()) {
        Ok(host) => host.catalog(),
        Err(e) => {
            tracing::warn!("prices from the embedded catalog only: {e}");
            Catalog::embedded()
        }
    };
    let knowledge = Knowledge::new(catalog, SystemClock.now().day());
    match relavium_lsp::serve(Connection::stdio(), knowledge) {
        Ending::Clean => Ok(exit::OK),
        // LSP: `exit` (or the end of input) without `shutdown` first exits with 1.
        Ending::Abrupt => Ok(exit::RUN_FAILED),
    }
}
