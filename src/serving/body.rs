//! Request and response bodies: size-limited reads, JSON responses and a channel-fed body for
//! watch streams.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Body, Frame, Incoming};
use serde_json::Value;
use tokio::sync::mpsc;

use crate::client::status::ApiError;

/// Largest request body accepted, as upstream's `MaxRequestBodyBytes` (3 MiB).
pub const MAX_BODY: usize = 3 << 20;

/// The response body type: a whole buffer or a stream of chunks.
pub type ResponseBody = http_body_util::combinators::BoxBody<Bytes, Infallible>;

/// How long the connection of a refused body stays open, the rest of the body unread, before
/// it is dropped: an HTTP/1.1 client still sending would otherwise get a TCP reset before it
/// has read its 413 (Go's server waits 500 ms, `rstAvoidanceDelay`, for the same reason).
pub const REFUSED_BODY_LINGER: Duration = Duration::from_secs(1);

/// Reads a request body of at most [`MAX_BODY`] bytes. A body whose declared length
/// (`Content-Length`, on HTTP/1.1 and HTTP/2 alike) is over the limit is refused before any
/// of it is read, so an HTTP/1.1 client sending `Expect: 100-continue` gets its 413 instead of
/// the `100 Continue` (hyper sends that only once the body is polled); a body without a length
/// is read up to the limit.
pub async fn read(mut body: Incoming) -> Result<Bytes, ApiError> {
    if too_long(&body) {
        linger(body);
        return Err(ApiError::too_large(MAX_BODY));
    }
    match Limited::new(&mut body, MAX_BODY).collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            linger(body);
            Err(ApiError::too_large(MAX_BODY))
        }
        Err(e) => Err(ApiError::bad_request(format!(
            "reading the request body failed: {e}"
        ))),
    }
}

/// Keeps a refused body, unread, for [`REFUSED_BODY_LINGER`] while the answer is sent.
fn linger(body: Incoming) {
    tokio::spawn(async move {
        tokio::time::sleep(REFUSED_BODY_LINGER).await;
        drop(body);
    });
}

/// Whether `body` declares more than [`MAX_BODY`] bytes.
fn too_long(body: &impl Body) -> bool {
    usize::try_from(body.size_hint().lower()).map_or(true, |declared| declared > MAX_BODY)
}

/// A complete response with a body.
pub fn full(
    status: StatusCode,
    content_type: &str,
    bytes: impl Into<Bytes>,
) -> Response<ResponseBody> {
    streaming(status, content_type, Full::new(bytes.into()).boxed())
}

/// A response with any body (e.g. a watch stream).
pub fn streaming(
    status: StatusCode,
    content_type: &str,
    body: ResponseBody,
) -> Response<ResponseBody> {
    let mut r = Response::new(body);
    *r.status_mut() = status;
    if let Ok(v) = HeaderValue::from_str(content_type) {
        r.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    r
}

/// A JSON response.
pub fn json(status: StatusCode, value: &Value) -> Response<ResponseBody> {
    full(
        status,
        "application/json",
        serde_json::to_vec(value).unwrap_or_default(),
    )
}

/// A `Status` error response.
pub fn error(e: &ApiError) -> Response<ResponseBody> {
    let status = StatusCode::from_u16(e.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = json(status, &e.to_status());
    if let Some(seconds) = e.details.retry_after_seconds {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

/// A streaming body fed through a channel; the stream ends when the sender is dropped.
pub struct ChannelBody {
    rx: mpsc::Receiver<Bytes>,
}

impl ChannelBody {
    /// A body and the sender that feeds it; `depth` bounds buffered chunks.
    pub fn channel(depth: usize) -> (mpsc::Sender<Bytes>, ResponseBody) {
        let (tx, rx) = mpsc::channel(depth);
        (tx, ChannelBody { rx }.boxed())
    }
}

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.rx.poll_recv(cx).map(|c| c.map(|b| Ok(Frame::data(b))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_declared_length_over_the_limit_is_too_long_before_reading() {
        assert!(!too_long(&Full::new(Bytes::from(vec![0u8; MAX_BODY]))));
        assert!(too_long(&Full::new(Bytes::from(vec![0u8; MAX_BODY + 1]))));
        // a stream of unknown length is read up to the limit instead
        let (_tx, unknown) = ChannelBody::channel(1);
        assert!(!too_long(&unknown));
    }
}
