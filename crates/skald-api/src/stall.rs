//! A socket wrapper that fails a read or write that has made no progress for too long.
//!
//! The timer starts when an operation first returns `Pending` and is cleared as soon as
//! it makes progress, so a slow-but-moving transfer is never cut, while a peer that
//! stops reading (writes stall) or goes silent (reads stall) is dropped with
//! `TimedOut` instead of holding the connection and its buffers forever.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

pub struct StallTimeout<S> {
    inner: S,
    read_limit: Duration,
    write_limit: Duration,
    read_timer: Option<Pin<Box<Sleep>>>,
    write_timer: Option<Pin<Box<Sleep>>>,
}

impl<S> StallTimeout<S> {
    pub fn new(inner: S, read_limit: Duration, write_limit: Duration) -> Self {
        StallTimeout { inner, read_limit, write_limit, read_timer: None, write_timer: None }
    }
}

/// Polls the stall timer of a pending operation, starting it if needed.
fn stalled(timer: &mut Option<Pin<Box<Sleep>>>, limit: Duration, cx: &mut Context<'_>) -> bool {
    if limit.is_zero() {
        return false;
    }
    let sleep = timer.get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
    sleep.as_mut().poll(cx).is_ready()
}

fn timed_out(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, format!("{what} made no progress within the server's timeout"))
}

use std::future::Future;

/// Passes a ready result through (clearing the timer); a pending one fails once the
/// timer of its direction has run out.
fn watch<T>(
    result: Poll<io::Result<T>>,
    timer: &mut Option<Pin<Box<Sleep>>>,
    limit: Duration,
    what: &str,
    cx: &mut Context<'_>,
) -> Poll<io::Result<T>> {
    match result {
        Poll::Ready(result) => {
            *timer = None;
            Poll::Ready(result)
        }
        Poll::Pending if stalled(timer, limit, cx) => {
            *timer = None;
            Poll::Ready(Err(timed_out(what)))
        }
        Poll::Pending => Poll::Pending,
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for StallTimeout<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let result = Pin::new(&mut this.inner).poll_read(cx, buf);
        watch(result, &mut this.read_timer, this.read_limit, "read", cx)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for StallTimeout<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let result = Pin::new(&mut this.inner).poll_write(cx, data);
        watch(result, &mut this.write_timer, this.write_limit, "write", cx)
    }

    fn poll_write_vectored(mut self: Pin<&mut Self>, cx: &mut Context<'_>, bufs: &[io::IoSlice<'_>]) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let result = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        watch(result, &mut this.write_timer, this.write_limit, "write", cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let result = Pin::new(&mut this.inner).poll_flush(cx);
        watch(result, &mut this.write_timer, this.write_limit, "write", cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test(start_paused = true)]
    async fn a_silent_peer_times_out_a_read() {
        let (client, _server) = tokio::io::duplex(64);
        let mut wrapped = StallTimeout::new(client, Duration::from_secs(5), Duration::from_secs(5));
        let mut buf = [0u8; 8];
        let error = wrapped.read(&mut buf).await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
    }

    #[tokio::test(start_paused = true)]
    async fn a_peer_that_never_reads_times_out_a_write() {
        let (client, _server) = tokio::io::duplex(64);
        let mut wrapped = StallTimeout::new(client, Duration::from_secs(5), Duration::from_secs(5));
        let error = wrapped.write_all(&[0u8; 1024]).await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
    }

    #[tokio::test(start_paused = true)]
    async fn progress_resets_the_timer() {
        let (client, mut server) = tokio::io::duplex(64);
        let mut wrapped = StallTimeout::new(client, Duration::from_secs(5), Duration::from_secs(5));
        let writer = tokio::spawn(async move {
            for _ in 0..4 {
                tokio::time::sleep(Duration::from_secs(3)).await;
                server.write_all(b"x").await.unwrap();
            }
        });
        let mut buf = [0u8; 4];
        wrapped.read_exact(&mut buf).await.expect("reads that each wait 3 s of a 5 s limit succeed");
        writer.await.unwrap();
    }
}
