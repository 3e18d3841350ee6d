//! Static pods: pods defined by manifest files on the board itself, run with or without a server, shown as mirror pods when one is reachable.
