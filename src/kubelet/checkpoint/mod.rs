//! The kubelet's local checkpoint of the pods bound to this node, so a board restarts them while the server is unreachable.
