//! `autodev web [--host 127.0.0.1] [--port 8080] [--token T | --no-token]`: this user's projects
//! on a local page and a JSON API (see `web` and `docs/web.md`).

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
    /// The access token every request must carry (default: a new one, printed in the address)
    #[arg(long, conflicts_with = "no_token")]
    token: Option<String>,
    /// Serve without a token (loopback only): any local user may then use the dashboard
    #[arg(long)]
    no_token: bool,
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
    // A token on every bind, loopback included: other local users reach loopback too.
    let token = match (args.token, args.no_token) {
        (Some(t), _) if t.trim().is_empty() => {
            return Err(Error::Setup {
                message: "--token is empty".into(),
                hint: "give a token, or leave --token out and use the one generated".into(),
            });
        }
        (Some(t), _) => Some(t),
        (None, true) if !args.host.is_loopback() => {
            return Err(Error::Setup {
                message: format!(
                    "--no-token with --host {}: a server reachable from other machines needs a token",
                    args.host
                ),
                hint: "leave --no-token out, or serve on loopback (127.0.0.1)".into(),
            });
        }
        (None, true) => {
            context.ui.warn(
                "serving without a token: every local user of this machine can list your \
                 projects and start or stop their runs",
            );
            None
        }
        (None, false) => {
            Some(generated_token().map_err(|e| Error::io("read", "/dev/urandom for a token", e))?)
        }
    };
    let addr = SocketAddr::new(args.host, args.port);
    let runtime = crate::web::runtime().map_err(|e| Error::io("start", "the async runtime", e))?;
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
