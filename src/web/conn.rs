//! The connections of `autodev web`: the accept loop with its cap on connections, the time a
//! client may take to send its headers, and the time it may leave the server's writes waiting
//! (a client that stops reading a stream gives its place and its buffers back).

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// The most connections served at once; one more is closed as soon as it is accepted, so a
/// crowd of connections can never take every file descriptor the server has.
const MAX_CONNECTIONS: usize = 256;
/// How long a connection may take to send a request's headers (or sit idle between requests):
/// a slow or silent client gives its place back.
const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a write to a client may wait for it to read. A page that follows a stream reads it
/// as it comes; one that has read nothing for this long while the server had bytes for it is
/// gone or hostile, and is dropped with what was waiting for it.
const WRITE_STALL: Duration = Duration::from_secs(15);
/// The most a connection buffers on its way in or out. A stream's events wait in its file,
/// not in memory, until the client takes them.
const BUFFER: usize = 64 * 1024;

/// Serves `app` on the connections `listener` accepts until `stop`, at most
/// [`MAX_CONNECTIONS`] at once, each under [`HEADER_TIMEOUT`] and [`WRITE_STALL`].
pub(super) async fn accept(
    listener: tokio::net::TcpListener,
    app: Router,
    stop: impl std::future::Future<Output = ()>,
) -> io::Result<()> {
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    tokio::pin!(stop);
    loop {
        let stream = tokio::select! {
            () = &mut stop => return Ok(()),
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                // Out of descriptors, a reset before accept: wait a moment, go on.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            drop(stream);
            continue;
        };
        let service = hyper_util::service::TowerToHyperService::new(app.clone());
        tokio::spawn(async move {
            let io = hyper_util::rt::TokioIo::new(Guarded::new(stream, WRITE_STALL));
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .max_buf_size(BUFFER)
                .serve_connection(io, service)
                .await;
            drop(slot);
        });
    }
}

/// A connection whose writes fail once they have waited `limit` for the client to read.
struct Guarded {
    io: TcpStream,
    limit: Duration,
    /// Set while a write waits; cleared by any progress.
    stalled: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl Guarded {
    fn new(io: TcpStream, limit: Duration) -> Guarded {
        Guarded {
            io,
            limit,
            stalled: None,
        }
    }

    /// Passes a write's progress through; a write that is still waiting after `limit` is an
    /// error, which ends the connection.
    fn watch<T>(
        &mut self,
        cx: &mut Context<'_>,
        polled: Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        if polled.is_ready() {
            self.stalled = None;
            return polled;
        }
        let limit = self.limit;
        let timer = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client stopped reading",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncRead for Guarded {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl AsyncWrite for Guarded {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.io).poll_write(cx, buf);
        this.watch(cx, polled)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        this.watch(cx, polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.io).poll_flush(cx);
        this.watch(cx, polled)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    #[tokio::test]
    async fn a_peer_that_never_reads_fails_the_write_after_the_limit_and_one_that_reads_does_not() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let silent = TcpStream::connect(address).await.unwrap();
        let (served, _) = listener.accept().await.unwrap();
        let mut guarded = Guarded::new(served, Duration::from_millis(300));
        let chunk = vec![b'x'; 64 * 1024];
        let started = std::time::Instant::now();
        let mut failed = None;
        // The socket's buffers fill (a few megabytes at most), then the write waits and fails.
        for _ in 0..10_000 {
            if let Err(e) = guarded.write_all(&chunk).await {
                failed = Some(e);
                break;
            }
        }
        let failed = failed.expect("the write failed");
        assert_eq!(failed.kind(), io::ErrorKind::TimedOut);
        assert!(started.elapsed() < Duration::from_secs(10));
        drop(silent);

        // A reader that keeps up never trips it, however much is written.
        let mut reader = TcpStream::connect(address).await.unwrap();
        let (served, _) = listener.accept().await.unwrap();
        let mut guarded = Guarded::new(served, Duration::from_millis(300));
        let drain = tokio::spawn(async move {
            let mut sink = tokio::io::sink();
            tokio::io::copy(&mut reader, &mut sink).await
        });
        for _ in 0..200 {
            guarded.write_all(&chunk).await.expect("a reader keeps up");
        }
        drop(guarded);
        assert_eq!(drain.await.unwrap().unwrap(), 200 * 64 * 1024);
    }
}
