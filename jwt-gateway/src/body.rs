//! The client's request body, bounded in size and in time.
//!
//! Every request body the gateway reads or forwards goes through
//! [`ClientBody`]: a client that sends more than the limit gets 413, one that
//! trickles its body past the deadline gets 408, and a malformed body (bad
//! chunked encoding, a connection closed mid-body) gets 400. The errors are
//! [`ClientBodyError`]s, so that the proxy can tell a client's fault from an
//! upstream's, wherever in an error chain they end up.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::StatusCode;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use tokio::time::{Instant, Sleep};

/// What was wrong with a client's body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientBodyError {
    /// Larger than the limit.
    TooLarge,
    /// Not complete before the deadline.
    Timeout,
    /// Not valid HTTP framing, or cut short.
    Malformed,
}

impl ClientBodyError {
    /// The status, error code and description the client gets.
    pub fn answer(self) -> (StatusCode, &'static str, &'static str) {
        match self {
            Self::TooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "The request body is too large",
            ),
            Self::Timeout => (
                StatusCode::REQUEST_TIMEOUT,
                "request_timeout",
                "The request body was not received in time",
            ),
            Self::Malformed => (
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "The request body is malformed",
            ),
        }
    }

    /// The label of the client-error counter.
    pub fn kind(self) -> &'static str {
        match self {
            Self::TooLarge => "body_too_large",
            Self::Timeout => "body_timeout",
            Self::Malformed => "body_malformed",
        }
    }
}

impl fmt::Display for ClientBodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.answer().2)
    }
}

impl std::error::Error for ClientBodyError {}

/// A request body with a size limit and a deadline for the whole body.
pub struct ClientBody {
    inner: Incoming,
    remaining: u64,
    // Boxed so that the body is `Unpin`, as hyper's client wants.
    deadline: Pin<Box<Sleep>>,
    done: bool,
}

impl fmt::Debug for ClientBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBody")
            .field("remaining", &self.remaining)
            .finish_non_exhaustive()
    }
}

impl ClientBody {
    /// `inner`, limited to `limit` bytes, which must all arrive within
    /// `timeout` from now.
    pub fn new(inner: Incoming, limit: u64, timeout: Duration) -> Self {
        Self {
            inner,
            remaining: limit,
            deadline: Box::pin(tokio::time::sleep_until(Instant::now() + timeout)),
            done: false,
        }
    }
}

impl Body for ClientBody {
    type Data = Bytes;
    type Error = ClientBodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, ClientBodyError>>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        if this.deadline.is_elapsed() {
            this.done = true;
            return Poll::Ready(Some(Err(ClientBodyError::Timeout)));
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(None) => {
                this.done = true;
                Poll::Ready(None)
            }
            Poll::Ready(Some(Err(e))) => {
                this.done = true;
                tracing::debug!(error = %e, "malformed request body");
                Poll::Ready(Some(Err(ClientBodyError::Malformed)))
            }
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    let len = data.len() as u64;
                    if len > this.remaining {
                        this.done = true;
                        return Poll::Ready(Some(Err(ClientBodyError::TooLarge)));
                    }
                    this.remaining -= len;
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Pending => {
                if this.deadline.as_mut().poll(cx).is_ready() {
                    this.done = true;
                    return Poll::Ready(Some(Err(ClientBodyError::Timeout)));
                }
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The [`ClientBodyError`] somewhere in `e`'s source chain, if any.
pub fn client_fault(e: &(dyn std::error::Error + 'static)) -> Option<ClientBodyError> {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if let Some(fault) = err.downcast_ref::<ClientBodyError>() {
            return Some(*fault);
        }
        cur = err.source();
    }
    None
}
