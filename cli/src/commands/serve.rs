//! `relavium serve --stdio`: the JSON-RPC protocol of `relavium-serve` on stdin/stdout (see
//! `docs/serve.md`). Keys come from the client when it can answer for them, then the keychain
//! and the environment; logs go to stderr, and nothing but the protocol to stdout.

use super::Context;
use crate::exit;
use crate::failure::Failure;
use relavium_host::Host;
use relavium_jsonrpc::Connection;
use relavium_serve::Server;

pub(crate) async fn serve(context: &Context) -> Result<u8, Failure> {
    let connection = Connection::stdio();
    let server = Server::new(connection.peer.clone(), context.offline);
    // A broken configuration does not stop the server: every method that needs the engine
    // answers with why, so the client can show it.
    let host = Host::open(context.home()).map(|host| host.with_secrets(server.secrets()));
    server.run(connection.incoming, host).await;
    Ok(exit::OK)
}
