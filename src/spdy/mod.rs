//! SPDY/3.1, the multiplexing protocol Kubernetes' streaming subresources still speak
//! between kubectl and the API server (`k8s.io/apimachinery/pkg/util/httpstream/spdy` over
//! moby/spdystream): many bidirectional streams on one upgraded connection, each opened with
//! a compressed header block. `kubectl port-forward` runs one session per invocation, either
//! straight on an HTTP/1.1 connection upgraded to `SPDY/3.1` or tunnelled in the binary
//! messages of a WebSocket. Framing in [`frame`], header blocks in [`headers`], the server's
//! protocol state in [`session`]; knows nothing of Kubernetes.

pub mod frame;
pub mod headers;
pub mod session;
