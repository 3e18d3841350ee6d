//! The WebSocket remotecommand protocol `kubectl exec` speaks (`v4.channel.k8s.io` and
//! `v5.channel.k8s.io`, upstream's `k8s.io/apimachinery/pkg/util/remotecommand` and
//! `wsstream`): every binary message starts with a channel byte — 0 stdin, 1 stdout,
//! 2 stderr, 3 error (a final `Status`), 4 terminal resize — and v5 adds 255, "close this
//! channel", which the client sends when its stdin ends.

use bytes::{BufMut, Bytes, BytesMut};
use serde_json::{json, Value};

use crate::pod_streams::TerminalSize;

/// The preferred subprotocol: v4 plus the stdin close signal.
pub const V5: &str = "v5.channel.k8s.io";
/// The previous subprotocol (no way to close stdin but closing the connection).
pub const V4: &str = "v4.channel.k8s.io";

/// Channel of the process's stdin (client to server).
pub const STDIN: u8 = 0;
/// Channel of the process's stdout.
pub const STDOUT: u8 = 1;
/// Channel of the process's stderr.
pub const STDERR: u8 = 2;
/// Channel of the final `Status`.
pub const ERROR: u8 = 3;
/// Channel of terminal size changes (client to server).
pub const RESIZE: u8 = 4;
/// v5: the client closes the channel named by the next byte.
pub const CLOSE: u8 = 255;

/// The subprotocol to answer with, from a `Sec-WebSocket-Protocol` request header; v5 wins
/// over v4 whatever the client's order.
pub fn negotiate(offered: &str) -> Option<&'static str> {
    let offered: Vec<&str> = offered.split(',').map(str::trim).collect();
    [V5, V4].into_iter().find(|p| offered.contains(p))
}

/// One binary message on `channel`.
pub fn frame(channel: u8, data: &[u8]) -> Bytes {
    let mut b = BytesMut::with_capacity(data.len() + 1);
    b.put_u8(channel);
    b.put_slice(data);
    b.freeze()
}

/// What one message from the client means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientMessage {
    /// Bytes for the process's stdin.
    Stdin(Bytes),
    /// The client's stdin has ended (v5 only).
    CloseStdin,
    /// The client's terminal has this size (JSON `{"Width":..,"Height":..}`, upstream's
    /// `TerminalSize`).
    Resize(TerminalSize),
    /// Anything else: closes of other channels, empty messages, unreadable sizes.
    Ignored,
}

/// Upstream's `remotecommand.TerminalSize` as JSON.
#[derive(serde::Deserialize)]
struct SizeMessage {
    #[serde(rename = "Width")]
    width: u16,
    #[serde(rename = "Height")]
    height: u16,
}

/// Decodes a binary message from the client under `protocol`.
pub fn client_message(protocol: &str, data: &Bytes) -> ClientMessage {
    match data.first() {
        Some(&STDIN) => ClientMessage::Stdin(data.slice(1..)),
        Some(&CLOSE) if protocol == V5 && data.get(1) == Some(&STDIN) => ClientMessage::CloseStdin,
        Some(&RESIZE) => match serde_json::from_slice::<SizeMessage>(&data[1..]) {
            Ok(s) => ClientMessage::Resize(TerminalSize {
                width: s.width,
                height: s.height,
            }),
            Err(_) => ClientMessage::Ignored,
        },
        _ => ClientMessage::Ignored,
    }
}

/// The `Status` written on the error channel when the process ends, as upstream's
/// remotecommand server writes it: Success, or Failure with reason `NonZeroExitCode` and an
/// `ExitCode` cause carrying the code, which kubectl turns into its own exit code.
pub fn exit_status(code: i32, command: &[String]) -> Value {
    if code == 0 {
        return json!({"metadata": {}, "status": "Success"});
    }
    json!({
        "metadata": {},
        "status": "Failure",
        "message": format!(
            "command terminated with non-zero exit code: error executing command [{}], exit code {code}",
            command.join(" ")
        ),
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]},
    })
}

/// The `Status` written on the error channel when the process could not be run to its end.
pub fn failure_status(message: &str) -> Value {
    json!({"metadata": {}, "status": "Failure", "message": message})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v5_is_preferred_and_unknown_protocols_refused() {
        assert_eq!(negotiate("v4.channel.k8s.io, v5.channel.k8s.io"), Some(V5));
        assert_eq!(negotiate("v4.channel.k8s.io"), Some(V4));
        assert_eq!(negotiate("base64.channel.k8s.io"), None);
        assert_eq!(negotiate(""), None);
    }

    #[test]
    fn frames_carry_the_channel_first() {
        assert_eq!(&frame(STDOUT, b"hi")[..], b"\x01hi");
        assert_eq!(&frame(ERROR, b"")[..], b"\x03");
    }

    #[test]
    fn client_messages() {
        let stdin = Bytes::from_static(b"\x00abc");
        assert_eq!(
            client_message(V5, &stdin),
            ClientMessage::Stdin(Bytes::from_static(b"abc"))
        );
        let close = Bytes::from_static(&[CLOSE, STDIN]);
        assert_eq!(client_message(V5, &close), ClientMessage::CloseStdin);
        // v4 has no close channel
        assert_eq!(client_message(V4, &close), ClientMessage::Ignored);
        let resize = Bytes::from_static(b"\x04{\"Width\":80,\"Height\":24}");
        let size = TerminalSize {
            width: 80,
            height: 24,
        };
        assert_eq!(client_message(V5, &resize), ClientMessage::Resize(size));
        assert_eq!(client_message(V4, &resize), ClientMessage::Resize(size));
        let junk = Bytes::from_static(b"\x04{\"Width\":-1}");
        assert_eq!(client_message(V5, &junk), ClientMessage::Ignored);
        assert_eq!(client_message(V5, &Bytes::new()), ClientMessage::Ignored);
    }

    #[test]
    fn exit_codes_become_statuses_kubectl_understands() {
        let ok = exit_status(0, &["true".into()]);
        assert_eq!(ok["status"], "Success");
        let failed = exit_status(3, &["sh".into(), "-c".into(), "exit 3".into()]);
        assert_eq!(failed["status"], "Failure");
        assert_eq!(failed["reason"], "NonZeroExitCode");
        assert_eq!(failed["details"]["causes"][0]["reason"], "ExitCode");
        assert_eq!(failed["details"]["causes"][0]["message"], "3");
        assert_eq!(
            failed["message"],
            "command terminated with non-zero exit code: error executing command [sh -c exit 3], exit code 3"
        );
    }
}
