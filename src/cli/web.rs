//! `autodev web [--host 127.0.0.1] [--port 8080] [--token T]`: this user's projects on a local
//! page and a JSON API (see `web` and `docs/web.md`).

use std::net::{IpAddr, SocketAddr};

use super::Context;
use crate::error::{Error, Exit, Result};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The address to listen on; anything but loopback needs an access token
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,
    /// The port (0: any free one)
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// The access token every request must carry (generated when --host is not loopback)
    #[arg(long)]
    token: Option<String>,
}

/// 128 bits from the kernel's random source, in hex.
fn generated_token() -> std::io::Result<String> {
    use std::io::Read;
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

pub fn run(context: &Context, args: Args) -> Result<Exit> {
    // A signal at any moment stops the server cleanly (exit 0), never half-way.
    crate::exec::trap_signals().map_err(|e| Error::io("watch", "signals", e))?;
    let token = match (args.token, args.host.is_loopback()) {
        (Some(t), _) => Some(t),
        (None, true) => None,
        (None, false) => {
            Some(generated_token().map_err(|e| Error::io("read", "/dev/urandom for a token", e))?)
        }
    };
    let addr = SocketAddr::new(args.host, args.port);
    let runtime = crate::exec::runtime().map_err(|e| Error::io("start", "the async runtime", e))?;
    let shown = token.clone();
    runtime
        .block_on(crate::web::serve(addr, token, |bound| {
            let query = shown
                .as_deref()
                .map(|t| format!("/?token={t}"))
                .unwrap_or_default();
            let _ = context.print(&format!(
                "autodev web: http://{bound}{query}\n  projects come from {}\n  stop with Ctrl-C\n",
                crate::web::registry_file().map_or("-".to_string(), |p| p.display().to_string())
            ));
        }))
        .map_err(|e| Error::Setup {
            message: format!("cannot serve on {addr}: {e}"),
            hint: "choose another --port, or stop what uses this one".into(),
        })?;
    Ok(Exit::Success)
}
