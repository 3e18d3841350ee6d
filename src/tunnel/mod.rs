//! Reverse tunnels: a board with no inbound reachability keeps one connection open to the API server, over which the server reaches its kubelet.
